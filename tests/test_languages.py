"""Issue 26: every language offered is really there. A hosted account's eight languages are complete for
everything its people see (the client's pages and e-mails); a dashboard language is complete for everything;
placeholders are the msgid's; templates show no text that escapes the translation functions; and an account's
pages and mail are in its language whatever the browser says."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from webapp.config import Config
from webapp.i18n import CLIENT_SOURCES

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "translations"
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sd]|%[sd]")


@pytest.fixture(scope="module")
def pot(tmp_path_factory):
    """The messages of today's sources (not the committed .pot, which may be stale)."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-o", str(out), "."], cwd=ROOT, check=True, capture_output=True)
    with out.open("rb") as f:
        return read_po(f)


def _catalog(lang):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


def _key(message):
    return message.id if isinstance(message.id, str) else message.id[0]


def _untranslated(catalog, messages):
    missing = []
    for message in messages:
        found = catalog.get(_key(message))
        strings = () if found is None else (found.string if isinstance(found.string, tuple) else (found.string,))
        if found is None or found.fuzzy or not strings or not all(strings):
            missing.append(_key(message))
    return missing


def _clients(message) -> bool:
    return any(path.startswith(CLIENT_SOURCES) for path, _line in message.locations)


def test_the_client_sources_name_real_files():
    for source in CLIENT_SOURCES:
        assert list(ROOT.glob(source + "*")), source


@pytest.mark.parametrize("lang", sorted(set(Config.ACCOUNT_LANGUAGES) - {"en"}))
def test_every_account_language_has_every_message_a_client_sees(pot, lang):
    client_messages = [m for m in pot if m.id and _clients(m)]
    assert len(client_messages) > 300
    missing = _untranslated(_catalog(lang), client_messages)
    assert missing == [], f"{lang}: {len(missing)} client messages untranslated or fuzzy, e.g. {missing[:5]}"


@pytest.mark.parametrize("lang", sorted(set(Config.LANGUAGES) - {"en"}))
def test_a_dashboard_language_is_offered_only_when_complete(pot, lang):
    missing = _untranslated(_catalog(lang), [m for m in pot if m.id])
    assert missing == [], f"{lang}: {len(missing)} messages untranslated or fuzzy, e.g. {missing[:5]}"


@pytest.mark.parametrize("lang", sorted(set(Config.ACCOUNT_LANGUAGES) - {"en"}))
def test_placeholders_are_the_msgids(lang):
    problems = []
    for message in _catalog(lang):
        if not message.id or not message.string:
            continue
        if isinstance(message.id, str):
            if sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
                problems.append(message.id)
        else:
            wanted = set(PLACEHOLDER.findall(message.id[0])) | set(PLACEHOLDER.findall(message.id[1]))
            for form in message.string:
                if form and not set(PLACEHOLDER.findall(form)) <= wanted:
                    problems.append(message.id[0])
    assert problems == [], f"{lang}: {problems[:5]}"


# Words that are the same in every language: names, protocol words, the admin's user name, code.
UNTRANSLATED_WORDS = {"AgencyHQ", "CNAME", "HTTP", "admin", "Authorization", "Bearer", "webhook-id",
                      "webhook-timestamp", "webhook-signature"}


def _bare_text(source: str) -> list[str]:
    s = re.sub(r"{#.*?#}", "", source, flags=re.S)
    s = re.sub(r"<(script|style|pre|code)\b.*?</\1>", " ", s, flags=re.S | re.I)
    s = re.sub(r"{%.*?%}", " ", s, flags=re.S)
    s = re.sub(r"{{.*?}}", " ", s, flags=re.S)
    s = re.sub(r"<!--.*?-->", " ", s, flags=re.S)
    s = re.sub(r"<[^>]*>", " ", s, flags=re.S)
    s = re.sub(r"\b[\w-]+=\"[^\"]*\"", " ", s)  # attributes of a tag split by a Jinja block
    s = re.sub(r"&[a-z]+;|&#\d+;", " ", s)
    words = [w for w in re.findall(r"[A-Za-z][\w-]+", s) if w not in UNTRANSLATED_WORDS]
    # a sentence starts with a capital; lowercase leftovers are class names of a tag split by Jinja
    return [w for w in words if w[0].isupper() or w in COMMON_ENGLISH]


COMMON_ENGLISH = {"the", "and", "your", "you", "to", "of", "is", "for", "with", "this", "or", "no"}


