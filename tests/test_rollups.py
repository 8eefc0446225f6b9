"""The pre-aggregates: answers from them equal the raw computation, on both backends, in any
timezone; every write path keeps them equal to a rebuild from scratch."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    case,
    func,
    inspect,
    literal,
    select,
    text,
)

from metrics import fast, rollups
from metrics.catalog import list_groups, list_organizations, resolve_organization
from metrics.db import HEAD_REVISION, upgrade
from metrics.definitions import ENGAGEMENT_STEPS, EventType
from metrics.importer import import_files
from metrics.parse import parse
from metrics.rollups import ORG
from metrics.run import run
from metrics.schema import (
    UTCDateTime,
    credential_crossings,
    credential_links,
    credentials,
    engagement_events,
    rollup_state,
)
from metrics.seed import SeedPlan, seed
from tests.conftest import SEEDED_AT, Database
from tests.test_cli import credstats

NOW = SEEDED_AT

QUESTIONS = (
    "summary",
    "issued last quarter",
    "issued yesterday",
    "recipients all time",
    "recipients last 30 days",
    "recipients since 2025",
    "recipients 2025 vs:year",
    "engagement last quarter",
    "engagement this year by:month",
    "engagement group:P01 last quarter by:week",
    "groups last quarter",
    "groups all time",
    "compare P01 vs P02 last quarter",
    "issued last 12 weeks by:week",
    "issued group:P02 all time by:quarter",
    "activity last quarter",
    "activity group:P01 this month by:day",
    "issued group:P01 group:P03 this year",  # several groups: distinct across them
    "recipients group:P01 group:P02 group:P03 last quarter by:week",
    "engagement kind:badge last quarter",  # kinds are not rolled up (raw)
)
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham")


def _answers(conn: Connection, org_name: str, question: str, tz: str, now: datetime
             ) -> tuple[object, object]:
    org = resolve_organization(conn, org_name)
    query = parse(question, now=now, tz=tz, catalog=list_groups(conn, org))
    return run(conn, org, query, now), run(conn, org, query, now, rollups=False)


def test_answers_from_rollups_equal_the_raw_computation(synthetic: Database) -> None:
    with synthetic.engine.connect() as conn:
        orgs = [o.name for o in list_organizations(conn)]
        checked = 0
        for org in (orgs[0], orgs[3]):
            for question in QUESTIONS:
                for tz in ZONES:
                    fast, raw = _answers(conn, org, question, tz, NOW)
                    assert fast == raw, (org, question, tz)
                    checked += 1
        # a figure that is not zero everywhere, so the comparison means something
        fast, _ = _answers(conn, orgs[0], "engagement last quarter", "Asia/Kolkata", NOW)
        assert fast.values["issued"] > 50 and 0 < fast.values["recipients"] < fast.values["issued"]  # type: ignore[attr-defined]
    assert checked == 2 * len(QUESTIONS) * len(ZONES)


def _random_windows(rng: random.Random, count: int) -> list[fast.Window]:
    """Windows of an hour to half a year, starting at midnights, whole hours, :30, :45 and
    anywhere (seconds), some open at one end."""
    out = []
    for k in range(count):
        start = NOW - timedelta(days=rng.randrange(1, 700))
        start = start.replace(hour=rng.randrange(24), minute=0, second=0)
        start += rng.choice((timedelta(0), timedelta(0), timedelta(minutes=30),
                             timedelta(minutes=45), timedelta(seconds=rng.randrange(3600))))
        if rng.random() < 0.15:
            start = start.replace(hour=0, minute=0, second=0)
        length = timedelta(hours=rng.choice((1, 5, 11, 13, 19, 23, 25, 30, 47, 49)),
                           minutes=rng.choice((0, 0, 30, 45)))
        if rng.random() < 0.5:
            length += timedelta(days=rng.randrange(1, 180))
        end = start + length
        kind = rng.random()
        out.append(fast.Window(k, None if kind < 0.07 else start,
                               None if 0.07 <= kind < 0.14 else end))
    return out


def _raw(conn: Connection, level: fast.Level, w: fast.Window, table: Table, time: str,
         distinct: str, sums: dict[str, ColumnElement[bool]]) -> dict[int, dict[str, int]]:
    """Per member of the level: rows, distinct `distinct` and `sums` in the window, counted
    from the raw rows."""
    t = table.c
    key = {"org": literal(ORG), "groups": t.group_id, "orgs": t.organization_id}[level.mode]
    where = []
    if level.mode != "orgs":
        where.append(t.organization_id == level.org_id)
    if level.mode == "groups":
        where.append(t.group_id.in_(level.group_ids or ()))
    if level.mode == "orgs":
        where.append(t.organization_id.in_(level.org_ids or ()))
    if w.start is not None:
        where.append(t[time] >= w.start)
    if w.end is not None:
        where.append(t[time] < w.end)
    stmt = (select(key, func.count(), func.count(func.distinct(t[distinct])),
                   *(func.coalesce(func.sum(case((cond, 1), else_=0)), 0)
                     for cond in sums.values()))
            .where(*where).group_by(key))
    return {row[0]: dict(zip(("rows", "distinct", *sums), row[1:], strict=True))
            for row in conn.execute(stmt)}


def _check_windows(conn: Connection, org_name: str, windows: list[fast.Window]
                   ) -> tuple[int, int]:
    """Cohorts and activity of the windows at once, at each level, against the raw rows;
    and the unique recipients of several groups together; returns how many (window, member)
    figures have repeat recipients, and how many windows' groups share recipients."""
    cc, ec = credentials.c, engagement_events.c
    steps = {s.key: cc.steps.op("&")(1 << i) != 0 for i, s in enumerate(ENGAGEMENT_STEPS)}
    types = {t.value: ec.event_type == t.value for t in EventType}
    orgs = list_organizations(conn)
    org = resolve_organization(conn, org_name)
    groups = tuple(g.id for g in list_groups(conn, org))
    levels = [fast.Level(org.id, None), fast.Level(org.id, groups),
              fast.Level(org.id, groups[:1]),
              fast.Level(org.id, None, org_ids=tuple(o.id for o in orgs))]
    execute = lambda stmt, params: conn.execute(stmt, params).all()  # noqa: E731
    repeats = 0
    for level in levels:
        cohorts = fast.cohort(execute, conn, level, windows, engagement=True)
        touched = fast.activity(execute, conn, level, windows)
        for w in windows:
            raw = _raw(conn, level, w, credentials, "issued_at", "recipient_id", steps)
            events = _raw(conn, level, w, engagement_events, "occurred_at", "credential_id",
                          types)
            for member in level.members:
                want = raw.get(member, {})
                got = cohorts[(w.k, member)]
                assert got == {"issued": want.get("rows", 0),
                               "recipients": want.get("distinct", 0),
                               **{s: want.get(s, 0) for s in steps}}, (level.mode, w)
                want = events.get(member, {})
                assert touched[(w.k, member)] == {
                    "events": want.get("rows", 0), "credentials": want.get("distinct", 0),
                    **{t: want.get(t, 0) for t in types}}, (level.mode, w)
                repeats += bool(got["issued"]) and got["recipients"] < got["issued"]
    shared = 0
    for chosen in (groups[:2], groups[1:4], (groups[0], groups[-1])):
        # several groups at once: each group's recipients less those the groups share
        level = fast.Level(org.id, chosen)
        cohorts = fast.cohort(execute, conn, level, windows, engagement=False)
        crossed = fast.crossed(execute, conn, level, windows)
        for w in windows:
            together = sum(cohorts[(w.k, g)]["recipients"] for g in chosen) - crossed[w.k]
            assert together == _union(conn, org.id, chosen, w), (chosen, w)
            shared += crossed[w.k] > 0
    return repeats, shared


