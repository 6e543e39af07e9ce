"""The one way to read an agency's data: every query goes through AgencyScope, so another
agency's id is simply not found (404), whatever the caller asks for."""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import HostedAccount
from .errors import NotFound


# Ids are INTEGER columns: PostgreSQL refuses a larger number with an error, not an empty answer.
MAX_ID = 2**31 - 1


# Lists page with OFFSET; no list of ours has a million pages.
MAX_PAGE = 10**6


def parse_page(value) -> int:
    """A page number from a URL: a whole number from 1 (capped at MAX_PAGE); anything else is page 1.
    A page past a list's end is that list's to clamp."""
    try:
        return max(1, min(int(str(value), 10), MAX_PAGE))
    except (TypeError, ValueError):
        return 1


def parse_id(value) -> int:
    """A positive database id from a URL or JSON value; anything else is not found."""
    try:
        ident = int(str(value), 10)
    except (TypeError, ValueError):
        raise NotFound() from None
    if ident <= 0 or ident > MAX_ID:
        raise NotFound()
    return ident


AGENCY_PARAM = "scope_agency_id"


class AgencyScope:
    def __init__(self, agency_id: int):
        if not agency_id:
            raise ValueError("an agency scope needs an agency")
        self.agency_id = agency_id

    def select(self, model, *columns):
        """SELECT of `model` (or some of its columns) limited to this agency's rows."""
        stmt = sa.select(*columns) if columns else sa.select(model)
        return stmt.where(model.agency_id == self.agency_id)

    @staticmethod
    def template(model, *columns):
        """`select` for a statement built once and run many times: the agency is a parameter, given
        by `params()` each time it runs (without it the statement fails; it never reads every agency)."""
        stmt = sa.select(*columns) if columns else sa.select(model)
        return stmt.where(model.agency_id == sa.bindparam(AGENCY_PARAM, type_=sa.Integer))

    def params(self, **values) -> dict:
        """The parameters of a `template` statement for this agency."""
        return {AGENCY_PARAM: self.agency_id, **values}

    def get(self, model, ident):
        row = db.session.scalar(self.select(model).where(model.id == parse_id(ident)))
        if row is None:
            raise NotFound()
        return row

    def accounts(self):
        """The agency's hosted accounts, the parent account included."""
        return self.select(HostedAccount)

    def account(self, ident) -> HostedAccount:
        return self.get(HostedAccount, ident)
