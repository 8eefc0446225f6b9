"""Synthetic data at scale: `credstats seed`. Many organizations of very different sizes (the
largest holds ~20% of all credentials), groups, repeat recipients and engagement events.

Everything is generated inside the database by set-based INSERT ... SELECT statements over a
recursive row counter, with a deterministic integer hash of (row, stream, seed) in place of a
random generator, so the same seed gives the same data on PostgreSQL and SQLite alike, and no
row passes through Python.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
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
from metrics.definitions import ENGAGEMENT_STEPS, EventType
from metrics.errors import UserError
from metrics.schema import (
    credential_crossings,
    credentials,
    engagement_events,
    groups,
    organizations,
    recipients,
)

log = logging.getLogger(__name__)

M = 4294967296  # 2^32
MAX_EVENTS_PER_CREDENTIAL = 100
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


# The steps of the draws, one stream each: integers near frac(sqrt(p)) * 2^32 for the primes p
# up to 41 (rationally independent, so the streams are uncorrelated), each the one within a few
# thousand whose step / 2^32 has the smallest partial quotients in its continued fraction
# (at most 12). A step / 2^32 with a large one, say 173 after a denominator q, is almost the
# fraction of that q: the rows then fall in q clusters, and a million draws of an organization's
# recipients hit a fifth of them (the truncated frac(sqrt(7)) * 2^32, made odd, did: the 10M
# seed's largest organization had 284,000 recipients instead of 1.4 million).
STEPS = (1779034302, 3144131680, 1013904183, 2773480401, 1359893114, 2600822890, 528734638,
         1541459221, 3418070374, 1654270250, 2438526800, 355462361, 1731405419)


def _draw(i: str, stream: int, seed: int) -> str:
    """An integer in [0, 2^32) for row `i`: the Weyl sequence i * STEPS[stream] mod 2^32,
    shifted by the seed. Integer arithmetic only, which PostgreSQL and SQLite compute
    identically (i < 2^31)."""
    shift = (seed * 2654435761 + stream * 40503) % M
    return f"((({i}) * {STEPS[stream]} + {shift}) % {M})"


def _draw_square(i: str, stream: int, seed: int, prime: int = 1000003) -> str:
    """Like _draw, but of i^2 mod a prime: not linear in i, so uncorrelated with the linear
    streams even along the row differences where two of those repeat together (without it a
    recipient's credentials never shared a group), and repeating at random distances rather
    than at the few a linear stream has (a recipient's credentials, rows in time order, would
    all be years apart)."""
    return _draw(f"(({i}) * ({i})) % {prime}", stream, seed)


RECIPIENT_PRIME = 2147483647  # 2^31 - 1: i^2 mod it takes as many values as any seed has rows


def _below(i: str, stream: int, seed: int, p: float) -> str:
    """True with probability p."""
    return f"{_draw(i, stream, seed)} < {int(p * M)}"


def _recipient(i: str, seed: int, people: int) -> str:
    """Which of an organization's `people` recipients (from 0) its credential number i has."""
    return f"({_draw_square(i, 3, seed, RECIPIENT_PRIME)} * {people} / {M})"


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
    # the second connection's schema is dropped after the seed's transaction ends
    with contextlib.ExitStack() as stack, engine.begin() as conn:
        bulk = conn.dialect.name == "postgresql" and plan.credentials >= BULK_MIN
        if conn.dialect.name == "postgresql":
            _settings(conn)
        first_org = len(conn.execute(select(organizations.c.id)).all())
        sizes = plan.org_sizes()
        progress("organizations and groups")
        base = int(conn.execute(select(func.coalesce(func.max(credentials.c.id), 0))
                                ).scalar_one()) + 1
        people = int(conn.execute(select(func.coalesce(func.max(recipients.c.id), 0))
                                  ).scalar_one()) + 1
        events = _Events(plan, end_epoch)  # refuses before any write
        before, first_event = conn.execute(text(
            "SELECT count(*), coalesce(max(id), 0) + 1 FROM engagement_events")).one()
        # event ids stay unique when seeding again
        ids = _EventIds(int(first_event), f"E{plan.seed}-{before}-")
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
        second = stack.enter_context(_SecondConnection(
            engine, events, base, org_rows, ids, packed=rollups.keys_packed(conn))
        ) if bulk else None
        org_ids = [org.id for org in org_rows]
        # the pre-aggregates' indexes too are built after the load (the hourly ones are nearly
        # as many rows as the events)
        with indexes_after(conn, (*rollups.ROLLUPS, *rollups.HOURLY, credential_crossings),
                           bulk=bulk):
            # (the credentials' indexes are built with the events', after the second
            # connection has generated the events: built while it does, the three processes of
            # their parallel builds slowed it down, and its pre-aggregates came later: 610 s at
            # 10M, not 548)
            with indexes_after(conn, (credentials, engagement_events), bulk=bulk):
                # the recipients' keys are built while the second connection still generates
                # the events (the transaction would wait for them)
                with indexes_after(conn, (recipients,), bulk=bulk):
                    _load_credentials(conn, plan, events, org_rows, base, end_epoch, counts,
                                      progress)
                _analyze(conn, "credentials")
                # the credentials' pre-aggregates and crossings, on one process, while the
                # second connection works on the events on the other (written after the
                # indexes, they were the last three minutes of a 10M seed, on one core)
                progress("pre-aggregates of the credentials")
                rollups.rebuild_credentials(conn, org_ids)
                _load_events(conn, plan, events, org_rows, base, ids, second, counts, progress)
                progress("indexes")
            _analyze(conn, "engagement_events")
            progress("pre-aggregates of the events")
            rollups.rebuild(conn, org_ids, facts=False, credentials=False,
                            events_from=second.rollups if second else None)
            progress("indexes of the pre-aggregates")
    return counts


def _settings(conn: Connection, work_mem: str = "1GB") -> None:
    """A bulk writer's settings for the current transaction (PostgreSQL): plans on one process
    (the seed's own statements are fastest so), memory for its aggregations and sorts."""
    conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
    conn.execute(text(f"SET LOCAL work_mem = '{work_mem}'"))


def _load_credentials(conn: Connection, plan: SeedPlan, events: _Events, org_rows: list[_Org],
                      base: int, end_epoch: int, counts: dict[str, int],
                      progress: Callable[[str], None]) -> None:
    """Recipients and credentials, generated into a staging table and written with the
    recipients' facts."""
    _staged.create(conn)
    for org in org_rows:
        progress(f"organization {org.id}: {org.size:,} credentials")
        counts["recipients"] += _credentials(conn, plan, org, base, end_epoch, events)
        counts["credentials"] += org.size
    progress("credentials with their facts")
    _analyze(conn, _staged.name)
    # the staged credentials, with the previous credential of their recipient, written once
    # rather than inserted and then updated
    with_facts = rollups.facts_select(select(_staged).subquery("staged"))
    conn.execute(insert(credentials).from_select(
        [col.name for col in with_facts.selected_columns], with_facts))
    _staged.drop(conn)
    last = org_rows[-1]
    _set_sequence(conn, "recipients", last.rmin + _people(last.size) - 1)
    _set_sequence(conn, "credentials", base + plan.credentials - 1)


def _load_events(conn: Connection, plan: SeedPlan, events: _Events, org_rows: list[_Org],
                 base: int, ids: _EventIds, second: _SecondConnection | None,
                 counts: dict[str, int], progress: Callable[[str], None]) -> None:
    """Events, generated with their facts straight into their table (or copied from where the
    second connection generated them)."""
    progress("engagement events")
    staged = second.events() if second else None
    if staged:
        names = ", ".join(col.name for col in engagement_events.c)
        counts["events"] += conn.execute(text(
            f"INSERT INTO engagement_events ({names}) SELECT {names} FROM {staged}")).rowcount
    else:
        for org in org_rows:
            counts["events"] += _events(conn, events, base, org, ids)
    # (an event's id is ids.first + its row j * K + m)
    _set_sequence(conn, "engagement_events", ids.first + plan.credentials * events.K - 1)


def _set_sequence(conn: Connection, table_name: str, top: int) -> None:
    """After rows written with explicit ids, up to `top`: the next id is past them."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), {top})"))


_staged = Table(  # credentials as generated, before their recipients' facts are known
    "seed_credentials", MetaData(),
    *(Column(col.name, col.type) for col in credentials.c
      if col.name in ("id", "organization_id", "external_id", "group_id", "recipient_id",
                      "issued_at", "expires_at", "kind", "steps")),
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


def _issued_epoch(i: str, org: _Org, plan: SeedPlan, end_epoch: int) -> str:
    """The issue time of the organization's credential number i (from 1), in seconds.

    An issuer numbers its credentials as it issues them: row i is issued at fraction
    g(q) = q (3 - q) / 2 of the span, q = (i - 1 + u) / n for its organization's n rows and a
    uniform u, so times follow the rows and issuance grows threefold over the YEARS. (Rows in
    time order also keep every aggregation by day and hour, and every index by time, working
    on a few weeks' rows at a time: a third to a half faster at 10M than rows at random
    times.) Integers only, below 2^63 for any organization under 2^31 rows."""
    span = YEARS * 365 * 86400
    q = f"(((({i}) - 1) * {M} + {_draw(i, 0, plan.seed)}) / {org.size})"  # q * 2^32, in [0, 2^32)
    t = f"({span} * {q} / {M})"  # span * q, in seconds
    return f"({end_epoch - span} + (3 * {t} - {t} * {q} / {M}) / 2)"


def _credentials(conn: Connection, plan: SeedPlan, org: _Org, base: int, end_epoch: int,
                 events: _Events) -> int:
    """The organization's recipients and credentials (with the engagement steps their events
    reach: the events are functions of the credential's row, see `_events`); returns how many
    recipients."""
    people = _people(org.size)
    conn.execute(text(
        f"{_counter(conn, people)} INSERT INTO recipients (id, organization_id, email, name) "
        f"SELECT {org.rmin} + i - 1, {org.id}, 'person' || i || '@org{org.id}.example', "
        "'Person ' || i FROM n"))
    j = f"(i - 1 + {org.offset})"  # the row's number in the whole seed
    conn.execute(text(
        f"{_counter(conn, org.size)}, c AS (SELECT i, {events.count(j)} AS k FROM n "
        f"{_fence(conn)}) "
        f"INSERT INTO {_staged.name} (id, organization_id, external_id, group_id, "
        "recipient_id, issued_at, expires_at, kind, steps) "
        f"SELECT {base} + {j}, {org.id}, 'S{org.id}-' || {_padded(conn, 'i')}, "
        f"{_group(org, 'i', plan.seed)}, "
        f"{org.rmin} + {_recipient('i', plan.seed, people)}, "
        f"{_instant(conn, _issued_epoch('i', org, plan, end_epoch))}, NULL, "
        f"CASE WHEN {_below('i', 4, plan.seed, 0.3)} THEN 'badge' ELSE 'certificate' END, "
        f"{events.steps(j, 'c.k')} FROM c"))
    return people


def _fence(conn: Connection) -> str:
    """Ends a subquery PostgreSQL and SQLite compute once per row rather than inline into
    every use of its columns."""
    return "OFFSET 0" if conn.dialect.name == "postgresql" else "LIMIT -1 OFFSET 0"


def _group(org: _Org, i: str, seed: int) -> str:
    """The group of the organization's credential number i (from 1)."""
    return f"({org.gmin} + ({_draw_square(i, 2, seed)} * {org.n_groups} / {M}))"


EVENT_MIX = (  # (event type, share of all events, owner share)
    (EventType.VIEW, 0.55, 0.6), (EventType.PDF_DOWNLOAD, 0.12, 1.0),
    (EventType.IMAGE_DOWNLOAD, 0.05, 1.0), (EventType.LINKEDIN_SHARE, 0.1, 1.0),
    (EventType.LINKEDIN_PROFILE_ADD, 0.04, 1.0), (EventType.TWITTER_SHARE, 0.02, 1.0),
    (EventType.FACEBOOK_SHARE, 0.02, 1.0), (EventType.OTHER_SHARE, 0.03, 1.0),
    (EventType.REFERRAL_CLICK, 0.05, 0.1), (EventType.WALLET_ADD, 0.02, 1.0),
)


class _Events:
    """A credential's events, as functions of its row j in the seed: how many (Poisson with the
    plan's mean, as if each event picked a credential at random), and for its event m (row
    r = j * K + m of the events) the type, the actor and the time: issue time plus a delay that
    grows with m, within a span of mostly a few weeks (early events are denser). Each event's
    previous event is therefore the same credential's event m - 1, and the steps a credential
    reaches follow from its events' draws: the generator writes both facts itself, with no
    staging table, window or join."""

    SPAN = 60 * 86400  # the longest span of a credential's events, in seconds

    def __init__(self, plan: SeedPlan, end_epoch: int) -> None:
        self.plan, self.end = plan, end_epoch
        mean = plan.events_per_credential
        if mean > MAX_EVENTS_PER_CREDENTIAL:
            raise UserError(
                f"{mean:g} events per credential on average is more than the generator makes "
                f"(at most {MAX_EVENTS_PER_CREDENTIAL}).",
                [f"credstats seed --credentials {plan.credentials} --events-per-credential 5"])
        edges, cdf, term, k = [], 0.0, math.exp(-mean), 0
        while mean > 0 and cdf + term < 1 - 1e-9:  # the Poisson distribution's CDF
            cdf += term
            edges.append(int(cdf * M))
            k += 1
            term *= mean / k
        self.edges = edges  # u < edges[k] -> k events
        self.most = len(edges)  # at most this many events
        self.K = self.most + 1
        if plan.credentials * self.K >= 2 ** 31:  # j < plan.credentials: this seed's rows
            most = 2 ** 31 // self.K
            raise UserError(
                f"{plan.credentials:,} credentials with up to {self.most} events each exceed the "
                f"generator's 31-bit row numbers: at {mean:g} events per credential it makes at "
                f"most {most:,} credentials in one seed.",
                [f"credstats seed --credentials {most // 2} --events-per-credential {mean:g}"])

    def count(self, j: str) -> str:
        if not self.edges:
            return "0"
        u = _draw(j, 10, self.plan.seed)
        cases = " ".join(f"WHEN {u} < {edge} THEN {k}" for k, edge in enumerate(self.edges))
        return f"(CASE {cases} ELSE {self.most} END)"

    def row(self, j: str, m: str) -> str:
        return f"({j} * {self.K} + {m})"

    def type_(self, u: str) -> str:
        """The type of an event whose type draw is u."""
        return _by_type(u, lambda event: f"'{event.value}'")

    def owner(self, r: str) -> str:
        """Whether event row r's actor is the credential's owner."""
        return _below(r, 7, self.plan.seed, 0.7)

    def actor(self, r: str) -> str:
        return f"(CASE WHEN {self.owner(r)} THEN 'owner' ELSE 'guest' END)"

    def span(self, j: str) -> str:
        """How long after its issue time credential row j's events go on, in seconds."""
        return _skewed(j, (8, 9), self.plan.seed, self.SPAN, high=False)

    def epoch(self, conn: Connection, issued: str, span: str, k: str, m: str, r: str) -> str:
        """The time of event m (row r) of a credential issued at `issued` whose k events go on
        for `span` seconds, in seconds."""
        f = f"(({m}) * 1000 + {_pick(r, 11, self.plan.seed, 1000)})"  # grows with m
        least = "least" if conn.dialect.name == "postgresql" else "min"
        return f"{least}({issued} + {span} * {f} * {f} / ({k} * {k} * 1000000), {self.end})"

    def steps(self, j: str, k: str) -> str:
        """The engagement steps the events of credential row j (k of them) reach, as the
        rollups' `steps_mask` defines them: the bits of each of its events (type and actor),
        or-ed, written out for every event it may have (a subquery over each credential's
        events cost 4 s per million credentials, this expression about 1 s)."""
        terms = [f"(CASE WHEN {k} > {m} THEN {self._bits(self.row(j, str(m)))} ELSE 0 END)"
                 for m in range(self.most)]
        return f"({' | '.join(terms)})" if terms else "0"

    def _bits(self, r: str) -> str:
        """The engagement steps event row r reaches (its type's, and its actor's)."""
        def mask(event: EventType, by_owner: bool) -> int:
            return sum(1 << bit for bit, step in enumerate(ENGAGEMENT_STEPS)
                       if step.reached_by(event, by_owner=by_owner))

        def bits(event: EventType) -> str:
            mine, theirs = mask(event, True), mask(event, False)
            return str(mine) if mine == theirs else \
                f"(CASE WHEN {self.owner(r)} THEN {mine} ELSE {theirs} END)"

        return _by_type(_draw(r, 6, self.plan.seed), bits)


def _by_type(u: str, value: Callable[[EventType], str]) -> str:
    """`value` of the type EVENT_MIX gives an event whose type draw is u."""
    cases, edge = [], 0.0
    for event, share, _owner in EVENT_MIX:
        edge += share
        cases.append(f"WHEN {u} < {int(edge * M)} THEN {value(event)}")
    return f"(CASE {' '.join(cases)} ELSE {value(EventType.VIEW)} END)"


@dataclass(frozen=True)
class _EventIds:
    first: int  # the id of the seed's event row 0 (event row r gets first + r)
    prefix: str  # of their external ids


def _events(conn: Connection, events: _Events, base: int, org: _Org, ids: _EventIds) -> int:
    """The organization's events with their facts (prev_at, group_id); returns how many."""
    plan = events.plan
    j = f"(i - 1 + {org.offset})"
    at = _instant(conn, events.epoch(conn, "t", "sp", "k", "m", "r"))
    prev = _instant(conn, events.epoch(conn, "t", "sp", "k", "m - 1", "r - 1"))
    columns = "j, k, t, sp, g"  # per credential, computed once for its events
    if conn.dialect.name == "postgresql":
        expand = (f"ev AS (SELECT {columns}, s.m FROM c, generate_series(0, c.k - 1) AS s(m))")
    else:
        expand = (f"ev({columns}, m) AS (SELECT {columns}, 0 FROM c WHERE k > 0 UNION ALL "
                  f"SELECT {columns}, m + 1 FROM ev WHERE m + 1 < k)")
    rows = conn.execute(text(
        f"{_counter(conn, org.size)}, c AS (SELECT {j} AS j, {events.count(j)} AS k, "
        f"{_issued_epoch('i', org, plan, events.end)} AS t, {events.span(j)} AS sp, "
        f"{_group(org, 'i', plan.seed)} AS g FROM n {_fence(conn)}), {expand}, "
        f"d AS (SELECT {columns}, m, r, {_draw('r', 6, plan.seed)} AS u FROM "
        f"(SELECT {columns}, m, {events.row('j', 'm')} AS r FROM ev) AS rows {_fence(conn)}) "
        "INSERT INTO engagement_events (id, organization_id, credential_id, event_type, actor, "
        "occurred_at, external_id, prev_at, group_id) "
        f"SELECT {ids.first} + r, {org.id}, {base} + j, {events.type_('u')}, "
        f"{events.actor('r')}, {at}, '{ids.prefix}' || {_padded(conn, 'r')}, "
        f"CASE WHEN m = 0 THEN NULL ELSE {prev} END, g FROM d"))
    if rows.rowcount >= 0:
        return int(rows.rowcount)
    return int(conn.execute(text(  # SQLite does not count the rows of INSERT ... SELECT
        "SELECT count(*) FROM engagement_events WHERE organization_id = :org AND id >= :first"),
        {"org": org.id, "first": ids.first}).scalar_one())


class _SecondConnection:
    """A bulk seed's events on PostgreSQL, generated by a second connection while the seed's
    transaction writes the credentials: into an unlogged table of a schema of its own,
    committed there, copied into engagement_events by the seed's transaction (which then
    indexes them) while the second connection pre-aggregates them into the events' rollups
    (`rollups.rebuild_events`), which the seed's transaction copies in turn. Two cores work at
    once where one did, and the events are generated once, without write-ahead log.

    Nothing here is visible to credstats before the seed's transaction commits: the schema is
    the seed's alone and dropped at the end, whatever happens. It touches no table of the
    seed's transaction (which holds them locked). If the second connection fails (say, no
    right to create a schema), the seed's transaction does the work itself."""

    def __init__(self, engine: Engine, events: _Events, base: int, org_rows: list[_Org],
                 ids: _EventIds, *, packed: bool) -> None:
        self.engine = engine
        self.schema = f"credstats_seed_{secrets.token_hex(6)}"
        self._staged = threading.Event()
        self._events_ok = self._rollups_ok = False
        self._pid: int | None = None  # of the second connection's server process
        self._thread = threading.Thread(
            target=self._run, args=(events, base, org_rows, ids, packed),
            name="credstats-seed-events", daemon=True)

    def __enter__(self) -> _SecondConnection:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            if self._thread.is_alive() and self._pid is not None:  # the seed failed first:
                # end the second connection's session (its statements fail, and so its thread)
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": self._pid})
        self._thread.join()
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))

    def events(self) -> str | None:
        """The staged events' table (waits for them), or None when they could not be."""
        self._staged.wait()
        return f'"{self.schema}".engagement_events' if self._events_ok else None

    def rollups(self) -> str | None:
        """The schema holding the events' rollups (waits for them), or None."""
        self._thread.join()
        return self.schema if self._rollups_ok else None

    def _run(self, events: _Events, base: int, org_rows: list[_Org], ids: _EventIds,
             packed: bool) -> None:
        try:
            with self.engine.connect() as conn:
                self._pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                self._stage(conn, events, base, org_rows, ids)
                self._events_ok = True
                self._staged.set()
                self._private(conn)
                rollups.rebuild_events(conn, [org.id for org in org_rows], packed=packed)
                conn.commit()
                self._rollups_ok = True
        except Exception as exc:  # the seed's transaction does what is missing itself
            log.warning("the seed's second connection failed (%s): the seed goes on alone, "
                        "more slowly", exc)
        finally:
            self._staged.set()

    def _private(self, conn: Connection) -> None:
        """This transaction's names are the schema's (and temporary tables') alone."""
        conn.execute(text(f'SET LOCAL search_path TO "{self.schema}"'))
        # (the events' links by group and day, 11 million rows at 10M, are sorted on disk
        # after their aggregation with 1GB)
        _settings(conn, work_mem="2GB")

    def _stage(self, conn: Connection, events: _Events, base: int, org_rows: list[_Org],
               ids: _EventIds) -> None:
        conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self._private(conn)
        staging = MetaData(schema=self.schema)
        for table in (engagement_events, *rollups.EVENT_ROLLUPS):  # no keys, no indexes
            Table(table.name, staging,
                  *(Column(col.name, col.type, nullable=col.nullable) for col in table.c),
                  # (committed tables: autovacuum would read them all while they are used)
                  prefixes=["UNLOGGED"], postgresql_with={"autovacuum_enabled": "false"})
        staging.create_all(conn)
        for org in org_rows:
            _events(conn, events, base, org, ids)
        conn.commit()
