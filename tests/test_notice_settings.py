"""Issue 21 (N2): the agency's notification settings under My account > Notices. The service checks every
field and writes all or nothing, audited; an Owner or an Admin changes them, the rest of the team reads
them; the page works as a plain form and as an htmx fragment."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.models import Agency, AuditEvent
from webapp.services import notice_settings
from webapp.services.audit import Actor
from webapp.services.errors import Forbidden, NotFound, ValidationFailed

from .helpers import agency_actor, audited, csrf_token, login, make_agency, make_member

HX = {"HX-Request": "true"}
URL = "/my-account/notices"
OFF = {"notice_email": "", "notice_language": "en", "notify_receipts": False, "receipt_digest": False,
       "notify_upcoming": False}


def _agency(db, agency_id) -> Agency:
    db.session.expire_all()
    return db.session.get(Agency, agency_id)


def _form(client, **fields) -> dict:
    """The page's form as a browser posts it: its CSRF token, the texts, and only the boxes ticked."""
    data = {"csrf_token": csrf_token(client.get(URL).get_data(as_text=True)), "notice_email": "",
            "notice_language": "en"}
    data.update({name: value for name, value in fields.items() if not isinstance(value, bool)})
    data.update({name: "y" for name, value in fields.items() if value is True})
    return data


# ---- the service ------------------------------------------------------------------------------------------

def test_the_defaults_send_every_notice_to_the_owners_in_english(app, db):
    agency, owner = make_agency(email="owner@agency.test")
    second = make_member(agency, "owner", email="second@agency.test")
    make_member(agency, "admin", email="admin@agency.test")
    settings = notice_settings.settings_of(agency.id)
    assert (settings.notice_email, settings.notice_language) == ("", "en")
    assert settings.notify_receipts and settings.receipt_digest and settings.notify_upcoming
    assert settings.owners == (owner.email, second.email)
    assert settings.recipients == (owner.email, second.email)
    with pytest.raises(NotFound):
        notice_settings.settings_of(agency.id + 100)


def test_saving_writes_every_field_and_is_audited_once(app, db):
    agency, owner = make_agency(email="owner@agency.test")
    saved = notice_settings.save(agency_actor(owner), agency.id, notice_email="  Notices@Agency.TEST ",
                                 notice_language="fr", notify_receipts=False, receipt_digest=True,
                                 notify_upcoming=False)
    assert saved.notice_email == "notices@agency.test" and saved.recipients == ("notices@agency.test",)
    row = _agency(db, agency.id)
    assert (row.notice_email, row.notice_language) == ("notices@agency.test", "fr")
    assert (row.notify_receipts, row.receipt_digest, row.notify_upcoming) == (False, True, False)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "notice_settings_changed"))
    assert event.agency_id == agency.id and event.actor == f"user:{owner.id}"
    assert event.detail["changed"] == {
        "notice_email": {"from": None, "to": "notices@agency.test"}, "notice_language": {"from": "en", "to": "fr"},
        "notify_receipts": {"from": True, "to": False}, "notify_upcoming": {"from": True, "to": False}}
    # The same settings again: nothing changes, nothing is logged. A blank e-mail goes back to the owners.
    notice_settings.save(agency_actor(owner), agency.id, notice_email="notices@agency.test", notice_language="fr",
                         notify_receipts=False, receipt_digest=True, notify_upcoming=False)
    assert audited(db).count("notice_settings_changed") == 1
    back = notice_settings.save(agency_actor(owner), agency.id, **{**OFF, "notice_email": "   "})
    assert _agency(db, agency.id).notice_email is None and back.recipients == (owner.email,)


