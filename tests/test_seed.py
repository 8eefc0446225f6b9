"""`credstats seed`: synthetic data at scale, identical for a seed on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select, text

from metrics import rollups
from metrics.catalog import list_groups, resolve_organization
from metrics.parse import parse
from metrics.run import run
from metrics.schema import credentials
from metrics.seed import STEPS, M, SeedPlan, _counter, _people, _recipient, seed
from tests.conftest import Database
from tests.test_cli import credstats
from tests.test_rollups import _rebuilt, _snapshot

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def figures(db: Database, org: str, question: str) -> dict[str, int]:
    with db.engine.connect() as conn:
        organization = resolve_organization(conn, org)
        query = parse(question, now=NOW, catalog=list_groups(conn, organization))
        return dict(run(conn, organization, query, NOW).values)


def test_seed_shapes_the_data(db: Database) -> None:
    counts = seed(db.engine, SeedPlan(5000, 6, 2.0, 7), NOW)
    assert counts["credentials"] == 5000 and counts["organizations"] == 6
    assert abs(counts["events"] - 10_000) < 300  # 2 per credential on average
    a, b = credentials.alias("a"), credentials.alias("b")
    with db.engine.connect() as conn:
        sizes = conn.execute(text("SELECT count(*) FROM credentials GROUP BY organization_id "
                                  "ORDER BY count(*) DESC")).scalars().all()
        late = conn.execute(text(
            "SELECT count(*) FROM engagement_events e JOIN credentials c ON c.id = "
            "e.credential_id WHERE e.occurred_at < c.issued_at")).scalar()
        repeat = conn.execute(text(
            "SELECT count(*) FROM (SELECT recipient_id FROM credentials GROUP BY recipient_id "
            "HAVING count(*) > 1) x")).scalar()
        # events carry their credential's group, drawn by the generator itself
        elsewhere = conn.execute(text(
            "SELECT count(*) FROM engagement_events e JOIN credentials c ON c.id = "
            "e.credential_id WHERE e.group_id IS DISTINCT FROM c.group_id")).scalar()
        # credentials are issued in the order of their rows, a recipient's at any distance
        out_of_order = conn.execute(text(
            "SELECT count(*) FROM credentials a JOIN credentials b ON b.id = a.id + 1 AND "
            "b.organization_id = a.organization_id WHERE b.issued_at < a.issued_at")).scalar()
        pairs = conn.execute(select(a.c.issued_at, b.c.issued_at).where(
            b.c.recipient_id == a.c.recipient_id, b.c.id > a.c.id)).all()
    gaps = sum(1 for first, second in pairs if second - first < timedelta(days=90))
    assert 1000 in sizes  # one organization holds 20%
    assert sizes[-1] < sizes[0] / 3  # and sizes differ widely
    assert late == 0 and repeat and repeat > 500
    assert elsewhere == 0
    assert out_of_order == 0 and gaps and gaps > 0.05 * repeat
    everything = figures(db, "Seed Org 0001", "engagement all time")
    assert 0.3 < everything["opened"] / everything["issued"] < 0.9


def _partial_quotients(p: int, q: int) -> list[int]:
    out = []
    while q:
        out.append(p // q)
        p, q = q, p % q
    return out


def test_draws_spread_over_millions_of_rows(db: Database) -> None:
    """Every stream's step has small partial quotients (a large one gathers the rows in a few
    clusters), and the largest organization of a 10M seed (2 million credentials) draws as many
    of its 1.4 million recipients as random draws would, as the generator's SQL computes it."""
    assert all(max(_partial_quotients(step, M)[1:]) <= 12 for step in STEPS)
    rows, people = 2_000_000, _people(2_000_000)
    with db.engine.connect() as conn:
        drawn = conn.execute(text(
            f"{_counter(conn, rows)} SELECT count(DISTINCT {_recipient('i', 1, people)}) FROM n"
        )).scalar_one()
    # 1.43 draws per recipient at random leave 24% undrawn (e^-1.43)
    assert drawn > 0.75 * people


@pytest.mark.postgres
def test_the_same_seed_gives_the_same_data_on_both_backends(sqlite_db: Database,
                                                            pg_db: Database) -> None:
    plan = SeedPlan(3000, 4, 3.0, 42)
    for db in (sqlite_db, pg_db):
        seed(db.engine, plan, NOW)
    for org in ("Seed Org 0001", "Seed Org 0003"):
        for question in ("engagement all time", "activity last quarter", "groups this year"):
            assert figures(sqlite_db, org, question) == figures(pg_db, org, question)


