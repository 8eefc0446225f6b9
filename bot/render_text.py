"""MetricResult → a terminal answer: header, a table with fractions and changes, context.

Pure: no I/O. Explicit cases for an empty range, the summary, a funnel, groups, a series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.numbers import (
    benchmark_lines,
    count_change,
    fraction,
    pct,
    rate_change,
    small_base,
)
from metrics.definitions import (
    ENGAGEMENT_STEPS,
    SMALL_BASE,
    Basis,
    EventType,
    Metric,
)
from metrics.query import MetricResult, Period
from metrics.timerange import TimeRange

TITLES = {
    Metric.SUMMARY: "Summary",
    Metric.ISSUED: "Credentials issued",
    Metric.RECIPIENTS: "Unique recipients",
    Metric.ENGAGEMENT: "Engagement",
    Metric.ACTIVITY: "Activity",
    Metric.GROUPS: "Groups",
    Metric.COMPARE: "Comparison",
    Metric.HELP: "Help",
}


def range_words(time_range: TimeRange) -> str:
    words = time_range.describe()
    label = time_range.label
    return f"{words} ({label})" if label and label.lower() != words.lower() else words


def header(result: MetricResult) -> str:
    parts = [TITLES[result.query.metric]]
    if result.groups:
        parts.append(" vs ".join(result.groups) if result.query.metric is Metric.COMPARE
                     else ", ".join(result.groups))
    if result.query.kind:
        parts.append(f"{result.query.kind.value}s")
    parts.append(range_words(result.time_range))
    return " · ".join(parts)


def basis_words(result: MetricResult) -> str:
    """What the figures are counted by, as every answer says it."""
    q = result.query
    if q.metric is Metric.ACTIVITY:
        return "activity by event date (events that happened in the range)"
    if q.metric in (Metric.ISSUED, Metric.RECIPIENTS):
        return "counted by issue date"
    if q.basis is Basis.EVENT:
        return "engagement by event date"
    return "engagement by cohort (credentials issued in the range, their events to date)"


def context(result: MetricResult) -> str:
    as_of = result.now.astimezone(result.time_range.zone).strftime("%b %-d, %Y %H:%M")
    return (f"{result.org} · timezone {result.query.tz} · as of {as_of} · "
            f"{basis_words(result)} · definitions: credstats explain")


def empty_line(result: MetricResult) -> str:
    where = f" in group {', '.join(result.groups)}" if result.groups else ""
    return f"No credentials issued{where} in {range_words(result.time_range)}."


def table(rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = right or [i > 0 for i in range(len(widths))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(width) if right[i] else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("─" * w for w in widths))
    return "\n".join(lines)


def render(result: MetricResult) -> str:
    q = result.query
    body: list[str] = [header(result), ""]
    if q.metric is Metric.SUMMARY:
        body.append(_summary(result))
    elif result.values.get("issued", 0) == 0 and result.values.get("events", 0) == 0 \
            and not result.by_group:
        body.append(empty_line(result))
    elif q.metric in (Metric.GROUPS, Metric.COMPARE):
        body.append(_groups(result))
    else:
        body.append(_figures(result))
    if result.series:
        body += ["", _series(result)]
    if result.benchmarks:
        body += ["", "Benchmarks:", *(f"  {line}" for line in
                                      benchmark_lines(dict(result.values), result.benchmarks))]
    notes = _notes(result)
    if notes:
        body += [""] + notes
    body += ["", context(result)]
    return "\n".join(body)


def _previous_title(previous: Period) -> str:
    return f"{previous.time_range.label} ({previous.time_range.describe()})"


def label_case(text: str) -> str:
    """'shared on LinkedIn' → 'Shared on LinkedIn' (str.capitalize would lower the rest)."""
    return text[:1].upper() + text[1:]


def _figures(result: MetricResult) -> str:
    v, prev = result.values, result.previous
    pv: Mapping[str, int] = prev.values if prev else {}
    rates = "opened" in v
    head = ["", "count", *(["% of issued", "% of opened"] if rates else [])]
    if prev:
        head += [prev.time_range.label, "change"]
    rows = [head]

    def add(label: str, key: str, of_issued: bool = False, of_opened: bool = False) -> None:
        row = [label, f"{v[key]:,}"]
        if rates:
            row += [fraction(v[key], v["issued"]) if of_issued else "",
                    fraction(v[key], v["opened"]) if of_opened else ""]
        if prev:
            change = count_change(v[key], pv[key])
            if of_issued:
                points = rate_change(v[key], v["issued"], pv[key], pv["issued"])
                change = f"{change} · {points}" if points else change
            row += [f"{pv[key]:,}" + (f" ({pct(pv[key], pv['issued'])})" if of_issued else ""),
                    change]
        rows.append(row)

    add("Issued", "issued")
    add("Unique recipients", "recipients")
    if "opened" in v:
        for step in ENGAGEMENT_STEPS:
            add(label_case(step.label), step.key, of_issued=True,
                of_opened=step.key != "opened")
    if "events" in v:
        for event in EventType:
            add(f"{event.value} events", event.value)
        add("All events", "events")
        add("Credentials touched", "credentials")
    out = table(rows)
    if prev:
        same_point = " up to the same point" if result.time_range.to_date else ""
        out += f"\n\nCompared with the {prev.time_range.label}{same_point} " \
               f"({prev.time_range.describe()})."
    return out


def _summary(result: MetricResult) -> str:
    sections = dict(result.sections)
    rows = [["", "issued", "unique recipients"]]
    for name, title in (("last_30_days", "Last 30 days"), ("last_quarter", "Last quarter"),
                        ("all_time", "All time")):
        period = sections[name]
        span = "" if period.time_range.unbounded else f" ({period.time_range.describe()})"
        rows.append([f"{title}{span}", f"{period.values['issued']:,}",
                     f"{period.values['recipients']:,}"])
    out = [table(rows)]
    recent = sections["last_30_days"].values
    if recent["issued"]:
        out += ["", f"Engagement of the last 30 days' {recent['issued']:,} credentials:"]
        rows = [["", "of issued", "of opened"]]
        for step in ENGAGEMENT_STEPS:
            rows.append([label_case(step.label), fraction(recent[step.key], recent["issued"]),
                         "" if step.key == "opened" else pct(recent[step.key], recent["opened"])])
        out.append(table(rows))
    if result.time_range.label != "last 30 days":
        v = result.values
        out += ["", f"In {range_words(result.time_range)}: {v['issued']:,} issued to "
                f"{v['recipients']:,} unique recipients"
                + (f", {fraction(v['opened'], v['issued'])} opened" if v["issued"] else "") + "."]
    return "\n".join(out)


def _groups(result: MetricResult) -> str:
    rows = [["group", "issued", "recipients", "opened", "downloaded", "shared on LinkedIn",
             "added to profile"]]
    for g in result.by_group:
        v = g.values
        rows.append([g.group + (f" ({g.code})" if g.code else ""), f"{v['issued']:,}",
                     f"{v['recipients']:,}", fraction(v["opened"], v["issued"]),
                     fraction(v["downloaded"], v["issued"]),
                     fraction(v["linkedin_shared"], v["issued"]),
                     fraction(v["linkedin_profile_added"], v["issued"])])
    v = result.values
    total = ["Total", f"{v['issued']:,}", f"{v['recipients']:,}"]
    if "opened" in v:
        total += [fraction(v[k], v["issued"]) for k in
                  ("opened", "downloaded", "linkedin_shared", "linkedin_profile_added")]
    rows.append(total + [""] * (len(rows[0]) - len(total)))
    out = table(rows, [False] + [True] * 6)
    if result.previous:
        pv = result.previous.values
        out += (f"\n\nTotal vs {_previous_title(result.previous)}: issued {pv['issued']:,} → "
                f"{v['issued']:,} {count_change(v['issued'], pv['issued'])}")
    return out


def _series(result: MetricResult) -> str:
    keys = ["issued", "recipients"]
    if result.query.metric is Metric.ENGAGEMENT:
        keys += ["opened", "downloaded", "linkedin_shared"]
    if result.query.metric is Metric.ACTIVITY:
        keys += ["events", "credentials"]
    granularity = result.query.granularity
    assert granularity is not None
    rows = [[granularity.value, *keys]]
    for period in result.series:
        rows.append([period.time_range.describe(), *(f"{period.values[k]:,}" for k in keys)])
    return table(rows)


def _notes(result: MetricResult) -> list[str]:
    notes = []
    issued = result.values.get("issued", 0)
    engaged = "opened" in result.values
    if engaged and small_base(issued):
        notes.append(f"Note: rates rest on {issued} credentials (fewer than {SMALL_BASE}); "
                     "a small sample, not a trend.")
    return notes