def _union(conn: Connection, org_id: int, group_ids: tuple[int, ...], w: fast.Window) -> int:
    """The distinct recipients of the groups' credentials in the window, from the raw rows."""
    cc = credentials.c
    where = [cc.organization_id == org_id, cc.group_id.in_(group_ids)]
    if w.start is not None:
        where.append(cc.issued_at >= w.start)
    if w.end is not None:
        where.append(cc.issued_at < w.end)
    count: int = conn.execute(select(func.count(func.distinct(cc.recipient_id))).where(*where)
                              ).scalar_one()
    return count


def test_any_window_from_the_rollups_equals_the_raw_rows(synthetic: Database) -> None:
    """Cohorts and activity of many windows at once (every cut of a range: whole days, hours,
    raw edges added or taken away, previous rows on either side of the links' first midnight),
    at each level, equal the counts over the raw rows."""
    windows = _random_windows(random.Random(20261130), 40)
    with synthetic.engine.connect() as conn:
        repeats, shared = _check_windows(conn, "Seed Org 0001", windows)
    assert repeats > 50 and shared > 15


def test_windows_over_dense_hours_equal_the_raw_rows(db: Database, tmp_path: Path) -> None:
    """The same over a few days of dense data: recipients with a credential every few hours,
    credentials with events every few hours, so that every part of a cut has rows whose
    previous row is in another part (a row after the range whose previous row is in the hours
    before the links' first midnight, and so on), and windows that start and end at the very
    instant of a credential."""
    rng = random.Random(7)
    base = datetime(2026, 3, 10, tzinfo=UTC)
    moments = [base + timedelta(seconds=rng.randrange(5 * 86400)) for _ in range(700)]
    creds = [[f"C{i}", ("CPA", "CFA", "DSB")[i % 3], f"p{rng.randrange(15)}@x.example",
              at.strftime("%Y-%m-%dT%H:%M:%SZ")] for i, at in enumerate(moments[:300])]
    for i in range(0, 300, 20):  # the same recipient at the same instant in another group
        creds.append([f"T{i}", "CFA" if creds[i][1] == "CPA" else "CPA", *creds[i][2:]])
    events = [[f"E{i}", f"C{rng.randrange(40)}",
               rng.choice(("view", "pdf_download", "linkedin_share", "linkedin_profile_add")),
               (at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               ("owner", "guest")[i % 2]] for i, at in enumerate(moments[300:])]
    import_files(db.engine, "Acme", _write(tmp_path / "c.csv", CRED_HEADER, creds),
                 _write(tmp_path / "e.csv", EVENT_HEADER, events), now=NOW)
    windows = []
    for k in range(60):
        start = base + timedelta(minutes=15 * rng.randrange(6 * 96))
        end = start + timedelta(minutes=15 * rng.randrange(1, 3 * 96))
        windows.append(fast.Window(k, None if k % 13 == 0 else start,
                                   None if k % 17 == 0 else end))
    issued = sorted(moments[:300])
    for k in range(60, 90):  # from and to the very instant of a credential
        first = rng.randrange(250)
        windows.append(fast.Window(k, issued[first], issued[first + rng.randrange(1, 50)]))
    with db.engine.connect() as conn:
        repeats, shared = _check_windows(conn, "Acme", windows)
    assert repeats > 100 and shared > 100


@pytest.mark.parametrize("hourly", [True, False])
def test_a_cut_reads_at_most_12_hours_of_raw_rows_per_edge(hourly: bool) -> None:
    """Whatever a range's start and end, the raw rows an answer reads (the edges of a range
    without hourly rollups, and the previous rows between its start and the links' first
    midnight) cover at most 12 hours of any UTC day; the cut still covers the range exactly."""
    for window in _random_windows(random.Random(5), 400):
        w = window if hourly else window.daily()
        cut = w.cut()
        raw: dict[int, timedelta] = {}  # per UTC day
        for lo, hi, _, _ in cut.edges:
            while lo < hi:
                day = (lo - fast.EPOCH).days
                end = min(hi, fast.day_at(day + 1))
                raw[day] = raw.get(day, timedelta(0)) + (end - lo)
                lo = end
        assert all(hours <= timedelta(hours=12) for hours in raw.values()), w
        if cut.partial is not None:
            plo, phi, *_ = cut.partial
            assert phi - plo <= timedelta(hours=12), w
        if w.start is None or w.end is None or cut.days is None:
            continue
        # what the cut counts: its whole days and hours, plus edges added, less edges taken
        # away, is the range
        counted = timedelta(days=cut.days[1] - cut.days[0]) + \
            sum((timedelta(hours=hi - lo) for lo, hi in cut.hours), timedelta(0)) + \
            sum(((hi - lo) * sign for lo, hi, _, sign in cut.edges), timedelta(0))
        assert counted == w.end - w.start, w


def test_the_rollup_path_reads_rollups_and_no_event_probe(synthetic: Database) -> None:
    with synthetic.engine.connect() as conn:
        fast, raw = _answers(conn, "Seed Org 0001", "engagement last quarter",
                             "America/New_York", NOW)
    assert any("credential_days" in s for s in fast.sql)  # type: ignore[attr-defined]
    assert any("credential_links" in s for s in fast.sql)  # type: ignore[attr-defined]
    assert not any("engagement_events" in s for s in fast.sql)  # type: ignore[attr-defined]
    assert not any("credential_days" in s for s in raw.sql)  # type: ignore[attr-defined]


def test_a_moment_before_the_latest_event_is_answered_from_raw_rows(synthetic: Database) -> None:
    earlier = NOW - timedelta(days=20)
    with synthetic.engine.connect() as conn:
        fast, raw = _answers(conn, "Seed Org 0001", "engagement last quarter", "UTC", earlier)
    assert fast == raw
    assert not any("credential_days" in s for s in fast.sql)  # type: ignore[attr-defined]


def test_the_packed_sort_key_orders_rows_as_their_keys_do(synthetic: Database) -> None:
    """Rollup rows are inserted in key order, sorted on PostgreSQL by organization, group and
    hour packed into one bigint (several times faster than by the columns; an index built after
    a bulk load then finds them sorted): that order must be the key's."""
    with synthetic.engine.connect() as conn:
        order = rollups._KeyOrder(conn)
        assert order.packed == (conn.dialect.name == "postgresql")
        for table in (*rollups.ROLLUPS, *rollups.HOURLY):
            keys = list(table.primary_key.columns)
            stored = [tuple(r) for r in conn.execute(select(*keys).order_by(*order(keys)))]
            assert len({r[0] for r in stored}) == 7
            # groups by day; only organizations (group 0) by hour
            groups = {r[1] for r in stored}
            assert len(groups) > 20 if table in rollups.ROLLUPS else groups == {0}, table.name
            assert stored == sorted(stored), table.name


# -- every write path keeps the rollups equal to a rebuild ---------------------------------------

def _snapshot(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    out: dict[str, list[tuple[object, ...]]] = {}
    for table in (*rollups.ROLLUPS, *rollups.HOURLY, credential_crossings, rollup_state):
        out[table.name] = sorted(tuple(r) for r in conn.execute(select(table)))
    cc, ec = credentials.c, engagement_events.c
    out["facts"] = sorted(tuple(r) for r in conn.execute(
        select(cc.id, cc.steps, cc.org_prev_at, cc.group_prev_at)))
    out["event facts"] = sorted(tuple(r) for r in conn.execute(select(ec.id, ec.prev_at)))
    return out


def _rebuilt(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """The rollups recomputed from scratch (rolled back afterwards)."""
    with db.engine.connect() as conn, conn.begin() as tx:
        for table in (*rollups.ROLLUPS, *rollups.HOURLY, credential_crossings, rollup_state):
            conn.execute(table.delete())
        conn.execute(credentials.update().values(steps=0, org_prev_at=None, group_prev_at=None))
        conn.execute(engagement_events.update().values(prev_at=None))
        rollups.rebuild(conn, [o.id for o in list_organizations(conn)])
        snapshot = _snapshot(conn)
        tx.rollback()
    return snapshot


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


CRED_HEADER = ["credential_id", "group", "recipient_email", "issued_at"]
EVENT_HEADER = ["event_id", "credential_id", "event", "occurred_at", "actor"]


def test_imports_keep_rollups_equal_to_a_rebuild(db: Database, tmp_path: Path) -> None:
    # several recipients with several credentials across groups and UTC days
    creds = [[f"C{i}", ("CPA", "CFA", "DSB")[i % 3], f"p{i % 7}@x.example",
              f"2026-0{1 + i % 9}-{10 + i % 17}T{(i * 5) % 24:02d}:30:00Z"] for i in range(60)]
    events = [[f"E{i}", f"C{i % 60}", ("view", "pdf_download", "linkedin_share")[i % 3],
               f"2026-10-{1 + i % 28:02d}T{(i * 7) % 24:02d}:15:00Z", ("owner", "guest")[i % 2]]
              for i in range(90)]
    import_files(db.engine, "Acme", _write(tmp_path / "c1.csv", CRED_HEADER, creds),
                 _write(tmp_path / "e1.csv", EVENT_HEADER, events), now=NOW)
    with db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(db)
        assert conn.execute(select(credential_links)).first() is not None  # repeats exist

    # a second import moves credentials between days, groups and recipients, adds and
    # changes events, and adds a recipient's earlier credential (its later ones' facts change)
    creds2 = [row[:] for row in creds[:20]]
    creds2[0][3] = "2025-12-31T23:59:59Z"  # earlier than everything of p0
    creds2[1][1] = "DSB"
    creds2[2][2] = "p6@x.example"
    creds2.append(["C100", "CPA", "P3@X.example", "2026-01-01T00:00:00Z"])
    creds2 += [[f"C{101 + i}", "CPA", f"p{5 + i // 2}@x.example",  # two on a day, twice
                f"2026-0{3 + i // 2}-03T0{i}:00:00Z"] for i in range(4)]
    events2 = [row[:] for row in events[:10]]
    events2[0][2] = "linkedin_profile_add"
    events2[1][3] = "2026-11-01T00:00:00Z"
    events2.append(["E900", "C100", "view", "2026-02-01T10:00:00Z", "owner"])
    import_files(db.engine, "Acme", _write(tmp_path / "c2.csv", CRED_HEADER, creds2),
                 _write(tmp_path / "e2.csv", EVENT_HEADER, events2), now=NOW)
    with db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(db)

    # a third adds later credentials of the same recipients only: the recomputed days are the
    # last ones, next to links rows of the same gaps on days before them
    creds3 = [[f"C{200 + i}", "CPA", f"p{i // 2}@x.example", f"2026-11-2{i // 4}T{i:02d}:00:00Z"]
              for i in range(14)]  # pairs on a day: links of gap 0, as in March and April
    import_files(db.engine, "Acme", _write(tmp_path / "c3.csv", CRED_HEADER, creds3), now=NOW)
    with db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(db)
        later = NOW + timedelta(days=1)
        for question in QUESTIONS[:12]:
            for tz in ("UTC", "Asia/Kolkata"):
                if "P0" in question or "kind" in question:
                    continue
                fast, raw = _answers(conn, "Acme", question, tz, later)
                assert fast == raw, (question, tz)


def test_seed_into_a_database_with_data_keeps_rollups_exact(db: Database) -> None:
    seed(db.engine, SeedPlan(1500, 2, 2.0, 3), NOW)
    seed(db.engine, SeedPlan(1500, 3, 2.0, 4), NOW)
    with db.engine.connect() as conn:
        assert len(list_organizations(conn)) == 5
        assert _snapshot(conn) == _rebuilt(db)


@pytest.mark.postgres
def test_concurrent_imports_into_one_organization_keep_rollups_exact(pg_db: Database,
                                                                      tmp_path: Path) -> None:
    """Two imports at once recompute overlapping days: they take turns (an advisory lock per
    organization), both land, and the rollups equal a rebuild."""
    import_files(pg_db.engine, "Acme", _write(tmp_path / "c0.csv", CRED_HEADER, [
        ["C0", "CPA", "p0@x.example", "2026-03-01T10:00:00Z"]]), None, now=NOW)
    batches = []
    for b in range(2):
        creds = [[f"B{b}-{i}", ("CPA", "CFA")[i % 2], f"p{i % 5}@x.example",
                  f"2026-03-{1 + i % 9:02d}T{(i * 7) % 24:02d}:00:00Z"] for i in range(40)]
        events = [[f"E{b}-{i}", f"B{b}-{i}", "view", f"2026-03-{2 + i % 9:02d}T12:00:00Z",
                   "owner"] for i in range(40)]
        batches.append((_write(tmp_path / f"c{b}.csv", CRED_HEADER, creds),
                        _write(tmp_path / f"e{b}.csv", EVENT_HEADER, events)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda files: import_files(pg_db.engine, "Acme", *files, now=NOW),
                             batches))
    assert [d.credentials_new for d in done] == [40, 40]
    with pg_db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(pg_db)


@contextmanager
def _downgraded(db: Database, revision: str) -> Iterator[Connection]:
    """A transaction that took the database down to `revision` (committed when the block
    ends)."""
    config = Config()
    config.set_main_option("script_location", "metrics:migrations")
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        yield conn


@pytest.mark.parametrize("revision", ["0007", "0004"])
def test_an_upgrade_rebuilds_what_the_migrations_emptied(synthetic: Database,
                                                         revision: str) -> None:
    """A database with data, at an older revision (0007: before the event types moved into
    touch_days' columns; 0004: before any rollup or fact), upgraded to the head: the facts and
    rollups are rebuilt in the upgrade's transaction and equal a rebuild from scratch, and the
    answers read them again."""
    with synthetic.engine.connect() as conn:
        before = _snapshot(conn)
    with _downgraded(synthetic, revision) as conn:
        assert not inspect(conn).has_table("rollup_state") \
            or not conn.execute(select(func.count()).select_from(rollup_state)).scalar()
    upgrade(synthetic.engine)
    with synthetic.engine.connect() as conn:
        assert _snapshot(conn) == before
        assert conn.execute(select(func.count()).select_from(rollup_state)).scalar() == 7
        fast, raw = _answers(conn, "Seed Org 0001", "activity last quarter",
                             "America/New_York", NOW)
    assert fast == raw
    assert any("touch_days" in s for s in fast.sql)  # type: ignore[attr-defined]


def test_the_upgrade_to_0010_fills_the_links_up_to_a_gap(synthetic: Database) -> None:
    """Migration 0010 computes `credential_links.upto` from the stored links rows (no rebuild):
    equal to what the rollups write."""
    with synthetic.engine.connect() as conn:
        before = _snapshot(conn)
    with _downgraded(synthetic, "0009") as conn:
        assert "upto" not in {c["name"] for c in inspect(conn).get_columns("credential_links")}
    assert upgrade(synthetic.engine) == []  # nothing rebuilt
    with synthetic.engine.connect() as conn:
        assert _snapshot(conn) == before
        assert conn.execute(select(func.max(credential_links.c.upto))).scalar_one() > \
            conn.execute(select(func.max(credential_links.c.links))).scalar_one()


def test_the_upgrade_to_0011_fills_the_crossings(synthetic: Database) -> None:
    """Migration 0011 computes `credential_crossings` from the stored credentials and their
    facts (no rebuild): equal to what the rollups write."""
    with synthetic.engine.connect() as conn:
        before = _snapshot(conn)
    assert len(before["credential_crossings"]) > 100
    with _downgraded(synthetic, "0010") as conn:
        assert not inspect(conn).has_table("credential_crossings")
    assert upgrade(synthetic.engine) == []  # nothing rebuilt
    with synthetic.engine.connect() as conn:
        assert _snapshot(conn) == before


EDGE_INSTANTS = ("1969-12-31 23:59:59.999999", "1970-01-01 00:00:00", "1955-06-01 12:30:00",
                 "2026-03-08 06:59:59.999999", "2026-03-08 07:00:00", "2199-12-31 23:59:59.999999")


def test_utc_day_and_hour_are_floors_of_the_time_since_1970(db: Database) -> None:
    """The rollups' day and hour numbers, in SQL, equal Python's floor division of the time
    since 1970-01-01 UTC, at the edges of days and hours and before 1970, whatever the
    session's timezone."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    with db.engine.connect() as conn:
        if db.backend == "postgresql":
            conn.exec_driver_sql("SET TIME ZONE 'Asia/Kathmandu'")
        for text_ in EDGE_INSTANTS:
            instant = datetime.fromisoformat(text_).replace(tzinfo=UTC)
            value = literal(instant, UTCDateTime())
            day, hour = conn.execute(select(rollups.utc_day(value), rollups.utc_hour(value))).one()
            since = instant - epoch
            assert (day, hour) == (since // timedelta(days=1), since // timedelta(hours=1)), text_


def test_a_large_import_renews_the_statistics_of_the_facts(pg_db: Database,
                                                            tmp_path: Path) -> None:
    """After a write that changes many rows' facts, the planner sees them: with the statistics
    taken before (every org_prev_at null), the rollups' recompute read an index of the
    credentials with a previous one once per marked day (200,000 credentials: 40 s)."""
    n = 2 * rollups.ANALYZE_AFTER + 2000  # half of them get a previous credential
    rows = [[f"C{i}", "Program", f"p{i % (n // 2)}@x.org",
             (datetime(2024, 1, 1) + timedelta(hours=i)).isoformat() + "Z"] for i in range(n)]
    import_files(pg_db.engine, "Large", _write(tmp_path / "c.csv", CRED_HEADER, rows), None,
                 now=NOW)
    with pg_db.engine.connect() as conn:
        null_frac = conn.execute(text(
            "SELECT null_frac FROM pg_stats WHERE schemaname = current_schema() "
            "AND tablename = 'credentials' AND attname = 'org_prev_at'")).scalar_one()
    assert 0.4 < null_frac < 0.6  # half the recipients' credentials have a previous one


def test_the_upgrade_command_says_what_it_rebuilds(synthetic: Database) -> None:
    with _downgraded(synthetic, "0007"):
        pass
    done = credstats("db", "upgrade", "--db", synthetic.url)
    assert done.returncode == 0, done.stderr
    assert f"from schema revision 0007 to {HEAD_REVISION}" in done.stderr
    assert "Rebuilt the pre-aggregates of 7 organizations" in done.stdout
    again = credstats("db", "upgrade", "--db", synthetic.url)  # nothing left to do
    assert again.returncode == 0 and "Rebuilt" not in again.stdout and not again.stderr
    with synthetic.engine.connect() as conn:
        fast, raw = _answers(conn, "Seed Org 0002", "engagement last quarter", "Asia/Kolkata",
                             NOW)
    assert fast == raw