def test_seed_command(sqlite_db: Database) -> None:
    done = credstats("seed", "--credentials", "2000", "--orgs", "3", "--db", sqlite_db.url)
    assert done.returncode == 0, done.stderr
    assert "3 organizations" in done.stdout and "2,000 credentials" in done.stdout


def test_seed_reports_each_step_and_refuses_what_it_cannot_make(sqlite_db: Database) -> None:
    steps: list[str] = []
    plan = SeedPlan(300, 3, 2.0, 1)
    seed(sqlite_db.engine, plan, NOW, steps.append)
    assert len(steps) == plan.steps  # the progress bar ends full
    refused = credstats("seed", "--credentials", "100", "--events-per-credential", "500",
                        "--db", sqlite_db.url)
    assert refused.returncode != 0
    assert "500 events per credential" in refused.stderr and "--events-per-credential 5" \
        in refused.stderr
    with sqlite_db.engine.connect() as conn:  # nothing written
        assert conn.execute(text("SELECT count(*) FROM organizations")).scalar() == 3


def _schemas(db: Database) -> list[object]:
    """The database's schemas (but PostgreSQL's own, such as a session's temporary one)."""
    with db.engine.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'")).all())


@pytest.mark.postgres
@pytest.mark.parametrize("second_fails", [False, True], ids=["second-connection", "alone"])
def test_a_bulk_load_rebuilds_every_index_and_gives_the_same_data(
        sqlite_db: Database, pg_db: Database, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, second_fails: bool) -> None:
    """A bulk seed (indexes built after the load; the events generated and pre-aggregated by
    a second connection, or by the seed's own when that one fails) gives every index and key
    back, the same answers as SQLite's, and leaves no schema of its own behind."""
    indexes = pg_db.indexes_and_keys
    before = indexes()  # recipients', credentials', events' and the pre-aggregates' too
    assert len(before) >= 30
    assert any("FOREIGN KEY" in str(row) for row in before)
    monkeypatch.setattr("metrics.seed.BULK_MIN", 1000)  # this small seed takes the bulk path
    aggregated: list[list[int]] = []
    rebuild_events = rollups.rebuild_events

    def second(conn: Connection, organization_ids: list[int], *, packed: bool) -> None:
        if second_fails:
            raise RuntimeError("the second connection fails")
        rebuild_events(conn, organization_ids, packed=packed)
        aggregated.append(organization_ids)

    monkeypatch.setattr("metrics.rollups.rebuild_events", second)
    schemas_before = _schemas(pg_db)
    plan = SeedPlan(3000, 4, 3.0, 42)
    seed(pg_db.engine, plan, NOW)
    seed(sqlite_db.engine, plan, NOW)
    assert indexes() == before
    assert len(aggregated) == (0 if second_fails else 1)
    said = "the seed's second connection failed (the second connection fails)"
    assert (said in caplog.text) == second_fails  # never silently slower
    assert _schemas(pg_db) == schemas_before  # the second connection's is gone
    with pg_db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(pg_db)  # every pre-aggregate, as a rebuild's
    for question in ("engagement all time", "activity last quarter", "groups this year"):
        assert figures(sqlite_db, "Seed Org 0001", question) == \
            figures(pg_db, "Seed Org 0001", question)


@pytest.mark.postgres
def test_a_failed_bulk_seed_writes_nothing_and_leaves_no_schema(
        pg_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("metrics.seed.BULK_MIN", 1000)
    monkeypatch.setattr("metrics.seed._credentials", failing)  # while the second one works
    before = _schemas(pg_db)
    with pytest.raises(RuntimeError, match="the disk is full"):
        seed(pg_db.engine, SeedPlan(3000, 4, 3.0, 42), NOW)
    assert _schemas(pg_db) == before
    with pg_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM organizations")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM engagement_events")).scalar() == 0


@pytest.mark.postgres
def test_the_seed_command_loads_in_bulk_with_its_second_connection(pg_db: Database) -> None:
    """`credstats seed` past the bulk threshold, through the real CLI on PostgreSQL: the second
    connection works (it says so when it fails), leaves no schema, and every pre-aggregate is
    a rebuild's."""
    before = _schemas(pg_db)
    done = credstats("seed", "--credentials", "100000", "--orgs", "3",
                     "--events-per-credential", "1", "--db", pg_db.url)
    assert done.returncode == 0, done.stderr
    assert "100,000 credentials" in done.stdout and "3 organizations" in done.stdout
    assert "second connection failed" not in done.stderr
    assert _schemas(pg_db) == before
    with pg_db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(pg_db)
