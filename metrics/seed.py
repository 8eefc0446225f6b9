"""Synthetic data at scale: `credstats seed`. Many organizations of very different sizes (the
largest holds ~20% of all credentials), groups, repeat recipients and engagement events.

Everything is generated inside the database by set-based INSERT ... SELECT statements over a
recursive row counter, with a deterministic integer hash of (row, stream, seed) in place of a
random generator, so the same seed gives the same data on PostgreSQL and SQLite alike, and no
row passes through Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    func,
    insert,
    select,
    text,
)

from metrics import rollups
from metrics.db import BULK_MIN, indexes_after
from metrics.definitions import EventType
from metrics.schema import credentials, engagement_events, groups, organizations, recipients

M = 4294967296  # 2^32
YEARS = 3


@dataclass(frozen=True)
class SeedPlan:
    credentials: int
    orgs: int
    events_per_credential: float
    seed: int

    @property
    def steps(self) -> int:
        """How many times `seed` reports progress."""
        return self.orgs + 7

    def org_sizes(self) -> list[int]:
        """Very different sizes: the first ~20% of all credentials, the rest Zipf-like."""
        if self.orgs == 1:
            return [self.credentials]
        largest = round(self.credentials * 0.2)
        # from rank 2 on: with a few dozen organizations the 20% one stays the largest
        weights = [1 / (rank + 2) ** 1.1 for rank in range(self.orgs - 1)]
        rest = self.credentials - largest
        sizes = [max(1, int(rest * w / sum(weights))) for w in weights]
        sizes[0] += rest - sum(sizes)
        return [largest, *sizes]


def _draw(i: str, stream: int, seed: int) -> str:
    """An integer in [0, 2^32) for row `i`: the Weyl sequence i * frac(sqrt(p)) of a prime per
    stream (rationally independent steps, so the streams are uncorrelated), shifted by the seed.
    Integer arithmetic only, which PostgreSQL and SQLite compute identically (i < 2^31)."""
    prime = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)[stream]
    step = int((prime ** 0.5 % 1) * M) | 1
    shift = (seed * 2654435761 + stream * 40503) % M
    return f"((({i}) * {step} + {shift}) % {M})"


def _draw_square(i: str, stream: int, seed: int) -> str:
    """Like _draw, but of i^2 mod a prime: not linear in i, so uncorrelated with the linear
    streams even along the row differences where two of those repeat together (without it a
    recipient's credentials never shared a group)."""
    return _draw(f"(({i}) * ({i})) % 1000003", stream, seed)


def _below(i: str, stream: int, seed: int, p: float) -> str:
    """True with probability p."""
    return f"{_draw(i, stream, seed)} < {int(p * M)}"


def _pick(i: str, stream: int, seed: int, n: int) -> str:
    """An integer in [0, n), uniform (integer division truncates on both backends)."""
    return f"({_draw(i, stream, seed)} * {n} / {M})"


def _skewed(i: str, streams: tuple[int, int], seed: int, n: int, *, high: bool) -> str:
    """An integer in [0, n): the larger (or smaller) of two uniform draws, so values lean to n
    (or to 0) with a linear density."""
    a, b = (_draw(i, s, seed) for s in streams)
    op = ">" if high else "<"
    return f"((CASE WHEN {a} {op} {b} THEN {a} ELSE {b} END) * {n} / {M})"


def _padded(conn: Connection, i: str) -> str:
    """i as ten digits: ids in the order of their rows keep a unique index's inserts at its
    right edge."""
    if conn.dialect.name == "postgresql":
        return f"lpad(({i})::text, 10, '0')"
    return f"printf('%010d', {i})"


def _counter(conn: Connection, n: int) -> str:
    """A CTE `n(i)` of the numbers 1..n."""
    if conn.dialect.name == "postgresql":
        return f"WITH n(i) AS (SELECT generate_series(1::bigint, {n}))"
    return f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})"


