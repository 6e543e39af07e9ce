"""The Resold tab's rules (R1-R5, R10, R11): which of an agency's accounts a view shows, in which
order, a page at a time, and the agency's discount summary. Shared by the dashboard and the API."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import sqlalchemy as sa

from ..catalog import get_catalog
from ..extensions import db
from ..models import HostedAccount
from .scope import AgencyScope, parse_page

PAGE_SIZE = 25
MAX_QUERY_LENGTH = 100
PLAN_TYPES = ("trial", "monthly", "annual")
STATUSES = ("active", "expired", "all")
SORTS = {
    "name": HostedAccount.name,
    "plan_size": HostedAccount.contact_limit,
    "created": HostedAccount.created_at,
    "expires": HostedAccount.period_end,
}
ORDERS = ("asc", "desc")
# "Active" is every account that has not expired: being provisioned, paid up, cancelled but
# still in its paid period, or disabled for a declined payment.
ACTIVE_STATUSES = ("provisioning", "active", "cancelled", "disabled")
# Paid accounts count toward the discount (B5): paid for the current period, trials excepted.
PAID_STATUSES = ("provisioning", "active", "cancelled", "disabled")


@dataclass(frozen=True)
class View:
    """One view of the Resold tab: everything that is in its URL."""

    q: str = ""
    plan_types: tuple[str, ...] = ()
    status: str = "active"
    sort: str = "name"
    order: str = "asc"
    page: int = 1
    # What was asked for but could not be honoured, to tell the person why.
    notices: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args) -> "View":
        """Reads a view from query arguments; unknown or malformed values fall back to the default."""
        notices = []
        # Control characters (NUL above all) mean nothing in a search and break SQL drivers.
        q = " ".join("".join(c for c in (args.get("q") or "") if c.isprintable() or c == " ").split())
        if len(q) > MAX_QUERY_LENGTH:
            notices.append("query_too_long")
            q = ""
        plan_types = tuple(p for p in PLAN_TYPES if p in set(args.getlist("plan")))
        status = args.get("status") if args.get("status") in STATUSES else "active"
        sort = args.get("sort") if args.get("sort") in SORTS else "name"
        order = args.get("order") if args.get("order") in ORDERS else "asc"
        return cls(q, plan_types, status, sort, order, parse_page(args.get("page")), tuple(notices))

    def params(self, **changes) -> dict:
        """The URL query of this view (or of a changed copy), without default values."""
        view = replace(self, **changes)
        out = {}
        if view.q:
            out["q"] = view.q
        if view.plan_types:
            out["plan"] = list(view.plan_types)
        if view.status != "active":
            out["status"] = view.status
        if view.sort != "name":
            out["sort"] = view.sort
        if view.order != "asc":
            out["order"] = view.order
        if view.page != 1:
            out["page"] = view.page
        return out

    def query_string(self, **changes) -> str:
        return urlencode(self.params(**changes), doseq=True)

    def sort_link(self, key: str) -> str:
        """Clicking a header sorts by it; clicking the current one reverses the order."""
        order = ("desc" if self.order == "asc" else "asc") if key == self.sort else "asc"
        return self.query_string(sort=key, order=order, page=1)

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.plan_types or self.status != "active")


@dataclass(frozen=True)
class Page:
    view: View
    rows: list
    total: int
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def first_index(self) -> int:
        return (self.view.page - 1) * self.page_size + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.total, self.view.page * self.page_size)


@dataclass(frozen=True)
class Summary:
    paid_accounts: int
    discount_percent: int
    next_tier_percent: int | None
    accounts_to_next_tier: int | None


def like_pattern(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_clause(q: str):
    pattern = like_pattern(q)
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite" and len(q) >= 3:
        # The FTS5 trigram table (revision 0002) finds a quoted phrase anywhere in the text from its
        # index; LIKE with an ESCAPE clause would make FTS5 scan every row instead.
        phrase = '"' + q.lower().replace('"', '""') + '"'
        fts = sa.text("SELECT rowid FROM hosted_accounts_fts WHERE hosted_accounts_fts MATCH :phrase")
        return HostedAccount.id.in_(fts.bindparams(phrase=phrase))
    # PostgreSQL serves this from the pg_trgm index; short queries scan the agency's rows.
    return HostedAccount.search_text.like(pattern, escape="\\")


def _view_conditions(view: View) -> list:
    conditions = []
    if view.status == "active":
        conditions.append(HostedAccount.status.in_(ACTIVE_STATUSES))
    elif view.status == "expired":
        conditions.append(HostedAccount.status == "expired")
    if view.plan_types and len(view.plan_types) < len(PLAN_TYPES):
        conditions.append(HostedAccount.plan_term.in_(view.plan_types))
    if view.q:
        conditions.append(_search_clause(view.q))
    return conditions


def filtered(scope: AgencyScope, view: View):
    """The ids of the agency's resold accounts that match the view, unordered."""
    return scope.select(HostedAccount, HostedAccount.id).where(HostedAccount.kind == "resold",
                                                               *_view_conditions(view))


