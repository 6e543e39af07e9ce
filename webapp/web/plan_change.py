"""Change plan or renew, shown priced then confirmed (A5, A7, A8, issue 22): the steps the dashboard's
"Change your account" page and a client-billed account's own Billing page share. Each passes who acts and
how its page is drawn (`page`: a callable taking the plan form and quote, status, request_key, problem)."""
from __future__ import annotations

from typing import Callable

from flask import request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, SelectField
from wtforms.validators import DataRequired, Length

from ..catalog import get_catalog
from ..services import accounts, billing, keys, quotes
from ..services.errors import ServiceError, ValidationFailed
from .filters import label
from .forms import Form, apply_errors


class PlanFields:
    # The plan is checked by the service against the catalog, which says what is offered (not "Not a valid choice").
    tier = SelectField(_l("Plan tier"), validate_choice=False, validators=[DataRequired(_l("Choose a plan tier."))])
    term = SelectField(_l("Billing"), validate_choice=False,
                       validators=[DataRequired(_l("Choose monthly, annual or trial."))])
    contact_limit = SelectField(_l("Contact limit"), validate_choice=False,
                                validators=[DataRequired(_l("Choose a contact limit."))])


class PlanChoiceForm(PlanFields, Form):
    """The plan to price (a GET: the choice is in the URL, nothing changes, no CSRF)."""

    class Meta:
        csrf = False


class PlanConfirmForm(PlanFields, Form):
    """The confirming press: the plan again, the token of the figures shown and one key per press."""

    quote = HiddenField(validators=[DataRequired(_l("Preview the change first.")), Length(max=100)])
    request_key = HiddenField(validators=[Length(max=64)])


def choice_form(account, source: dict | None = None) -> PlanChoiceForm:
    """The paid plans offered, the account's own chosen until another is (from the query, or `source`)."""
    form = PlanChoiceForm(MultiDict(source) if source is not None else request.args)
    catalog = get_catalog()
    form.tier.choices = [(t.key, label("tier", t.key)) for t in catalog.tiers]
    form.term.choices = [(k, label("term", k)) for k in ("monthly", "annual")]
    form.contact_limit.choices = [(str(c), f"{c:,}") for c in catalog.contact_limits]
    form.tier.data = form.tier.data or account.plan_tier
    form.term.data = form.term.data or ("monthly" if account.plan_term == "trial" else account.plan_term)
    form.contact_limit.data = form.contact_limit.data or str(account.contact_limit)
    return form


def confirm_form(prefix: str, quote: quotes.Quote | None, request_key: str | None) -> PlanConfirmForm:
    """The Confirm of `quote` (its plan and token), with the press's key."""
    form = PlanConfirmForm(prefix=prefix, formdata=None)
    if quote is not None:
        tier, term, limit = quote.subject["plan"]
        form.tier.data, form.term.data, form.contact_limit.data = tier, term, str(limit)
        form.quote.data = quote.token
    form.request_key.data = request_key or keys.fresh()
    return form


def _preview(account, form, actor) -> quotes.Quote:
    return accounts.preview_change(account, tier=form.tier.data, term=form.term.data,
                                   contact_limit=form.contact_limit.data or "", actor=actor)


def show(account, *, actor, page: Callable):
    """GET: the page, with the plan chosen (or, for an expired account or a trial, its own) priced."""
    form = choice_form(account)
    chosen = "tier" in request.args or account.status == "expired" or account.plan_term == "trial"
    if not chosen:
        return page(form)
    try:
        return page(form, quote=_preview(account, form, actor))
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return page(form, status=422 if "tier" in request.args else 200)
    except ServiceError as exc:
        return page(form, status=exc.status, problem=exc.message)


def confirm(account, *, prefix: str, actor, page: Callable, declined: Callable[[str], str]):
    """POST: (the change made, None) when the figures confirmed are still today's; else (None, the page again:
    with today's figures when they changed, or what is wrong). Nothing is charged in the second case."""
    form = PlanConfirmForm(prefix=prefix)
    request_key = (form.request_key.data or "")[:64] or keys.fresh()
    chosen = choice_form(account, {"tier": form.tier.data or "", "term": form.term.data or "",
                                   "contact_limit": form.contact_limit.data or ""})
    if not form.validate_on_submit():
        return None, page(chosen, status=422, request_key=request_key,
                          problem=" ".join(str(e) for errors in form.errors.values() for e in errors))
    try:
        return accounts.change_plan(account, tier=form.tier.data, term=form.term.data,
                                    contact_limit=form.contact_limit.data or "", request_key=request_key,
                                    actor=actor, quote=form.quote.data), None
    except quotes.StaleQuote as exc:
        return None, page(chosen, quote=exc.quote, status=409, request_key=request_key, problem=exc.message)
    except billing.PaymentDeclined as exc:
        # The declined attempt's invoice is void: the next press is a new attempt, with a new key.
        try:
            fresh = _preview(account, chosen, actor)
        except ServiceError:
            fresh = None
        return None, page(chosen, quote=fresh, status=402, problem=declined(exc.message))
    except ValidationFailed as exc:
        apply_errors(chosen, exc)
        return None, page(chosen, status=422, request_key=request_key, problem=exc.message if exc.fields else None)
    except ServiceError as exc:
        return None, page(chosen, status=exc.status, request_key=request_key, problem=exc.message)
