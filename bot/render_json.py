"""MetricResult → the JSON contract of `credstats ask --json` (keys stay; more may be added)."""

from __future__ import annotations

import json
from typing import Any

from metrics.query import MetricResult, Period
from metrics.timerange import TimeRange


def range_json(time_range: TimeRange, *, label: bool = True) -> dict[str, Any]:
    start, end = time_range.start_at, time_range.end_at
    out: dict[str, Any] = {
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }
    if label:
        out["label"] = time_range.label
        out["description"] = time_range.describe()
    return out


def _period(period: Period) -> dict[str, Any]:
    return {"range": range_json(period.time_range), "values": dict(period.values)}


def result_json(result: MetricResult) -> dict[str, Any]:
    q = result.query
    return {
        "metric": q.metric.value,
        "org": result.org,
        "groups": list(result.groups),
        "timezone": q.tz,
        "as_of": result.now.isoformat(),
        "range": range_json(q.time_range),
        "basis": q.basis.value,
        "kind": q.kind.value if q.kind else None,
        "compare": q.compare.value,
        "granularity": q.granularity.value if q.granularity else None,
        "values": dict(result.values),
        "previous": _period(result.previous) if result.previous else None,
        "by_group": [
            {"group": g.group, "code": g.code, "values": dict(g.values)} for g in result.by_group
        ],
        "series": [
            {**range_json(p.time_range, label=False), "values": dict(p.values)}
            for p in result.series
        ],
        "previous_series": [
            {**range_json(p.time_range, label=False), "values": dict(p.values)}
            for p in result.previous_series
        ],
        "summary": {name: _period(period) for name, period in result.sections},
        "benchmarks": [
            {"label": b.label, "source": b.source, "organizations": b.organizations,
             "rates": b.rates} for b in result.benchmarks
        ],
    }


def dumps(result: MetricResult) -> str:
    return json.dumps(result_json(result), indent=2, ensure_ascii=False)
