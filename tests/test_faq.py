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
    assert 15 <= len(faq.FAQ) <= 25
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
