"""MetricResult → Slack Block Kit blocks and the plain-text fallback. Pure: no I/O.

Explicit cases: an empty range, the summary, a funnel, groups (capped, with "n more"), a series.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.numbers import (
    benchmark_lines,
    count_change,
    fraction,
    pct,
    rate_change,
    small_base,
)
from bot.render_text import basis_words, empty_line, header
from metrics.definitions import ENGAGEMENT_STEPS, SMALL_BASE, EventType, Metric
from metrics.query import MetricResult

Block = dict[str, Any]
MAX_GROUP_LINES = 12
ACTIONS = (("vs_year", "vs last year"), ("by_group", "by group"), ("csv", "CSV"))


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def context_line(result: MetricResult) -> str:
    parts = [f"Timezone {result.query.tz}", basis_words(result)]
    if result.previous:
        prev = result.previous.time_range
        parts.append(f"compared with the {prev.label} ({prev.describe()})")
    parts.append("definitions: `/credstats explain`")
    return " · ".join(parts)


def _change(v: Mapping[str, int], pv: Mapping[str, int] | None, key: str,
            rate_base: bool = False) -> str:
    if pv is None:
        return ""
    text = count_change(v[key], pv[key])
    if rate_base:
        points = rate_change(v[key], v["issued"], pv[key], pv["issued"])
        if points and not small_base(v["issued"]):
            text = f"{text} · rate {points}"
    return f"  _{text}_"


def figure_lines(result: MetricResult) -> list[str]:
    v = result.values
    pv = result.previous.values if result.previous else None
    lines = [f"*{v['issued']:,}* issued{_change(v, pv, 'issued')}",
             f"*{v['recipients']:,}* unique recipients{_change(v, pv, 'recipients')}"]
    if "opened" in v:
        for step in ENGAGEMENT_STEPS:
            share = fraction(v[step.key], v["issued"])
            if step.key == "opened":
                lines.append(f"*{share}* {step.label}{_change(v, pv, step.key, True)}")
            else:
                lines.append(f"*{v[step.key]:,}* {step.label} · {pct(v[step.key], v['issued'])} "
                             f"of issued · {pct(v[step.key], v['opened'])} of opened"
                             f"{_change(v, pv, step.key, True)}")
    if "events" in v:
        busy = [t for t in EventType if v[t.value]]
        lines.append(f"*{v['events']:,}* events on *{v['credentials']:,}* credentials"
                     f"{_change(v, pv, 'events')}")
        lines += [f"{v[t.value]:,} × {t.value}" for t in busy]
    return lines


def _group_lines(result: MetricResult) -> list[str]:
    shown = result.by_group[:MAX_GROUP_LINES]
    lines = []
    for rank, g in enumerate(shown, 1):
        v = g.values
        name = g.group + (f" ({g.code})" if g.code else "")
        prefix = f"{rank}. " if result.query.metric is Metric.GROUPS else "• "
        lines.append(f"{prefix}*{name}*: {v['issued']:,} issued · {v['recipients']:,} recipients "
                     f"· {fraction(v['opened'], v['issued'])} opened · "
                     f"{pct(v['linkedin_shared'], v['issued'])} shared on LinkedIn")
    hidden = len(result.by_group) - len(shown)
    if hidden > 0:
        lines.append(f"_… and {hidden} more group{'s' if hidden > 1 else ''} "
                     "(the CSV button has them all)_")
    # (one group's total is its own line)
    return [*lines, _total_line(result)] if len(result.by_group) > 1 else lines


def _total_line(result: MetricResult) -> str:
    """The groups together (a recipient of several counts once), as the text, CSV and JSON
    answers give it, with the change on the previous period."""
    v = result.values
    pv = result.previous.values if result.previous else None
    n = len(result.by_group)
    line = (f"*Total* ({'both' if n == 2 else f'all {n}'} groups): {v['issued']:,} issued"
            f"{_change(v, pv, 'issued')} · {v['recipients']:,} unique recipients")
    if "opened" in v:
        line += (f" · {fraction(v['opened'], v['issued'])} opened · "
                 f"{pct(v['linkedin_shared'], v['issued'])} shared on LinkedIn")
    return line


def _summary_lines(result: MetricResult) -> list[str]:
    sections = dict(result.sections)
    recent, quarter, ever = (sections[k] for k in ("last_30_days", "last_quarter", "all_time"))
    lines = [
        f"*{recent.values['issued']:,}* issued in the last 30 days "
        f"({recent.time_range.describe()})",
        f"*{quarter.values['issued']:,}* issued last quarter ({quarter.time_range.describe()})",
        f"*{ever.values['issued']:,}* issued all time, to "
        f"*{ever.values['recipients']:,}* unique recipients",
    ]
    rv = recent.values
    if rv["issued"]:
        lines.append(f"Last 30 days: *{fraction(rv['opened'], rv['issued'])}* opened · "
                     f"{rv['downloaded']:,} downloaded · {rv['linkedin_shared']:,} shared on "
                     f"LinkedIn · {rv['linkedin_profile_added']:,} added to a LinkedIn profile")
    return lines


def _series_lines(result: MetricResult) -> list[str]:
    key = "events" if result.query.metric is Metric.ACTIVITY else "issued"
    lines = [f"{p.time_range.describe()}: {p.values[key]:,}" for p in result.series[-24:]]
    if len(result.series) > 24:
        lines.insert(0, f"_last 24 of {len(result.series)} periods_")
    return lines


def action_value(query_text: str, tz: str) -> str:
    return json.dumps({"q": query_text[:1800], "tz": tz})


def render_blocks(result: MetricResult, query_text: str) -> tuple[list[Block], str]:
    """Blocks for a posted answer, and the plain-text fallback (notifications, screen readers)."""
    q = result.query
    title = header(result)
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text",
                                                         "text": title[:150], "emoji": False}}]
    if q.metric is Metric.SUMMARY:
        lines = _summary_lines(result)
    elif result.is_empty and not result.by_group:
        lines = [empty_line(result)]
    elif q.metric in (Metric.GROUPS, Metric.COMPARE):
        lines = _group_lines(result)
    else:
        lines = figure_lines(result)
    blocks.append(_section("\n".join(lines)))
    if result.series:
        blocks.append(_section(f"*By {q.granularity.value if q.granularity else ''}*\n"
                               + "\n".join(_series_lines(result))))
    if result.benchmarks:
        blocks.append(_context("\n".join(
            benchmark_lines(dict(result.values), result.benchmarks))))
    issued = result.values.get("issued", 0)
    if "opened" in result.values and small_base(issued):
        blocks.append(_context(f":warning: Rates rest on {issued} credentials (fewer than "
                               f"{SMALL_BASE}): a small sample, not a trend."))
    blocks.append(_context(context_line(result)))
    blocks.append({
        "type": "actions",
        "block_id": "credstats_actions",
        "elements": [
            {"type": "button", "action_id": f"credstats_{name}",
             "text": {"type": "plain_text", "text": label},
             "value": action_value(query_text, q.tz)}
            for name, label in ACTIONS
        ],
    })
    fallback = f"{title}: " + "; ".join(
        line.replace("*", "").replace("_", "") for line in lines[:6])
    return blocks, fallback[:3000]


def error_blocks(message: str, suggestions: tuple[str, ...]) -> tuple[list[Block], str]:
    """A user error: what was not understood, examples to copy, and where help is."""
    examples = [s for s in suggestions if s][:3]
    lines = [f":grey_question: {message}"]
    if examples:
        lines.append("Try: " + " · ".join(f"`/credstats {s}`" for s in examples))
    lines.append("`/credstats help` lists everything you can ask.")
    text = "\n".join(lines)
    return [_section(text)], text.replace("`", "")


def explain_blocks(text: str) -> tuple[list[Block], str]:
    return [_section(f"```{text[:2900]}```")], text[:3000]
