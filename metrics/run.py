"""The one entry point every interface calls: `run(conn, org, query, now) -> MetricResult`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, Executable

from metrics import fast, sql
from metrics.benchmarks import (
    MIN_PEER_COHORT,
    MIN_PEERS,
    Benchmark,
    industry_benchmark,
    peer_benchmark,
)
from metrics.catalog import Group, Organization, list_groups, list_organizations, resolve_group
from metrics.definitions import (
    ACTIVITY_KEYS,
    ENGAGEMENT_KEYS,
    Basis,
    Comparison,
    Granularity,
    Metric,
)
from metrics.query import GroupValues, MetricQuery, MetricResult, Period
from metrics.rollups import ORG
from metrics.sql import AnySelect
from metrics.timerange import TimeRange, all_time, previous_unit, rolling, today_in

Values = dict[str, int]


def _render(stmt: Executable, dialect: Dialect, given: dict[str, Any] | None) -> str:
    compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
    values = {**compiled.params, **(given or {})}
    params = ", ".join(f"{k}={v!r}" for k, v in values.items())
    return f"{compiled}\n-- parameters: {params}" if params else str(compiled)


def _not_after(last: datetime | None, now: datetime) -> bool:
    return last is None or last <= now


def run(conn: Connection, org: Organization, query: MetricQuery, now: datetime, *,
        rollups: bool = True) -> MetricResult:
    """Compute `query` for `org` as of `now` (an aware instant; nothing here reads a clock).

    Figures come from the pre-aggregates (metrics/fast.py) wherever they hold the answer, and
    from the raw rows otherwise (`rollups=False`: always; the tests compare the two)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    catalog = list_groups(conn, org)
    chosen = _resolve_groups(catalog, query.groups)
    return _Runner(conn, org, query, now, catalog, chosen, rollups=rollups).result()


def _resolve_groups(catalog: list[Group], typed: tuple[str, ...]) -> tuple[Group, ...]:
    chosen: list[Group] = []
    for name in typed:
        group = resolve_group(catalog, name)
        if group not in chosen:
            chosen.append(group)
    return tuple(chosen)