def _instant(conn: Connection, epoch_expr: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"to_timestamp({epoch_expr})"
    # the text form SQLAlchemy stores for UTCDateTime on SQLite, so comparisons stay exact
    return f"strftime('%Y-%m-%d %H:%M:%S', {epoch_expr}, 'unixepoch') || '.000000'"


def seed(engine: Engine, plan: SeedPlan, now: datetime,
         progress: Callable[[str], None] = lambda step: None) -> dict[str, int]:
    """Fill the database; returns how many rows of each kind were added.

    On PostgreSQL a large seed loads the big tables and the rollups without their indexes and
    builds them afterwards (`indexes_after`), several times faster than maintaining them row by
    row."""
    end_epoch = int(now.timestamp())
    counts = {"organizations": 0, "groups": 0, "recipients": 0, "credentials": 0, "events": 0}
    with engine.begin() as conn:
        bulk = conn.dialect.name == "postgresql" and plan.credentials >= BULK_MIN
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            conn.execute(text("SET LOCAL work_mem = '1GB'"))
        first_org = len(conn.execute(select(organizations.c.id)).all())
        sizes = plan.org_sizes()
        progress("organizations and groups")
        base = int(conn.execute(select(func.coalesce(func.max(credentials.c.id), 0))
                                ).scalar_one()) + 1
        people = int(conn.execute(select(func.coalesce(func.max(recipients.c.id), 0))
                                  ).scalar_one()) + 1
        org_rows: list[_Org] = []
        offset = 0
        for index, size in enumerate(sizes):
            name = f"Seed Org {first_org + index + 1:04d}"
            org_id = conn.execute(insert(organizations).values(
                name=name, created_at=now).returning(organizations.c.id)).scalar_one()
            n_groups = max(3, min(40, int(size ** 0.35)))
            conn.execute(insert(groups), [
                {"organization_id": org_id, "name": f"Program {g + 1:02d}",
                 "code": f"P{g + 1:02d}"} for g in range(n_groups)])
            gmin = conn.execute(select(func.min(groups.c.id)).where(
                groups.c.organization_id == org_id)).scalar_one()
            org_rows.append(_Org(org_id, size, gmin, n_groups, offset, people))
            offset += size
            people += _people(size)
            counts["organizations"] += 1
            counts["groups"] += n_groups
        with indexes_after(conn, (recipients, credentials, engagement_events), bulk=bulk):
            _load(conn, plan, org_rows, base, end_epoch, counts, progress)
            progress("indexes")
        _analyze(conn, "credentials")
        _analyze(conn, "engagement_events")
        progress("pre-aggregates")
        # their indexes too are built after the load (the hourly ones are nearly as many rows
        # as the events)
        with indexes_after(conn, (*rollups.ROLLUPS, *rollups.HOURLY), bulk=bulk):
            rollups.rebuild(conn, [org.id for org in org_rows], facts=False)
            progress("indexes of the pre-aggregates")
    return counts


def _load(conn: Connection, plan: SeedPlan, org_rows: list[_Org], base: int, end_epoch: int,
          counts: dict[str, int], progress: Callable[[str], None]) -> None:
    """Credentials and events, generated into staging tables, then written with their facts."""
    _staged.create(conn)
    _staged_events.create(conn)
    for org in org_rows:
        progress(f"organization {org.id}: {org.size:,} credentials")
        counts["recipients"] += _credentials(conn, plan, org, base, end_epoch)
        counts["credentials"] += org.size
    progress("engagement events")
    counts["events"] = _events(conn, plan, end_epoch, base, org_rows)
    progress("credentials with their facts")
    _analyze(conn, _staged.name)
    # the staged credentials, with the facts the rollups keep (steps reached, previous
    # credential of the recipient), written once rather than inserted and then updated
    _analyze(conn, _staged_events.name)
    with_facts = rollups.facts_select(select(_staged).subquery("staged"), _staged_events)
    conn.execute(insert(credentials).from_select(
        [col.name for col in with_facts.selected_columns], with_facts))
    progress("events with their facts")
    with_facts = rollups.event_facts_select(select(_staged_events).subquery("staged"))
    conn.execute(insert(engagement_events).from_select(
        [col.name for col in with_facts.selected_columns], with_facts))
    _staged.drop(conn)
    _staged_events.drop(conn)
    if conn.dialect.name == "postgresql":  # rows were written with explicit ids
        for table in ("recipients", "credentials", "engagement_events"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))"))


_staged = Table(  # credentials as generated, before their facts are known
    "seed_credentials", MetaData(),
    *(Column(col.name, col.type) for col in credentials.c
      if col.name in ("id", "organization_id", "external_id", "group_id", "recipient_id",
                      "issued_at", "expires_at", "kind")),
    prefixes=["TEMPORARY"],
)

_staged_events = Table(  # events as generated, before their facts are known
    "seed_events", MetaData(),
    *(Column(col.name, col.type) for col in engagement_events.c
      if col.name not in ("prev_at", "group_id")),
    prefixes=["TEMPORARY"],
)


