"""The frozen request and result objects that flow through the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from metrics.benchmarks import Benchmark
from metrics.definitions import Basis, Comparison, CredentialKind, Granularity, Metric
from metrics.errors import UserError
from metrics.timerange import TimeRange

Values = Mapping[str, int]


@dataclass(frozen=True)
class MetricQuery:
    """What to compute: built by the parser, run by `metrics.run`.

    `groups` are group names or codes as the user gave them; `metrics.run` resolves them against
    the organization's groups (and refuses unknown or ambiguous ones).
    """

    metric: Metric
    time_range: TimeRange
    groups: tuple[str, ...] = ()
    kind: CredentialKind | None = None
    granularity: Granularity | None = None
    compare: Comparison = Comparison.PREVIOUS
    basis: Basis = Basis.ISSUED
    output_format: str | None = None
    unparsed: tuple[str, ...] = ()
    text: str = field(default="", compare=False)  # the question in the grammar's own words

    def __post_init__(self) -> None:
        if self.metric is Metric.COMPARE and len(self.groups) < 2:
            raise UserError(
                "Compare needs at least two groups to put side by side.",
                ["compare group:CPA group:CFA last quarter", "compare CPA vs CFA this year"],
            )

    @property
    def tz(self) -> str:
        return self.time_range.tz


@dataclass(frozen=True)
class Period:
    """Figures for one time range (the answer's own, the one compared with, or one bucket)."""

    time_range: TimeRange
    values: Values


@dataclass(frozen=True)
class GroupValues:
    group: str
    code: str | None
    values: Values


@dataclass(frozen=True)
class MetricResult:
    """Everything an interface renders; carries the SQL it ran, so an explain is free."""

    query: MetricQuery
    org: str
    now: datetime
    groups: tuple[str, ...]
    values: Values
    previous: Period | None = None
    by_group: tuple[GroupValues, ...] = ()
    series: tuple[Period, ...] = ()
    previous_series: tuple[Period, ...] = ()  # the compared range's buckets, same granularity
    sections: tuple[tuple[str, Period], ...] = ()
    benchmarks: tuple[Benchmark, ...] = ()
    # the statements it ran, rendered on demand (compiling SQL text costs more than running it)
    statements: tuple[Callable[[], str], ...] = field(default=(), compare=False)

    @property
    def sql(self) -> tuple[str, ...]:
        return tuple(render() for render in self.statements)

    @property
    def time_range(self) -> TimeRange:
        return self.query.time_range

    @property
    def is_empty(self) -> bool:
        return self.values.get("issued", 0) == 0 and self.values.get("events", 0) == 0