class _Runner:
    """Runs the statements one query needs and remembers their SQL."""

    def __init__(
        self,
        conn: Connection,
        org: Organization,
        query: MetricQuery,
        now: datetime,
        catalog: list[Group],
        chosen: tuple[Group, ...],
        *,
        rollups: bool,
    ) -> None:
        self.conn = conn
        self.org = org
        self.query = query
        self.now = now.astimezone(UTC)
        self.catalog = catalog
        self.chosen = chosen
        self.scope = sql.Scope(org.id, tuple(g.id for g in chosen), query.kind)
        self.statements: list[Callable[[], str]] = []
        self.memo: dict[tuple[datetime | None, datetime | None, bool], Values] = {}
        # an answer over some groups: (start, end, engagement) -> group -> its own figures
        self.per_group: dict[tuple[datetime | None, datetime | None, bool],
                             dict[int, Values]] = {}
        self.bucket_memo: dict[tuple[datetime | None, datetime | None], list[TimeRange]] = {}
        # the rollups count every stored event: they answer unless the query asks about a
        # moment before the latest one, or about a kind (kinds are not rolled up)
        self.fast = rollups and query.kind is None \
            and fast.rollups_answer(conn, org.id, self.now)
        self.rollups = rollups

    def level(self, group_ids: tuple[int, ...]) -> fast.Level | None:
        """The rollup level for these groups (None: the raw rows must answer; a figure over
        several groups at once needs distinct recipients across them)."""
        if not self.fast or len(group_ids) > 1:
            return None
        return fast.Level(self.org.id, group_ids or None)

    def result(self) -> MetricResult:
        q = self.query
        compared = None
        if q.metric is not Metric.HELP:
            comparisons: dict[Comparison, Callable[[], TimeRange | None]] = {
                Comparison.PREVIOUS: q.time_range.previous,
                Comparison.YEAR: q.time_range.year_ago,
                Comparison.NONE: lambda: None,
            }
            compared = comparisons[q.compare]()
        ranges = [q.time_range, *([compared] if compared else [])]
        if q.basis is Basis.ISSUED or not self.engagement:
            ranges += [b for r in list(ranges) for b in self.buckets_of(r)]  # series too
        self.prefetch(ranges)
        values = self.values(q.time_range)
        previous = None
        previous_series: tuple[Period, ...] = ()
        if q.metric is not Metric.HELP:
            if compared is not None:
                previous = Period(compared, self.values(compared))
                previous_series = self.series(compared, funnel=False)
        return MetricResult(
            query=q,
            org=self.org.name,
            now=self.now,
            groups=tuple(g.name for g in self.chosen),
            values=values,
            previous=previous,
            by_group=self.by_group(),
            series=self.series(),
            previous_series=previous_series,
            sections=self.sections(),
            benchmarks=self.benchmarks(values),
            statements=tuple(self.statements),
        )

    # -- the figures of one range -------------------------------------------------------------

    def values(self, time_range: TimeRange, *, engagement: bool | None = None) -> Values:
        """The figures of one range; the same range is computed once per query."""
        if engagement is None:
            engagement = self.engagement
        key = (time_range.start_at, time_range.end_at, engagement)
        if key not in self.memo:
            self.memo[key] = self._values(time_range, engagement)
        return dict(self.memo[key])

    @property
    def engagement(self) -> bool:
        return self.query.metric in (Metric.ENGAGEMENT, Metric.SUMMARY, Metric.GROUPS,
                                     Metric.COMPARE)

    def prefetch(self, ranges: list[TimeRange]) -> None:
        """The rollups answer several ranges (the answer's and its comparison's) at once.

        Over several groups at once every figure adds up across them (a credential is in one
        group) except unique recipients: the groups' sum less the recipients they share
        (`fast.crossed`)."""
        scope, engagement = self.scope, self.engagement
        if not self.fast or self.query.metric is Metric.HELP:
            return
        level = fast.Level(self.org.id, scope.group_ids or None)
        windows = [fast.Window(k, r.start_at, r.end_at) for k, r in enumerate(ranges)]
        event_basis = engagement and self.query.basis is Basis.EVENT
        found = fast.cohort(self.execute, self.conn, level, windows,
                            engagement=engagement and not event_basis)
        if self.query.metric is Metric.ACTIVITY:
            for key, values in fast.activity(self.execute, self.conn, level, windows).items():
                found[key].update(values)
        # several groups' unique recipients together: each group's less those it shares
        crossed = fast.crossed(self.execute, self.conn, level, windows) \
            if len(scope.group_ids) > 1 else {}
        for k, r in enumerate(ranges):
            out: Values = {}
            for group in scope.group_ids or (ORG,):
                for name, value in found[(k, group)].items():
                    out[name] = out.get(name, 0) + value
            if scope.group_ids:  # each group's own figures, for a comparison of groups
                self.per_group[(r.start_at, r.end_at, engagement)] = {
                    group: found[(k, group)] for group in scope.group_ids}
            if crossed:
                out["recipients"] -= crossed[k]
            if event_basis:
                out.update(self.one(sql.event_basis_select(scope, r.start_at, r.end_at, self.now)))
            self.memo[(r.start_at, r.end_at, engagement)] = out

    def _values(self, time_range: TimeRange, engagement: bool) -> Values:
        scope = self.scope
        start, end = time_range.start_at, time_range.end_at
        metric = self.query.metric
        event_basis = engagement and self.query.basis is Basis.EVENT
        level = self.level(scope.group_ids)
        if level is not None:
            window = [fast.Window(0, start, end)]
            key = (0, scope.group_ids[0] if scope.group_ids else ORG)
            out = fast.cohort(self.execute, self.conn, level, window,
                              engagement=engagement and not event_basis)[key]
            if event_basis:
                out.update(self.one(sql.event_basis_select(scope, start, end, self.now)))
            if metric is Metric.ACTIVITY:
                out.update(fast.activity(self.execute, self.conn, level, window)[key])
            return out
        cohort = sql.cohort_select(
            scope, start, end, self.now, engagement=engagement and not event_basis
        )
        out = self.one(cohort)
        if event_basis:
            out.update(self.one(sql.event_basis_select(scope, start, end, self.now)))
        if metric is Metric.ACTIVITY:
            out.update(self.one(sql.activity_select(scope, start, end)))
        return out

    def by_group(self) -> tuple[GroupValues, ...]:
        metric = self.query.metric
        if metric not in (Metric.GROUPS, Metric.COMPARE):
            return ()
        groups = self.chosen if metric is Metric.COMPARE else tuple(self.catalog)
        rng = self.query.time_range
        scope = sql.Scope(self.org.id, tuple(g.id for g in groups), self.query.kind)
        key = sql.c.group_id
        known = self.per_group.get((rng.start_at, rng.end_at, self.engagement))
        if known is not None and set(known) == set(scope.group_ids) \
                and self.query.basis is Basis.ISSUED:
            rows = {group: dict(values) for group, values in known.items()}
        elif self.fast and scope.group_ids:
            level = fast.Level(self.org.id, scope.group_ids)
            rows = {group: values for (_, group), values in fast.cohort(
                self.execute, self.conn, level, [fast.Window(0, rng.start_at, rng.end_at)],
                engagement=self.query.basis is Basis.ISSUED).items()}
        else:
            rows = self.keyed(sql.cohort_select(
                scope, rng.start_at, rng.end_at, self.now,
                engagement=self.query.basis is Basis.ISSUED, key=key))
        if self.query.basis is Basis.EVENT:
            event_key = sql.e.group_id
            for k, vals in self.keyed(
                sql.event_basis_select(scope, rng.start_at, rng.end_at, self.now,
                                       key=event_key)
            ).items():
                rows.setdefault(k, {}).update(vals)
        out = [
            GroupValues(g.name, g.code, self.filled(rows.get(g.id, {}), engagement=True))
            for g in groups
        ]
        if metric is Metric.GROUPS:
            out.sort(key=lambda gv: (-gv.values["issued"], gv.group.lower()))
        return tuple(out)

    def series(self, rng: TimeRange | None = None, *, funnel: bool = True
               ) -> tuple[Period, ...]:
        """Buckets of the query's range, or of `rng` (the range it is compared with; its buckets
        carry counts only, `funnel=False`, for the faint line of a trend chart)."""
        buckets = self.buckets_of(rng or self.query.time_range)
        if not buckets:
            return ()
        metric = self.query.metric
        engagement = funnel and metric in (Metric.ENGAGEMENT, Metric.SUMMARY, Metric.GROUPS,
                                           Metric.COMPARE)
        prefetched = [self.cached(b, engagement) for b in buckets]
        if all(v is not None for v in prefetched):
            return tuple(Period(b, self.filled(v or {}, engagement=engagement))
                         for b, v in zip(buckets, prefetched, strict=True))
        bounds = [b.start_at for b in buckets] + [buckets[-1].end_at]
        lo, hi = bounds[0], bounds[-1]
        assert lo is not None and hi is not None
        cohort_engagement = engagement and self.query.basis is Basis.ISSUED
        event_key = sql.bucket_index(sql.e.occurred_at, bounds)
        extra: list[AnySelect] = []
        level = self.level(self.scope.group_ids)
        if level is not None:
            windows = [fast.Window(i, b.start_at, b.end_at) for i, b in enumerate(buckets)]
            per_bucket: dict[int, Values] = {
                k: values for (k, _), values in
                fast.cohort(self.execute, self.conn, level, windows,
                            engagement=cohort_engagement).items()}
            if metric is Metric.ACTIVITY:
                for (k, _), values in fast.activity(self.execute, self.conn, level,
                                                    windows).items():
                    per_bucket.setdefault(k, {}).update(values)
        else:
            per_bucket = self.keyed(sql.cohort_select(
                self.scope, lo, hi, self.now, engagement=cohort_engagement,
                key=sql.bucket_index(sql.c.issued_at, bounds)))
            if metric is Metric.ACTIVITY:
                extra.append(sql.activity_select(self.scope, lo, hi, key=event_key))
        if engagement and self.query.basis is Basis.EVENT:
            extra.append(sql.event_basis_select(self.scope, lo, hi, self.now, key=event_key))
        for stmt in extra:
            for k, vals in self.keyed(stmt).items():
                per_bucket.setdefault(k, {}).update(vals)
        return tuple(
            Period(bucket, self.filled(per_bucket.get(i, {}), engagement=engagement))
            for i, bucket in enumerate(buckets)
        )

    def buckets_of(self, rng: TimeRange) -> list[TimeRange]:
        """The series buckets of a range (none without a granularity or any data)."""
        key = (rng.start_at, rng.end_at)
        if key not in self.bucket_memo:
            self.bucket_memo[key] = self._buckets_of(rng)
        return self.bucket_memo[key]

    def _buckets_of(self, rng: TimeRange) -> list[TimeRange]:
        granularity = self.query.granularity
        if granularity is None:
            return []
        first = None
        if rng.start is None:
            earliest: datetime | None = self.conn.execute(
                sql.first_issue_select(self.scope)).scalar()
            if self.query.metric is Metric.ACTIVITY:
                first_event: datetime | None = self.conn.execute(
                    sql.first_event_select(self.scope)).scalar()
                if earliest is None or (first_event is not None and first_event < earliest):
                    earliest = first_event
            if earliest is None:
                return []
            first = earliest.astimezone(rng.zone).date()
        if rng.end is None:
            tomorrow = today_in(self.now, rng.tz) + timedelta(days=1)
            rng = TimeRange(rng.start, tomorrow, rng.tz)
        return list(rng.buckets(granularity, first))

    def cached(self, rng: TimeRange, engagement: bool) -> Values | None:
        """A range's figures if a prefetch computed them (with engagement, they also serve a
        figure without)."""
        for flag in (engagement, True):
            found = self.memo.get((rng.start_at, rng.end_at, flag))
            if found is not None:
                return found
        return None

    def sections(self) -> tuple[tuple[str, Period], ...]:
        if self.query.metric is not Metric.SUMMARY:
            return ()
        tz = self.query.tz
        today = today_in(self.now, tz)
        ranges = {
            "last_30_days": rolling(today, 30, Granularity.DAY, tz, "last 30 days"),
            "last_quarter": previous_unit(today, Granularity.QUARTER, tz, "last quarter"),
            "all_time": all_time(tz),
        }
        # engagement for the last 30 days only: the summary shows no other funnel
        return tuple((name, Period(r, self.values(r, engagement=name == "last_30_days")))
                     for name, r in ranges.items())

    def benchmarks(self, values: Values) -> tuple[Benchmark, ...]:
        """Industry and peer averages, for engagement answers of an issue-date cohort."""
        q = self.query
        if q.metric is not Metric.ENGAGEMENT or q.basis is not Basis.ISSUED \
                or not values.get("issued"):
            return ()
        found = [industry_benchmark(self.org.industry)]
        organizations = list_organizations(self.conn)
        if len(organizations) > MIN_PEERS:
            rng = q.time_range
            peers: Sequence[Any]
            if self.rollups and _not_after(fast.last_event_at(self.conn, None), self.now):
                others = [o.id for o in organizations if o.id != self.org.id]
                peers = fast.peer_cohorts(self.execute, self.conn, self.org.id, others,
                                          fast.Window(0, rng.start_at, rng.end_at),
                                          MIN_PEER_COHORT)
            else:
                stmt = sql.peer_cohorts_select(self.org.id, rng.start_at, rng.end_at,
                                               self.now, MIN_PEER_COHORT)
                peers = self.execute(stmt)
            found.append(peer_benchmark(peers))
        return tuple(b for b in found if b is not None)

    # -- execution ------------------------------------------------------------------------------

    def one(self, stmt: AnySelect) -> Values:
        self.remember(stmt)
        row = self.conn.execute(stmt).mappings().one()
        return {k: int(v or 0) for k, v in row.items()}

    def execute(self, stmt: Executable, params: dict[str, Any] | None = None
                ) -> Sequence[fast.AnyRow]:
        self.remember(stmt, params)
        return self.conn.execute(stmt, params or {}).all()

    def keyed(self, stmt: AnySelect) -> dict[int, Values]:
        self.remember(stmt)
        out: dict[int, Values] = {}
        for row in self.conn.execute(stmt).mappings():
            if row["k"] is None:
                continue
            out[int(row["k"])] = {k: int(v or 0) for k, v in row.items() if k != "k"}
        return out

    def filled(self, values: Mapping[str, int], *, engagement: bool) -> Values:
        keys: tuple[str, ...] = ("issued", "recipients")
        if engagement:
            keys += ENGAGEMENT_KEYS
        if self.query.metric is Metric.ACTIVITY:
            keys += ACTIVITY_KEYS
        return {k: int(values.get(k, 0)) for k in keys}

    def remember(self, stmt: Executable, params: dict[str, Any] | None = None) -> None:
        self.statements.append(functools.partial(_render, stmt, self.conn.dialect, params))
