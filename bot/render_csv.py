"""MetricResult → CSV: one row for the total, then one per group and one per series bucket, with
the range and timezone in columns, so the file stands on its own."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from metrics.query import MetricResult
from metrics.timerange import TimeRange


def render_csv(result: MetricResult) -> str:
    keys = list(result.values)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "group", "start", "end", "timezone", *keys])

    def row(kind: str, group: str, time_range: TimeRange, values: Mapping[str, int]) -> None:
        start, end = time_range.start_at, time_range.end_at
        writer.writerow([kind, group, start.isoformat() if start else "",
                         end.isoformat() if end else "", result.query.tz,
                         *(values.get(k, "") for k in keys)])

    row("total", "; ".join(result.groups), result.time_range, result.values)
    if result.previous:
        row("previous", "; ".join(result.groups), result.previous.time_range,
            result.previous.values)
    for g in result.by_group:
        row("group", g.group, result.time_range, g.values)
    for period in result.series:
        row("period", "; ".join(result.groups), period.time_range, period.values)
    return out.getvalue()
