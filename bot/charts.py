"""Charts as PNG bytes: matplotlib's Figure API into a BytesIO (never pyplot), imported lazily
so that answers without a chart never load matplotlib.

One chart per answer, whichever fits: a trend for a series, a funnel for engagement, bars for
groups side by side or ranked, event types for activity. Each has a title that says metric,
groups and range, direct labels, a colour-blind-safe palette and a footnote with the timezone
and the data time; and alt text for screen readers (the Slack file's alt text).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from typing import TYPE_CHECKING, Any

from bot.numbers import pct
from bot.render_text import header
from metrics.definitions import ENGAGEMENT_STEPS, EventType, Granularity, Metric
from metrics.query import MetricResult
from metrics.timerange import shift, unit_start

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe–Ito, safe for the common colour-vision deficiencies
BLUE, ORANGE, GREEN, SKY, VERMILION, PURPLE, GREY = (
    "#0072B2", "#E69F00", "#009E73", "#56B4E9", "#D55E00", "#CC79A7", "#999999")
MAX_BARS = 12
FUNNEL_KEYS = ("opened", "downloaded", "linkedin_shared", "linkedin_profile_added")


@dataclass(frozen=True)
class Chart:
    png: bytes
    alt_text: str
    filename: str
    title: str


@dataclass(frozen=True)
class Drawing:
    """A chart before it becomes PNG bytes (tests inspect its texts and their extents)."""

    figure: Figure
    alt_text: str
    kind: str


def chart_for(result: MetricResult) -> Chart | None:
    """The chart that fits the answer as PNG bytes, or None (a summary, an empty range)."""
    drawing = draw(result)
    if drawing is None:
        return None
    from matplotlib import rc_context

    buffer = BytesIO()
    # unhinted glyphs and light PNG compression: a third less time, no visible difference
    with rc_context({"text.hinting": "no_hinting"}):
        drawing.figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return Chart(buffer.getvalue(), drawing.alt_text[:1000], f"credstats-{drawing.kind}.png",
                 header(result))


def draw(result: MetricResult) -> Drawing | None:
    """The chart that fits the answer, or None."""
    q = result.query
    if result.series and any(p.values.get("issued") or p.values.get("events")
                             for p in result.series):
        return _trend(result)
    if q.metric in (Metric.GROUPS, Metric.COMPARE) and result.by_group:
        return _groups(result)
    if q.metric is Metric.ENGAGEMENT and result.values.get("issued"):
        return _funnel(result)
    if q.metric is Metric.ACTIVITY and result.values.get("events"):
        return _activity(result)
    return None


WIDTH = 9.0  # inches; 990 px at 110 dpi, legible in a Slack message on phone and desktop
CHAR = 0.072  # inches per character of a 9 pt label (DejaVu Sans, on average)


def _figure(height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height), dpi=110)


def _frame(fig: Figure, title: str, *, label_chars: int, tick_lines: int = 1) -> None:
    """Margins from what surrounds the axes: the title's lines above, the longest category
    label on the left, tick labels, axis label and footnote below. Computed, not measured:
    a layout engine would draw the figure twice (a test checks nothing is cut off)."""
    height = fig.get_figheight()
    top = 0.2 + 0.22 * (title.count("\n") + 1)
    bottom = 0.75 + 0.15 * tick_lines
    left = 0.3 + CHAR * label_chars
    fig.subplots_adjust(left=left / WIDTH, right=1 - 0.25 / WIDTH, top=1 - top / height,
                        bottom=bottom / height)
    _suptitle(fig, title)


def _footnote(fig: Figure, result: MetricResult) -> None:
    as_of = result.now.astimezone(result.time_range.zone).strftime("%b %-d, %Y %H:%M")
    fig.text(0.01, 0.005, f"{result.org} · timezone {result.query.tz} · data as of {as_of}",
             fontsize=8, color=GREY, ha="left", va="bottom")


def _png(fig: Figure, result: MetricResult, alt: str, kind: str) -> Drawing:
    _footnote(fig, result)
    return Drawing(fig, alt, kind)


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def _trend(result: MetricResult) -> Drawing:
    key = "events" if result.query.metric is Metric.ACTIVITY else "issued"
    fig = _figure()
    ax = fig.subplots()
    labels = [_bucket_label(p.time_range.start, result.query.granularity)
              for p in result.series]
    values = [p.values[key] for p in result.series]
    positions = list(range(len(values)))
    # a bucket cut short by the range (the month still under way) is drawn lighter and says so
    partial = [p.time_range.end is not None and p.time_range.start is not None
               and p.time_range.end < _natural_end(p.time_range.start, result.query.granularity)
               for p in result.series]
    ax.bar(positions, values, color=[SKY if cut else BLUE for cut in partial], width=0.7)
    if partial[-1]:
        labels[-1] += "\n(to date)"
    if partial[0] and len(partial) > 1:
        labels[0] += "\n(part)"
    step = max(1, len(labels) // 12)
    ax.set_xticks(positions[::step], labels[::step], rotation=0)
    granularity = result.query.granularity.value if result.query.granularity else "period"
    ax.set_ylabel(f"{key} per {granularity}")
    _frame(fig, _title(result), label_chars=len(f"{max(values):,}") + 3,
           tick_lines=2 if any("\n" in label for label in labels) else 1)
    before = [p.values[key] for p in result.previous_series][: len(values)]
    if before and result.previous:
        ax.plot(positions[: len(before)], before, color=GREY, linewidth=1.5, alpha=0.8,
                marker="o", markersize=3)
        compared = result.previous.time_range
        ax.set_xlabel(f"grey line: the {compared.label} ({compared.describe()})", color=GREY,
                      fontsize=9)
    if len(values) <= 16:
        for x, v in zip(positions, values, strict=True):
            ax.annotate(f"{v:,}", (x, v), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
    _style(ax)
    peak = max(values)
    alt = (f"Bar chart of {key} per {granularity}, {result.time_range.describe()}: "
           f"{len(values)} bars, total {sum(values):,}, highest {peak:,}.")
    if before and result.previous:
        alt += (f" A grey line shows the {result.previous.time_range.label} "
                f"({result.previous.time_range.describe()}): total {sum(before):,}.")
    return _png(fig, result, alt, "trend")


def _funnel(result: MetricResult) -> Drawing:
    v = result.values
    steps = [("Issued", v["issued"], "")] + [
        (step.label[:1].upper() + step.label[1:], v[step.key],
         f"{pct(v[step.key], v['issued'])} of issued"
         + ("" if step.key == "opened" else f" · {pct(v[step.key], v['opened'])} of opened"))
        for step in ENGAGEMENT_STEPS if step.key in FUNNEL_KEYS
    ]
    fig = _figure(3.8)
    ax = fig.subplots()
    names = [s[0] for s in steps][::-1]
    counts = [s[1] for s in steps][::-1]
    colors = [BLUE, SKY, GREEN, ORANGE, VERMILION][: len(steps)][::-1]
    ax.barh(names, counts, color=colors)
    for y, (_name, count, note) in enumerate(steps[::-1]):
        ax.annotate(f" {count:,}" + (f"  ({note})" if note else ""), (count, y),
                    va="center", fontsize=9)
    ax.set_xlim(0, max(counts) * 1.6 or 1)
    ax.set_xlabel("credentials (cohort: issued in the range, each counted once per step)")
    _frame(fig, _title(result), label_chars=max(len(n) for n in names))
    _style(ax)
    alt = "Engagement funnel: " + "; ".join(
        f"{name} {count:,}" + (f" ({note})" if note else "") for name, count, note in steps)
    return _png(fig, result, alt, "funnel")


def _groups(result: MetricResult) -> Drawing:
    rows = sorted(result.by_group, key=lambda g: -g.values["issued"])
    shown, hidden = rows[:MAX_BARS], len(rows) - MAX_BARS
    fig = _figure(max(3.0, 0.45 * len(shown) + 1.6))
    ax = fig.subplots()
    names = [_short(g.group + (f" ({g.code})" if g.code else "")) for g in shown][::-1]
    issued = [g.values["issued"] for g in shown][::-1]
    opened = [g.values["opened"] for g in shown][::-1]
    rows_at = list(range(len(names)))  # positions, not names: two long names may look alike
    ax.barh(rows_at, issued, color=SKY, label="issued")
    ax.barh(rows_at, opened, color=BLUE, height=0.45, label="opened")
    ax.set_yticks(rows_at, names)
    for y, (i, o) in enumerate(zip(issued, opened, strict=True)):
        ax.annotate(f" {i:,} issued · {pct(o, i)} opened", (i, y), va="center", fontsize=9)
    ax.set_xlim(0, max(issued + [1]) * 1.55)
    ax.set_xlabel("credentials issued (dark: opened by their owner)")
    more = f" · top {MAX_BARS}, {hidden} more not shown" if hidden > 0 else ""
    _frame(fig, _title(result, more), label_chars=max(len(n) for n in names))
    _style(ax)
    scope = f"the top {len(shown)} of {len(rows)} groups (and {hidden} more groups not shown)" \
        if hidden > 0 else f"{len(rows)} groups"
    alt = f"Bar chart of credentials issued and opened, {scope}: " + "; ".join(
        f"{g.group} {g.values['issued']:,} issued, {g.values['opened']:,} opened" for g in shown)
    return _png(fig, result, alt, "groups")


def _activity(result: MetricResult) -> Drawing:
    v = result.values
    busy = [t.value for t in EventType if v[t.value]]
    fig = _figure(max(3.0, 0.4 * len(busy) + 1.6))
    ax = fig.subplots()
    ax.barh(busy[::-1], [v[k] for k in busy][::-1], color=GREEN)
    for y, k in enumerate(busy[::-1]):
        ax.annotate(f" {v[k]:,}", (v[k], y), va="center", fontsize=9)
    ax.set_xlim(0, max(v[k] for k in busy) * 1.25)
    ax.set_xlabel("events in the range (by event date, any actor)")
    _frame(fig, _title(result), label_chars=max(len(k) for k in busy))
    _style(ax)
    alt = "Events by type: " + "; ".join(f"{k} {v[k]:,}" for k in busy)
    return _png(fig, result, alt, "activity")


def _title(result: MetricResult, suffix: str = "") -> str:
    return textwrap.fill(header(result) + suffix, width=95)


def _suptitle(fig: Figure, title: str) -> None:
    """The title across the whole figure (not just the axes), so long ones are never cut."""
    fig.suptitle(title, x=0.01, ha="left", fontsize=11)


def _natural_end(start: date, granularity: Granularity | None) -> date:
    if granularity is None:
        return start
    return shift(unit_start(start, granularity), granularity, 1)


def _bucket_label(start: date | None, granularity: Granularity | None) -> str:
    if start is None:
        return ""
    match granularity:
        case Granularity.MONTH:
            return start.strftime("%b %Y") if start.month == 1 else start.strftime("%b")
        case Granularity.QUARTER:
            return f"Q{(start.month - 1) // 3 + 1} {start.year}"
        case Granularity.YEAR:
            return str(start.year)
        case _:
            return start.strftime("%b %-d")


def _short(name: str, limit: int = 38) -> str:
    """Long names lose their middle, where names of one family differ least."""
    if len(name) <= limit:
        return name
    tail = limit // 2 - 1
    return name[: limit - tail - 1] + "…" + name[-tail:]
