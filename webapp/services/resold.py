"""The Resold tab's rules (R1-R5, R10, R11): which of an agency's accounts a view shows, in which
order, a page at a time, and the agency's discount summary. Shared by the dashboard and the API."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import sqlalchemy as sa
import sqlalchemy.orm

from ..catalog import get_catalog
from ..extensions import db
from ..models import AccountCount, HostedAccount
from ..models.accounts import PAID, counted_as_paid  # noqa: F401 (PAID: the same rule over the accounts' rows)
from . import renewals
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


def _fts_phrase(q: str) -> str:
    return '"' + q.lower().replace('"', '""') + '"'


def _search_kind(q: str, dialect: str) -> str | None:
    """How a search is run: None (no search), "like" (a LIKE over the search text) or "fts" (SQLite's
    FTS5 trigram table, which finds a quoted phrase of 3 or more characters from its index; LIKE with an
    ESCAPE clause would make FTS5 scan every row). PostgreSQL serves LIKE from its pg_trgm index."""
    if not q:
        return None
    return "fts" if dialect == "sqlite" and len(q) >= 3 else "like"


def _search_params(q: str, kind: str | None) -> dict:
    if kind == "fts":
        return {"search_phrase": _fts_phrase(q)}
    if kind == "like":
        return {"search_pattern": like_pattern(q)}
    return {}


def _ordering(sort: str, order: str):
    direction = sa.desc if order == "desc" else sa.asc
    keys = [direction(SORTS[sort])]
    if sort != "name":  # names are unique; other keys need the id to give a stable order
        keys.append(direction(HostedAccount.id))
    return keys


@dataclass(frozen=True)
class _Statements:
    count: object
    page: object
    search_page: object
    rows_in_order: object


# What a Resold row shows and prices (web/resold/rows.py: Row, hosts.account_login_url, price_after_discount):
# the tab loads only these of an account's 40 columns (issue 25); any other one read raises, in the tests.
ROW_COLUMNS = ("id", "agency_id", "kind", "name", "custom_domain", "custom_domain_verified_at", "status",
               "plan_tier", "plan_term", "contact_limit", "pending_plan_tier", "pending_plan_term",
               "pending_contact_limit", "created_at", "period_end", "client_name", "client_email")


@functools.lru_cache(maxsize=1024)
def _statements(sort: str, order: str, status: str, plan_types: tuple[str, ...], search: str | None,
                dialect: str, light: bool = False) -> _Statements:
    """The statements of one shape of view, built once per process. Building a statement and its
    cache key took half of the Resold fragment's query time (2.3 of 4.7 ms of CPU); the values (the
    agency, the search, the page) are parameters."""
    conditions = [HostedAccount.kind == "resold"]
    if status == "active":
        conditions.append(HostedAccount.status.in_(ACTIVE_STATUSES))
    elif status == "expired":
        conditions.append(HostedAccount.status == "expired")
    if plan_types and len(plan_types) < len(PLAN_TYPES):
        conditions.append(HostedAccount.plan_term.in_(plan_types))
    if search == "fts":
        fts = sa.text("SELECT rowid FROM hosted_accounts_fts WHERE hosted_accounts_fts MATCH :search_phrase")
        conditions.append(HostedAccount.id.in_(fts.bindparams(sa.bindparam("search_phrase", type_=sa.String))))
    elif search == "like":
        conditions.append(HostedAccount.search_text.like(sa.bindparam("search_pattern", type_=sa.String),
                                                         escape="\\"))
    # The agency's matching accounts, unordered.
    matching = AgencyScope.template(HostedAccount, HostedAccount.id).where(*conditions)
    limit, offset = sa.bindparam("page_limit", type_=sa.Integer), sa.bindparam("page_offset", type_=sa.Integer)
    ordering = _ordering(sort, order)

    count = sa.select(sa.func.count()).select_from(matching.subquery())
    # A page's ids are found in the covering index first, so deep pages read only a page of rows.
    page_ids = matching.order_by(*ordering).limit(limit).offset(offset)
    if dialect == "postgresql":
        # id = ANY(ARRAY(ids)): one index probe per id. Joined to the ids instead, PostgreSQL's planner
        # read and hashed every account of the agency for a page of 50 (the API's) at 5 000 accounts:
        # 3.3 ms instead of 0.75 ms.
        page = (sa.select(HostedAccount).where(HostedAccount.id == sa.any_(sa.func.array(page_ids.scalar_subquery())))
                .order_by(*ordering))
    else:  # SQLite: a deferred join, probed by id
        ids = page_ids.subquery()
        page = sa.select(HostedAccount).join(ids, HostedAccount.id == ids.c.id).order_by(*ordering)

    # A search's page of ids and its number of matches, in one query (count(*) OVER). The matches come
    # from the search index first and are sorted after. Left to itself, PostgreSQL's planner guesses a
    # few hundred matches for any 3-letter LIKE and walks the sort key's index through all 100 000
    # accounts of the agency, checking each (200 ms); MATERIALIZED keeps it on the trigram index (the
    # 2 500 matches, then a sort: 30 ms).
    matches = matching.add_columns(SORTS[sort].label("sort_key")).cte("matches")
    if dialect == "postgresql":
        matches = matches.prefix_with("MATERIALIZED")
    direction = sa.desc if order == "desc" else sa.asc
    search_page = (sa.select(matches.c.id, sa.func.count().over().label("total"))
                   .order_by(direction(matches.c.sort_key), direction(matches.c.id)).limit(limit).offset(offset))
    rows_in_order = (AgencyScope.template(HostedAccount)
                     .where(HostedAccount.id.in_(sa.bindparam("page_ids", expanding=True))).order_by(*ordering))
    if light:
        only = sa.orm.load_only(*(getattr(HostedAccount, name) for name in ROW_COLUMNS), raiseload=True)
        page, rows_in_order = page.options(only), rows_in_order.options(only)
    return _Statements(count, page, search_page, rows_in_order)


@dataclass(frozen=True)
class Counts:
    """The agency's account counters (AccountCount), kept by the database as accounts change and read in one
    query of at most a few dozen rows, whatever the agency's size: a view's total without a search and the
    discount's paid accounts both come from them (issue 25: one query for the two)."""

    rows: tuple[tuple[str, str, str, int], ...]  # kind, status, plan_term, n

    def total(self, status: str, plan_types: tuple[str, ...]) -> int:
        terms = set(plan_types) if plan_types and len(plan_types) < len(PLAN_TYPES) else None
        statuses = ACTIVE_STATUSES if status == "active" else ("expired",) if status == "expired" else None
        return sum(n for kind, row_status, term, n in self.rows
                   if kind == "resold" and (terms is None or term in terms)
                   and (statuses is None or row_status in statuses))

    def paid(self) -> int:
        return sum(n for kind, status, term, n in self.rows if counted_as_paid(kind, status, term))


