"""Foundation: catalog, models, schema, operations."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from webapp.catalog import CatalogError, load_catalog
from webapp.models import Agency, HostedAccount, Operation, utcnow
from webapp.services.dates import add_months

from .helpers import make_account, make_agency


def test_catalog_loads_prices_from_the_data_file(app):
    catalog = app.extensions["catalog"]
    assert catalog.list_price_cents("plus", "monthly", 1000) == 7000
    assert catalog.list_price_cents("plus", "annual", 1000) == 70000
    assert catalog.list_price_cents("lite", "trial", 500) == 0
    with pytest.raises(ValueError):
        catalog.list_price_cents("lite", "monthly", 1234)
    with pytest.raises(ValueError):
        catalog.list_price_cents("lite", "trial", 100000)
    assert catalog.discount_percent(0) == 0
    assert catalog.discount_percent(5) == 10
    assert catalog.discount_percent(24) == 10
    assert catalog.discount_percent(25) == 15
    assert catalog.next_discount_tier(22).min_paid_accounts == 25
    assert catalog.apply_discount(7000, 15) == 5950
    assert catalog.apply_discount(999, 15) == 849  # 149.85 rounds to 150 off


def test_catalog_refuses_an_inconsistent_file(tmp_path, app):
    bad = tmp_path / "catalog.toml"
    text = open(app.config["CATALOG_PATH"]).read().replace("monthly = [1500, 2900,", "monthly = [2900,", 1)
    bad.write_text(text)
    with pytest.raises(CatalogError, match="one price per contact limit"):
        load_catalog(str(bad))


@pytest.mark.parametrize("start, months, anchor, expected", [
    (date(2026, 1, 31), 1, 31, date(2026, 2, 28)),
    (date(2026, 2, 28), 1, 31, date(2026, 3, 31)),
    (date(2026, 4, 30), 1, 31, date(2026, 5, 31)),
    (date(2024, 2, 29), 12, 29, date(2025, 2, 28)),
    (date(2026, 11, 15), 2, None, date(2027, 1, 15)),
    (date(2026, 3, 31), -1, 31, date(2026, 2, 28)),
])
def test_renewal_days_stay_on_the_anchor_day(start, months, anchor, expected):
    assert add_months(start, months, anchor) == expected


def test_migrations_match_the_models(app_ctx, db):
    """The migrated schema (SQLite or PostgreSQL, whichever this run uses) is what the models say."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    search_objects = _dialect_search_objects()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": False,
            "include_name": lambda name, type_, parents: name not in search_objects})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []


def _dialect_search_objects() -> set[str]:
    """The names migrations/env.py leaves to hand-written, per-dialect DDL."""
    import ast
    from pathlib import Path
    tree = ast.parse((Path(__file__).resolve().parents[1] / "migrations" / "env.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "DIALECT_SEARCH_OBJECTS":
            return set(ast.literal_eval(node.value))
    raise AssertionError("DIALECT_SEARCH_OBJECTS is gone from migrations/env.py")


def test_names_and_domains_are_unique_platform_wide(app_ctx, db):
    a, _ = make_agency("A")
    b, _ = make_agency("B")
    make_account(a, "shared-name", custom_domain="mail.example.com", custom_domain_verified_at=utcnow())
    with pytest.raises(sa.exc.IntegrityError):
        make_account(b, "shared-name")
    db.session.rollback()
    make_account(b, "waiting-name", custom_domain="mail.example.com")  # unverified: it claims nothing
    with pytest.raises(sa.exc.IntegrityError):
        make_account(b, "other-name", custom_domain="mail.example.com", custom_domain_verified_at=utcnow())
    db.session.rollback()


def test_status_and_plan_values_are_checked_by_the_database(app_ctx, db):
    agency, _ = make_agency()
    with pytest.raises((sa.exc.IntegrityError, sa.exc.StatementError, LookupError)):
        make_account(agency, status="deleted")
    db.session.rollback()


def test_times_are_stored_in_utc_and_read_back_aware(app_ctx, db):
    agency, _ = make_agency()
    paris = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    account = make_account(agency, created_at=paris)
    db.session.expire_all()
    stored = db.session.get(HostedAccount, account.id).created_at
    assert stored == datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
    assert stored.tzinfo is not None
    with pytest.raises(sa.exc.StatementError):
        make_account(agency, created_at=datetime(2026, 1, 1))  # naive: refused
    db.session.rollback()


def test_one_parent_account_per_agency(app_ctx, db):
    agency, _ = make_agency()
    make_account(agency, "parent-one", kind="parent")
    with pytest.raises(sa.exc.IntegrityError):
        make_account(agency, "parent-two", kind="parent")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Agency.id))) == 1
