"""The Resold table's rows, each rendered once per process for what it shows.

A row is a pure function of the values below and of the viewer's language and time zone, so its
HTML is kept under exactly that key: an account whose status, plan, dates, price or anything else
shown changes gets a new key, never a stale row. The row template is given only these values (not
the account), so it cannot show anything the key leaves out. Rendering 25 rows was half of the
fragment's CPU; a row seen before costs a dictionary lookup. Bounded: emptied when it grows past
the limit."""
from __future__ import annotations

from typing import NamedTuple

from flask import current_app
from markupsafe import Markup

from ...models import HostedAccount
from ..filters import viewer_key

ROW_TEMPLATE = "resold/_row.html"
ROWS_LIMIT = 5_000
_ROWS: dict[tuple, Markup] = {}


class Row(NamedTuple):
    """Everything a Resold row shows."""

    id: int
    name: str
    client_name: str
    client_email: str
    plan_tier: str
    plan_term: str
    contact_limit: int
    status: str
    created_at: object
    period_end: object
    price_cents: int | None
    login_url: str
    account_url: str
    # A downgrade waiting for the next renewal (A8): what the account costs from then ("then ..."), or None.
    then_price_cents: int | None = None


def row_of(account: HostedAccount, *, price_cents: int | None, login_url: str, account_path: str,
           then_price_cents: int | None = None) -> Row:
    return Row(account.id, account.name, account.client_name, account.client_email, account.plan_tier,
               account.plan_term, account.contact_limit, account.status, account.created_at,
               account.period_end, price_cents, login_url, account_path + str(account.id), then_price_cents)


def render_rows(rows: list[Row], *, may_manage: bool = True, may_charge: bool = True) -> Markup:
    """`may_manage` and `may_charge`: what the viewer's role in the team lets the row's buttons offer
    (part of the key, like the language)."""
    viewer = (viewer_key(), may_manage, may_charge)
    # While developing, templates reload when edited: nothing is kept then.
    keep = not current_app.jinja_env.auto_reload
    template = None
    parts = []
    for row in rows:
        key = (viewer, row)
        html = _ROWS.get(key)
        if html is None:
            if template is None:
                template = current_app.jinja_env.get_template(ROW_TEMPLATE)
            html = Markup(template.render(row=row, may_manage=may_manage, may_charge=may_charge))
            if keep:
                if len(_ROWS) >= ROWS_LIMIT:
                    _ROWS.clear()
                _ROWS[key] = html
        parts.append(html)
    return Markup("").join(parts)