_COUNTS = AgencyScope.template(AccountCount, AccountCount.kind, AccountCount.status, AccountCount.plan_term,
                               AccountCount.n)


def counts(scope: AgencyScope) -> Counts:
    return Counts(tuple(tuple(row) for row in db.session.execute(_COUNTS, scope.params())))


def _total(scope: AgencyScope, view: View, statements: _Statements, params: dict, known: Counts | None) -> int:
    if not view.q:
        return (known or counts(scope)).total(view.status, view.plan_types)
    return db.session.scalar(statements.count, params) or 0


def _prepared(scope: AgencyScope, view: View, page_size: int, light: bool = False):
    dialect = db.session.get_bind().dialect.name
    search = _search_kind(view.q, dialect)
    statements = _statements(view.sort, view.order, view.status, view.plan_types, search, dialect, light)
    params = scope.params(page_limit=page_size, page_offset=(view.page - 1) * page_size,
                          **_search_params(view.q, search))
    return statements, params


def count(scope: AgencyScope, view: View) -> int:
    statements, params = _prepared(scope, view, PAGE_SIZE)
    return _total(scope, view, statements, params, None)


def page(scope: AgencyScope, view: View, page_size: int = PAGE_SIZE, *, known: Counts | None = None,
         light: bool = False) -> Page:
    """One page of the view. Page numbers past the end show the last page. `known`: the agency's counters,
    when the caller has read them already (for the discount too). `light`: the accounts carry only what a
    Resold row shows (ROW_COLUMNS)."""
    statements, params = _prepared(scope, view, page_size, light)
    if len(view.q) >= 3:
        found = db.session.execute(statements.search_page, params).all()
        if found or view.page == 1:
            total = found[0].total if found else 0
            rows = (db.session.scalars(statements.rows_in_order, scope.params(page_ids=[row.id for row in found]))
                    .all() if found else [])
            return Page(view, rows, total, page_size)
    total = _total(scope, view, statements, params, known)
    pages = max(1, math.ceil(total / page_size))
    if view.page > pages:
        view = replace(view, page=pages)
        params["page_offset"] = (pages - 1) * page_size
    rows = db.session.scalars(statements.page, params).all() if total else []
    return Page(view, rows, total, page_size)


def paid_account_count(scope: AgencyScope) -> int:
    """B5's paid accounts, from the agency's counters."""
    return counts(scope).paid()


def summary(scope: AgencyScope, paid: int | None = None) -> Summary:
    catalog = get_catalog()
    paid = paid_account_count(scope) if paid is None else paid
    nxt = catalog.next_discount_tier(paid)
    return Summary(paid, catalog.discount_percent(paid), nxt.percent if nxt else None,
                   nxt.min_paid_accounts - paid if nxt else None)


def price_after_discount(account: HostedAccount, discount_percent: int, *, at_renewal: bool = False,
                         catalog=None) -> int | None:
    """What the account's plan costs the agency today, or with `at_renewal` the plan its next renewal charges
    (a pending downgrade, A8); None for a plan not in the catalog. `catalog`: get_catalog(), when the caller
    prices a whole page."""
    catalog = catalog or get_catalog()
    plan = renewals.next_renewal_plan(account) if at_renewal else (account.plan_tier, account.plan_term,
                                                                   account.contact_limit)
    try:
        listed = catalog.list_price_cents(*plan)
    except (KeyError, ValueError):
        return None
    return catalog.apply_discount(listed, discount_percent)


@dataclass(frozen=True)
class FirstSteps:
    """What a new agency still has to do before its dashboard is of use (issue 19): the greeting on the
    Resold tab lists the three steps until the card is on file and the first account exists."""

    has_card: bool
    has_account: bool
    has_branding: bool

    @property
    def show(self) -> bool:
        return not (self.has_card and self.has_account)


def first_steps(scope: AgencyScope) -> FirstSteps:
    from ..models import BillingProfile, Branding
    has_card = db.session.scalar(scope.select(BillingProfile, BillingProfile.id)) is not None
    # A client's account: the parent account (P1, made with the agency) is not one.
    has_account = db.session.scalar(scope.select(HostedAccount, HostedAccount.id)
                                    .where(HostedAccount.kind != "parent").limit(1)) is not None
    has_branding = db.session.scalar(scope.select(Branding, Branding.id).where(
        Branding.account_id.is_(None),
        sa.or_(Branding.product_name != "", Branding.logo.is_not(None)))) is not None
    return FirstSteps(has_card, has_account, has_branding)
