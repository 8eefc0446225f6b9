"""The metric definitions in words, generated from the registries in metrics/definitions.py.

`credstats explain` prints this and the README's "Metric definitions" section is this text (a
test keeps them identical).
"""

from __future__ import annotations

from metrics.definitions import (
    ENGAGEMENT_STEPS,
    EVENT_DESCRIPTIONS,
    FIGURES,
    FIGURES_BY_KEY,
    METRIC_DESCRIPTIONS,
    METRIC_FIGURES,
    SMALL_BASE,
    EventType,
    Metric,
)
from metrics.errors import UserError, did_you_mean

RULES = (
    "Ranges are half-open [start, end) in the query's timezone (default UTC); weeks start on "
    "Monday; `last 30 days` includes today.",
    "Comparisons: a range named as a calendar unit (last week, October, Q3, this quarter, last "
    "year...) is compared with the unit before it; a unit still under way ends tomorrow (to "
    "date) and is compared with the previous unit up to the same point (this quarter to Nov 29 "
    "→ the previous quarter to Aug 29). Any other range is compared with the range of the same "
    "length that ends where it starts. `vs:year` compares with the same days one year earlier.",
    "Engagement is counted by cohort: of the credentials issued in the range, how many had at "
    "least one event of each kind at any time up to now (the `--now` instant). Each step is "
    "shown as a count, as % of issued and as % of opened. A credential counts once per step "
    "however many events it has. % of opened is a ratio of two counts of the same cohort.",
    "Activity is counted by event date: events whose occurred_at is in the range, whatever the "
    "credential's issue date, by any actor, and the distinct credentials they touched.",
    f"Rates whose base is under {SMALL_BASE} credentials carry a small-sample note.",
    "Series (by:day|week|month|quarter) cover the range in calendar buckets of the query's "
    "timezone, clipped to the range, empty buckets included.",
)


def explain(metric: str | None = None) -> str:
    """Definitions of every figure, or of those one metric (or one figure) shows."""
    if metric is None:
        return _everything()
    key = metric.strip().lower()
    if key in FIGURES_BY_KEY:
        return _figure_lines(key)
    try:
        chosen = Metric(key)
    except ValueError:
        names = [m.value for m in Metric] + list(FIGURES_BY_KEY)
        raise UserError(
            f"No metric or figure called {metric!r}. Known: {', '.join(names)}.",
            did_you_mean(metric, names) or ["credstats explain engagement"],
        ) from None
    lines = [f"{chosen.value}: {METRIC_DESCRIPTIONS[chosen]}", ""]
    for figure in METRIC_FIGURES[chosen]:
        lines.append(_figure_lines(figure))
    return "\n".join(lines).rstrip()


def _figure_lines(key: str) -> str:
    f = FIGURES_BY_KEY[key]
    return (f"- {f.key} ({f.label}): {f.numerator}.\n"
            f"  denominator: {f.denominator}; basis: {f.basis}.")


def _everything() -> str:
    lines = ["Metrics (what a query asks for):"]
    lines += [f"- {m.value}: {METRIC_DESCRIPTIONS[m]}" for m in Metric]
    lines += ["", "Figures:"]
    lines += [_figure_lines(f.key) for f in FIGURES]
    lines += ["", "Engagement steps and the events that count:"]
    for step in ENGAGEMENT_STEPS:
        who = "the owner only" if step.owner_only else "anyone"
        events = ", ".join(t.value for t in step.event_types)
        lines.append(f"- {step.key}: {events} (by {who})")
    lines += ["", "Event types:"]
    lines += [f"- {t.value}: {EVENT_DESCRIPTIONS[t]}" for t in EventType]
    lines += ["", "Rules:"]
    lines += [f"- {rule}" for rule in RULES]
    return "\n".join(lines)
