"""Common questions (S1): the FAQ page, its search as you type (and without JavaScript), and its links."""
from __future__ import annotations

import re

from webapp.web.help import faq

from .helpers import login, make_agency, make_support

# Pages that have not landed on this branch yet: an answer about them links there once they exist.
UPCOMING = {"pushdown.index", "api_tokens.index", "commission.index"}


def entries(html: str) -> list[str]:
    return re.findall(r'data-faq="([^"]+)"', html)


def agency_client(client):
    make_agency(email="nora@agency.test")
    login(client, "nora@agency.test")
    return client


def test_the_faq_lists_every_question_under_its_topic(client, db):
    agency_client(client)
    response = client.get("/help")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert 15 <= len(faq.FAQ) <= 30
    assert entries(html) == [e.slug for _, group in faq.by_topic(faq.FAQ) for e in group]
    assert sorted(entries(html)) == sorted(e.slug for e in faq.FAQ)
    for title in ("Resold accounts", "Plans and trials", "Billing and credits", "White label",
                  "Logins and passwords", "Support"):
        assert f">{title}</h2>" in html
    # The side menu now links here and to Contact support.
    assert 'href="/help"' in html and 'href="/contact"' in html


def test_search_without_javascript_is_a_get_form_with_q_in_the_url(client, db):
    agency_client(client)
    page = client.get("/help").get_data(as_text=True)
    assert re.search(r'<form id="faq-search"[^>]*method="get" action="/help"', page)
    assert 'name="q"' in page
    response = client.get("/help?q=prepaid")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html  # a whole page, as a link or a reload gets
    found = entries(html)
    assert "prepaid" in found and "how-billed" in found
    assert "custom-domain" not in found and "login-as" not in found
    assert 'value="prepaid"' in html  # the box keeps what was searched


def test_htmx_search_answers_the_fragment_only_and_varies_on_hx_request(client, db):
    agency_client(client)
    response = client.get("/help?q=prepaid", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="faq-search"' not in html
    assert "prepaid" in entries(html)
    assert "HX-Request" in response.headers["Vary"]
    # A history restore gets the whole page, never a bare fragment.
    restore = client.get("/help?q=prepaid", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_search_is_case_insensitive_over_question_and_answer_and_needs_every_word(client, db):
    agency_client(client)
    lower = entries(client.get("/help?q=cname").get_data(as_text=True))
    upper = entries(client.get("/help?q=CNAME").get_data(as_text=True))
    assert lower == upper == ["custom-domain"]  # "CNAME" is only in that answer
    # Words of a question and of an answer both count; every word must be there.
    assert entries(client.get("/help?q=annual+plans").get_data(as_text=True))[0] == "annual"
    assert "annual" in entries(client.get("/help?q=Resell").get_data(as_text=True))  # from the question
    assert entries(client.get("/help?q=authorization+released").get_data(as_text=True)) == ["prepaid"]
    # Accents do not matter.
    assert entries(client.get("/help?q=pr%C3%A9paid").get_data(as_text=True)) == \
        entries(client.get("/help?q=prepaid").get_data(as_text=True))


def test_matches_are_marked_and_a_search_for_nothing_says_so(client, db):
    agency_client(client)
    html = client.get("/help?q=cname").get_data(as_text=True)
    assert "<mark>CNAME</mark>" in html
    assert "1 question matches “cname”." in html
    none = client.get("/help?q=zzqx").get_data(as_text=True)
    assert entries(none) == [] and "No question matches “zzqx”" in none
    # What is searched is escaped, never markup.
    hostile = client.get("/help?q=%3Cscript%3Ealert(1)%3C/script%3E").get_data(as_text=True)
    assert "<script>alert(1)" not in hostile and "&lt;script&gt;" in hostile
    # A very long query is cut, not refused.
    assert client.get("/help?q=" + "a" * 5000).status_code == 200


def test_answers_link_to_the_pages_they_talk_about_when_those_exist(client, db, app):
    agency_client(client)
    html = client.get("/help").get_data(as_text=True)

    def links(slug):
        article = re.search(rf'data-faq="{slug}".*?</article>', html, re.S).group(0)
        return re.findall(r'href="([^"]+)"', article)

    assert links("prepaid") == ["/billing/prepaid"]
    assert links("sms-compat") == ["/billing/sms", "/billing/compatibility"]
    assert links("trials") == ["/?status=expired"]
    assert links("contact") == ["/contact"]
    assert links("transfer-in") == ["/accounts/transfer"]
    # The answer about a page that has not landed is there, without a link that would 404.
    for slug, endpoint in (("pushdown", "pushdown.index"), ("api", "api_tokens.index"),
                           ("commission", "commission.index")):
        assert (links(slug) != []) == (endpoint in app.view_functions), slug
    # Every link names a real endpoint or one of the pages still to come (no typo slips through).
    for entry in faq.FAQ:
        for link in entry.links:
            assert link.endpoint in app.view_functions or link.endpoint in UPCOMING, link.endpoint


def test_questions_and_answers_are_marked_for_translation():
    from flask_babel.speaklater import LazyString
    for entry in faq.FAQ:
        assert isinstance(entry.question, LazyString) and isinstance(entry.answer, LazyString), entry.slug
    assert all(isinstance(title, LazyString) for title in faq.TOPICS.values())


def test_support_staff_may_read_it_and_strangers_are_sent_to_log_in(client, db):
    assert client.get("/help").status_code == 302
    make_support()
    login(client, "staff@agencyhq.test")
    assert client.get("/help").status_code == 200


def _kinds_the_services_send() -> list[re.Pattern]:
    """Every e-mail kind named in a service: a literal ("trial_ending") or an f-string (f"renewal_{what}"),
    the second as a pattern."""
    from pathlib import Path
    root = Path(faq.__file__).resolve().parents[2] / "services"
    source = "\n".join(p.read_text() for p in root.rglob("*.py"))
    names = set(re.findall(r'"([a-z_]+)"', source))
    patterns = [re.compile(rf"^{re.escape(n)}$") for n in names]
    for fstring in re.findall(r'f"([a-z_]*\{[^}]+\}[a-z_]*)"', source):
        patterns.append(re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[a-z_]+", re.escape(fstring)) + "$"))
    return patterns


def test_every_notice_the_faq_promises_exists_and_is_sent(app):
    """S1, N2: the page says only what is true. Each e-mail an answer promises has its template pair on
    the shared layouts and a subject, is written by a service, and a test sees it sent."""
    from pathlib import Path

    from webapp.services import mail
    templates = Path(app.root_path).parent / "templates" / "email"
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py") if p.name != "test_faq.py")
    sent_by_services = _kinds_the_services_send()
    promised = sorted({kind for entry in faq.FAQ for kind in entry.notices})
    assert "trial_ending" in promised and "abuse_report" in promised and "ticket_reply" in promised
    for kind in promised:
        assert 'extends "email/base.txt"' in (templates / f"{kind}.txt").read_text(), kind
        assert 'extends "email/base.html"' in (templates / f"{kind}.html").read_text(), kind
        assert any(p.match(kind) for p in sent_by_services), f"no service sends {kind}"
        assert f'"{kind}"' in tests, f"no test sees {kind} sent"
        with app.test_request_context():
            source = app.jinja_env.loader.get_source(app.jinja_env, f"email/{kind}.txt")[0]
            assert "{% block subject %}" in source, kind
    # The notices page of the answer that lists them exists.
    notices = next(e for e in faq.FAQ if e.slug == "notices")
    assert "Notices" in str(notices.answer) and "five accounts" in str(notices.answer)
    assert mail.PLATFORM_NAME == "AgencyHQ"