def _analyze(conn: Connection, table: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ANALYZE {table}"))


@dataclass(frozen=True)
class _Org:
    id: int
    size: int
    gmin: int
    n_groups: int
    offset: int  # its credentials are the seed's rows [offset, offset + size)
    rmin: int  # its recipients' ids are [rmin, rmin + _people(size))


def _people(size: int) -> int:
    """How many recipients an organization of `size` credentials has: ~1.4 credentials each."""
    return max(1, int(size * 0.7))


def _issued_epoch(j: str, plan: SeedPlan, end_epoch: int) -> str:
    """The issue time of the seed's row j: issuance grows over time (ages lean towards now)."""
    return f"({end_epoch} - {_skewed(j, (0, 1), plan.seed, YEARS * 365 * 86400, high=False)})"


def _credentials(conn: Connection, plan: SeedPlan, org: _Org, base: int, end_epoch: int) -> int:
    """The organization's recipients and credentials; returns how many recipients."""
    people = _people(org.size)
    conn.execute(text(
        f"{_counter(conn, people)} INSERT INTO recipients (id, organization_id, email, name) "
        f"SELECT {org.rmin} + i - 1, {org.id}, 'person' || i || '@org{org.id}.example', "
        "'Person ' || i FROM n"))
    j = f"(i - 1 + {org.offset})"  # the row's number in the whole seed
    conn.execute(text(
        f"{_counter(conn, org.size)} INSERT INTO {_staged.name} (id, organization_id, "
        "external_id, group_id, recipient_id, issued_at, expires_at, kind) "
        f"SELECT {base} + {j}, {org.id}, 'S{org.id}-' || {_padded(conn, 'i')}, "
        f"{org.gmin} + ({_draw_square('i', 2, plan.seed)} * {org.n_groups} / {M}), "
        f"{org.rmin} + {_pick('i', 3, plan.seed, people)}, "
        f"{_instant(conn, _issued_epoch(j, plan, end_epoch))}, NULL, "
        f"CASE WHEN {_below('i', 4, plan.seed, 0.3)} THEN 'badge' ELSE 'certificate' END "
        "FROM n"))
    return people
EVENT_MIX = (  # (event type, share of all events, owner share)
    (EventType.VIEW, 0.55, 0.6), (EventType.PDF_DOWNLOAD, 0.12, 1.0),
    (EventType.IMAGE_DOWNLOAD, 0.05, 1.0), (EventType.LINKEDIN_SHARE, 0.1, 1.0),
    (EventType.LINKEDIN_PROFILE_ADD, 0.04, 1.0), (EventType.TWITTER_SHARE, 0.02, 1.0),
    (EventType.FACEBOOK_SHARE, 0.02, 1.0), (EventType.OTHER_SHARE, 0.03, 1.0),
    (EventType.REFERRAL_CLICK, 0.05, 0.1), (EventType.WALLET_ADD, 0.02, 1.0),
)


def _events(conn: Connection, plan: SeedPlan, end_epoch: int, base: int,
            orgs: list[_Org]) -> int:
    """Events on random credentials of the seed, after their issue date, at most up to now.

    A credential's id, organization and issue time are functions of its row number j in the
    seed, so events are computed without reading the credentials back."""
    n = int(plan.credentials * plan.events_per_credential)
    if n == 0 or not orgs:
        return 0
    before = conn.execute(text("SELECT count(*) FROM engagement_events")).scalar_one()
    first_id = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM engagement_events")
                            ).scalar_one()
    prefix = f"E{plan.seed}-{before}-"  # event ids stay unique when seeding again
    cases, edge = [], 0.0
    for event, share, _owner in EVENT_MIX:
        edge += share
        cases.append(f"WHEN u < {int(edge * M)} THEN '{event.value}'")
    owner = f"CASE WHEN {_below('i', 7, plan.seed, 0.7)} THEN 'owner' ELSE 'guest' END"
    total = sum(org.size for org in orgs)
    # a fence: the draw is computed once per row, not once per WHEN
    fence = "OFFSET 0" if conn.dialect.name == "postgresql" else "LIMIT -1 OFFSET 0"
    org_of = " ".join(f"WHEN p.j < {org.offset + org.size} THEN {org.id}" for org in orgs[:-1])
    org_of = f"CASE {org_of} ELSE {orgs[-1].id} END" if org_of else str(orgs[-1].id)
    delay = _skewed("p.i", (8, 9), plan.seed, 60 * 86400, high=False)  # mostly soon after
    least = "least" if conn.dialect.name == "postgresql" else "min"
    occurred = _instant(conn, f"{least}({_issued_epoch('p.j', plan, end_epoch)} + {delay}, "
                              f"{end_epoch})")
    conn.execute(text(
        f"{_counter(conn, n)}, drawn AS (SELECT i, {_draw('i', 6, plan.seed)} AS u FROM n "
        f"{fence}), "
        f"p AS (SELECT i, {_pick('i', 5, plan.seed, total)} AS j, "
        f"CASE {' '.join(cases)} ELSE 'view' END AS kind, {owner} AS actor FROM drawn) "
        f"INSERT INTO {_staged_events.name} (id, organization_id, credential_id, event_type, "
        "actor, occurred_at, external_id) "
        f"SELECT {first_id} + p.i - 1, {org_of}, {base} + p.j, p.kind, p.actor, {occurred}, "
        f"'{prefix}' || {_padded(conn, 'p.i')} FROM p"))
    return n