@pytest.mark.parametrize("fields, problems", [
    ({"notice_email": "not-an-e-mail"}, {"notice_email"}),
    ({"notice_email": "a@" + "x" * 260 + ".test"}, {"notice_email"}),
    ({"notice_email": "nul\x00@agency.test"}, {"notice_email"}),
    ({"notice_language": "de"}, {"notice_language"}),
    ({"notice_language": ""}, {"notice_language"}),
    ({"notice_email": "nope", "notice_language": "xx"}, {"notice_email", "notice_language"}),
])
def test_bad_input_is_refused_by_field_and_nothing_is_written(app, db, fields, problems):
    agency, owner = make_agency(email="owner@agency.test")
    with pytest.raises(ValidationFailed) as refused:
        notice_settings.save(agency_actor(owner), agency.id, **{**OFF, **fields})
    assert set(refused.value.fields) == problems
    row = _agency(db, agency.id)
    assert row.notice_email is None and row.notice_language == "en"
    assert row.notify_receipts and row.receipt_digest and row.notify_upcoming  # the boxes were not saved either
    assert "notice_settings_changed" not in audited(db)


@pytest.mark.parametrize("role", ["billing", "member"])
def test_only_an_owner_or_an_admin_may_save_whoever_calls(app, db, role):
    agency, owner = make_agency(email="owner@agency.test")
    user = make_member(agency, role)
    with pytest.raises(Forbidden) as refused:
        notice_settings.save(agency_actor(user), agency.id, **OFF)
    assert "Only an Owner or an Admin" in refused.value.message
    assert _agency(db, agency.id).notify_receipts is True
    admin = make_member(agency, "admin")
    notice_settings.save(agency_actor(admin), agency.id, **OFF)
    assert _agency(db, agency.id).notify_receipts is False
    # Someone who is not in a team (the CLI, support) is checked by their own rules.
    notice_settings.save(Actor("system", "tests"), agency.id, **{**OFF, "notify_receipts": True})
    assert _agency(db, agency.id).notify_receipts is True


def test_an_owner_cannot_change_another_agencys_settings(app, db):
    agency, owner = make_agency(email="owner@agency.test")
    other, _other_owner = make_agency("Other", email="owner@other.test")
    with pytest.raises(NotFound):
        notice_settings.save(agency_actor(owner), other.id, **OFF)
    assert _agency(db, other.id).notify_receipts is True


# ---- the page ---------------------------------------------------------------------------------------------

def test_my_account_links_to_the_notices_page(app, client, db):
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    assert f'href="{URL}"' in client.get("/my-account").get_data(as_text=True)