PAID = sa.and_(HostedAccount.plan_term != "trial", HostedAccount.status.in_(PAID_STATUSES))


def _ordering(view: View):
    column = SORTS[view.sort]
    direction = sa.desc if view.order == "desc" else sa.asc
    keys = [direction(column)]
    if view.sort != "name":  # names are unique; other keys need the id to give a stable order
        keys.append(direction(HostedAccount.id))
    return keys


def count(scope: AgencyScope, view: View) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(filtered(scope, view).subquery())) or 0


def page(scope: AgencyScope, view: View, page_size: int = PAGE_SIZE) -> Page:
    """One page of the view. Page numbers past the end show the last page. The page's ids are
    found in the covering index first (a deferred join), so deep pages read only 25 rows."""
    if len(view.q) >= 3:
        found = _search_page(scope, view, page_size)
        if found or view.page == 1:
            total = found[0].total if found else 0
            return Page(view, _rows_in_order([row.id for row in found], view), total, page_size)
    total = count(scope, view)
    pages = max(1, math.ceil(total / page_size))
    if view.page > pages:
        view = replace(view, page=pages)
    ids = (filtered(scope, view).order_by(*_ordering(view))
           .limit(page_size).offset((view.page - 1) * page_size).subquery())
    rows = db.session.scalars(sa.select(HostedAccount).join(ids, HostedAccount.id == ids.c.id)
                              .order_by(*_ordering(view))).all() if total else []
    return Page(view, rows, total, page_size)


def _search_page(scope: AgencyScope, view: View, page_size: int) -> list:
    """A search's page of ids and its number of matches, from one query (count(*) OVER).

    The matches come from the search index first and are sorted after. Left to itself, PostgreSQL's
    planner guesses a few hundred matches for any 3-letter LIKE and walks the sort key's index
    through all 100 000 accounts of the agency, checking each (200 ms); MATERIALIZED keeps it on the
    trigram index (the 2 500 matches, then a sort: 30 ms)."""
    direction = sa.desc if view.order == "desc" else sa.asc
    matches = filtered(scope, view).add_columns(SORTS[view.sort].label("sort_key")).cte("matches")
    if db.session.get_bind().dialect.name == "postgresql":
        matches = matches.prefix_with("MATERIALIZED")
    return db.session.execute(
        sa.select(matches.c.id, sa.func.count().over().label("total"))
        .order_by(direction(matches.c.sort_key), direction(matches.c.id))
        .limit(page_size).offset((view.page - 1) * page_size)).all()


def _rows_in_order(ids: list[int], view: View) -> list:
    if not ids:
        return []
    return db.session.scalars(sa.select(HostedAccount).where(HostedAccount.id.in_(ids))
                              .order_by(*_ordering(view))).all()


def paid_account_count(scope: AgencyScope) -> int:
    return db.session.scalar(scope.select(HostedAccount, sa.func.count()).where(
        HostedAccount.kind == "resold", PAID)) or 0


def summary(scope: AgencyScope, paid: int | None = None) -> Summary:
    catalog = get_catalog()
    paid = paid_account_count(scope) if paid is None else paid
    nxt = catalog.next_discount_tier(paid)
    return Summary(paid, catalog.discount_percent(paid), nxt.percent if nxt else None,
                   nxt.min_paid_accounts - paid if nxt else None)


def price_after_discount(account: HostedAccount, discount_percent: int) -> int | None:
    """What the account's next period costs the agency today; None for a plan not in the catalog."""
    catalog = get_catalog()
    try:
        listed = catalog.list_price_cents(account.plan_tier, account.plan_term, account.contact_limit)
    except (KeyError, ValueError):
        return None
    return catalog.apply_discount(listed, discount_percent)