def test_templates_show_no_text_outside_the_translation_functions():
    found = {}
    for path in sorted((ROOT / "templates").rglob("*")):
        if path.suffix in (".html", ".txt"):
            words = _bare_text(path.read_text())
            if words:
                found[str(path.relative_to(ROOT))] = words[:5]
    assert found == {}


def test_the_bare_text_scan_sees_bare_text():
    assert _bare_text("<p>Hello {{ _('x') }}</p>") == ["Hello"]
    assert _bare_text("<p>{{ _('Hello') }} <code>Webhook(SECRET)</code> CNAME</p>") == []


HOST = "http://lingua.localhost"


@pytest.mark.parametrize("lang, words", [("de", "Melden Sie sich bei Ihrem Konto an."), ("zh", "登录您的账户。"),
                                         ("es", "Inicie sesión en su cuenta."), ("fr", None)])
def test_an_accounts_pages_are_in_its_language_whatever_the_browser_says(client, db, lang, words):
    from .helpers import make_account, make_agency
    agency, _ = make_agency(email="owner@lingua.test")
    make_account(agency, "lingua", language=lang, admin_password="lingua-password-1")
    html = client.get("/app/login", base_url=HOST, headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert f'lang="{lang}"' in html
    if words:
        assert words in html and "Log in to your account." not in html


def test_an_e_mail_to_a_client_is_in_the_accounts_language(app, db):
    import sqlalchemy as sa

    from webapp.models import OutboundEmail
    from webapp.services import client_auth

    from .helpers import make_account, make_agency
    agency, _ = make_agency(email="owner@lingua.test")
    account = make_account(agency, "lingua", language="nl", admin_password="lingua-password-1",
                           client_email="baas@lingua.test")
    from webapp.models import AccountUser
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id))
    with app.test_request_context("/", base_url=HOST, headers={"Accept-Language": "en"}):
        client_auth.send_reset(account, admin)
    email = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "client_password_reset"))
    nl = _catalog("nl")
    assert email.subject == nl.get("Reset your password").string


def _picker(db, on: bool):
    from webapp.models import Branding

    from .helpers import make_account, make_agency
    agency, _ = make_agency(email="owner@lingua.test")
    db.session.add(Branding(agency_id=agency.id, language_picker=on))
    db.session.commit()
    return make_account(agency, "lingua", language="de", admin_password="lingua-password-1")


def test_the_login_page_offers_the_languages_only_when_the_agency_allows_it(client, db):
    from .helpers import csrf_token
    _picker(db, on=False)
    page = client.get("/app/login", base_url=HOST).get_data(as_text=True)
    assert 'id="language-picker"' not in page
    assert client.post("/app/language", base_url=HOST, data={"csrf_token": csrf_token(page), "lang": "zh"}
                       ).status_code == 404
    assert 'lang="de"' in client.get("/app/login", base_url=HOST).get_data(as_text=True)


def test_the_clients_choice_of_language_is_kept_for_the_visit(client, db):
    from .helpers import csrf_token
    _picker(db, on=True)
    page = client.get("/app/login", base_url=HOST).get_data(as_text=True)
    assert 'id="language-picker"' in page and "中文" in page and 'lang="de"' in page
    chosen = client.post("/app/language", base_url=HOST, data={"csrf_token": csrf_token(page), "lang": "zh"})
    assert chosen.status_code == 303
    page = client.get("/app/login", base_url=HOST).get_data(as_text=True)
    assert 'lang="zh"' in page and "登录您的账户。" in page
    # a language that is not offered changes nothing
    client.post("/app/language", base_url=HOST, data={"csrf_token": csrf_token(page), "lang": "xx"})
    assert 'lang="zh"' in client.get("/app/login", base_url=HOST).get_data(as_text=True)
    # the choice is this visitor's: another browser sees the account's language
    from flask.testing import FlaskClient
    other = FlaskClient(client.application)
    assert 'lang="de"' in other.get("/app/login", base_url=HOST).get_data(as_text=True)


def test_the_agency_switches_the_picker_in_its_branding_defaults(client, db):
    from webapp.services import branding

    from .helpers import csrf_token, login, make_agency
    agency, owner = make_agency(email="brand@lingua.test")
    login(client, owner.email)
    page = client.get("/settings/branding").get_data(as_text=True)
    assert "Let clients choose their language on the login page" in page
    saved = client.post("/settings/branding", data={"csrf_token": csrf_token(page), "primary_color": "#2454a6",
                                                    "accent_color": "#0e7c66", "add_templates": "y",
                                                    "language_picker": "y"})
    assert saved.status_code == 303
    assert branding.defaults_of(agency.id).language_picker is True