def test_the_page_shows_the_owners_the_languages_and_the_required_notices_as_text(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    make_member(agency, "owner", email="co-owner@agency.test")
    login(client, "owner@agency.test")
    page = client.get(URL)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "HX-Request" in page.headers["Vary"]
    assert "owner@agency.test, co-owner@agency.test" in html
    assert '<option selected value="en">English</option>' in html and '<option value="fr">Français</option>' in html
    for box in ("notify_receipts", "receipt_digest", "notify_upcoming"):
        assert f'id="{box}" name="{box}" type="checkbox" value="y">' in html.replace('checked ', '')
    required = html.split('id="required-notices"')[1].split("</section>")[0]
    for notice in ("Declined renewals", "Accounts disabled", "Abuse and bounce reports", "Security notices",
                   "Trial endings and expiries"):
        assert notice in required
    assert "<input" not in required  # plain text, not disabled boxes


def test_an_owner_saves_without_javascript(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    answer = client.post(URL, data=_form(client, notice_email="desk@agency.test", notice_language="fr",
                                         receipt_digest=True, notify_upcoming=True))
    assert answer.status_code == 303 and answer.headers["Location"].endswith(URL)
    row = _agency(db, agency.id)
    assert (row.notice_email, row.notice_language, row.notify_receipts, row.receipt_digest, row.notify_upcoming) == \
        ("desk@agency.test", "fr", False, True, True)
    page = client.get(URL).get_data(as_text=True)
    assert "The notification settings were saved." in page
    assert 'value="desk@agency.test"' in page and '<option selected value="fr">' in page
    assert 'id="notify_receipts" name="notify_receipts" type="checkbox" value="y">' in page  # not checked
    assert audited(db) == ["notice_settings_changed"]


def test_a_bad_email_is_shown_by_its_field_and_nothing_is_saved(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    answer = client.post(URL, data=_form(client, notice_email="not an e-mail", notice_language="fr"))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="notice_email-error">Enter a valid e-mail address.' in html
    assert 'aria-invalid="true"' in html and 'value="not an e-mail"' in html  # kept to correct
    answer = client.post(URL, data=_form(client, notice_language="tlh"))
    assert answer.status_code == 422 and 'id="notice_language-error">Pick one of the languages offered.' in \
        answer.get_data(as_text=True)
    row = _agency(db, agency.id)
    assert row.notice_email is None and row.notice_language == "en" and row.notify_receipts is True
    assert "notice_settings_changed" not in audited(db)


def test_with_htmx_the_form_comes_back_alone_saved_or_with_its_errors(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    fragment = client.get(URL, headers=HX)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    assert fragment.get_data(as_text=True).lstrip().startswith('<section class="card mw-48r" id="notice-settings">')
    refused = client.post(URL, data=_form(client, notice_email="nope@"), headers=HX)
    html = refused.get_data(as_text=True)
    # htmx swaps no 4xx answer: the fragment comes back 200 with the error by the field
    assert refused.status_code == 200 and "<html" not in html and 'id="notice_email-error"' in html
    assert _agency(db, agency.id).notice_email is None
    saved = client.post(URL, data=_form(client, notice_email="desk@agency.test", notify_upcoming=True), headers=HX)
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "<html" not in html and "HX-Request" in saved.headers["Vary"]
    assert 'id="notices-saved"' in html and 'value="desk@agency.test"' in html
    row = _agency(db, agency.id)
    assert (row.notice_email, row.notify_receipts, row.notify_upcoming) == ("desk@agency.test", False, True)
    # The message went with the fragment, not into the next page's flashes.
    assert "The notification settings were saved." not in client.get(URL).get_data(as_text=True)
    # A history restore gets the whole page.
    restore = client.get(URL, headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_csrf_is_enforced(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    data = {**_form(client, notice_email="desk@agency.test"), "csrf_token": "forged"}
    assert client.post(URL, data=data).status_code == 400
    del data["csrf_token"]
    assert client.post(URL, data=data, headers=HX).status_code == 400
    assert _agency(db, agency.id).notice_email is None


@pytest.mark.parametrize("role", ["billing", "member"])
def test_the_rest_of_the_team_reads_the_settings_and_a_post_is_403(app, client, db, role):
    agency, owner = make_agency(email="owner@agency.test")
    notice_settings.save(agency_actor(owner), agency.id, notice_email="desk@agency.test", notice_language="fr",
                         notify_receipts=False, receipt_digest=True, notify_upcoming=True)
    user = make_member(agency, role)
    login(client, user.email)
    page = client.get(URL)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="notices-read-only"' in html and "Only an Owner or an Admin" in html
    assert "<form method=\"post\" action=\"/my-account/notices\"" not in html and 'type="checkbox"' not in html
    assert 'id="notices-to">desk@agency.test<' in html and 'id="notices-language">Français<' in html
    assert "Renewal receipts: <strong>Off</strong>" in html and "Declined renewals" in html
    token = csrf_token(client.get("/my-account").get_data(as_text=True))
    answer = client.post(URL, data={"csrf_token": token, "notice_email": "mine@agency.test", "notice_language": "en",
                                    "notify_receipts": "y"})
    assert answer.status_code == 403 and "Only an Owner or an Admin" in answer.get_data(as_text=True)
    row = _agency(db, agency.id)
    assert (row.notice_email, row.notice_language, row.notify_receipts) == ("desk@agency.test", "fr", False)


def test_an_admin_may_change_them(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    admin = make_member(agency, "admin")
    login(client, admin.email)
    assert client.post(URL, data=_form(client, notice_language="fr")).status_code == 303
    assert _agency(db, agency.id).notice_language == "fr"


def test_support_staff_have_no_notices_page(app, client, db):
    from .helpers import make_support
    make_support()
    login(client, "staff@agencyhq.test")
    assert client.get(URL).status_code == 403
    assert 'href="/my-account/notices"' not in client.get("/my-account").get_data(as_text=True)
