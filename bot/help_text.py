"""How to ask: the usage text shown by `help`, generated from the parser's registries."""

from __future__ import annotations

from metrics.definitions import METRIC_DESCRIPTIONS, Metric
from metrics.parse import EXAMPLES, METRIC_WORDS

TIME_FORMS = (
    ("today, yesterday, on 2026-03-01", "one day"),
    ("last 30 days, past 12 weeks, last 6 months", "rolling, today included"),
    ("this week|month|quarter|year, wtd, mtd, qtd, ytd", "to date"),
    ("last week|month|quarter|year", "the previous complete unit"),
    ("Q3, Q3 2026, 2026-Q3", "a quarter (to date if under way)"),
    ("October, Oct 2025, 2025", "a month or a year (to date if under way)"),
    ("since 2026-03-01, since March", "from that day to today"),
    ("2026-07-01..2026-09-30, from March 1 to March 31", "the end date is included"),
    ("all time, ever, lifetime", "unbounded"),
)

OPTIONS = (
    ("group:CPA, group:\"Data Science Bootcamp\", group:CPA,CFA", "filter by group (name or code)"),
    ("kind:badge|certificate", "filter by credential kind"),
    ("by:day|week|month|quarter", "add a series"),
    ("vs:previous|year|none", "what to compare with (default: previous period)"),
    ("tz:Area/City", "the timezone for dates (default UTC)"),
    ("basis:issued|event", "engagement by issue-date cohort (default) or by event date"),
)


def usage() -> str:
    lines = ["Ask: [METRIC] [FILTERS] [TIME] [OPTIONS], in any order. Default: summary, "
             "last 30 days.", "", "Metrics:"]
    for metric in Metric:
        words = ", ".join(METRIC_WORDS[metric])
        lines.append(f"  {metric.value:<11} {METRIC_DESCRIPTIONS[metric]} ({words})")
    lines += ["", "Time:"]
    lines += [f"  {form:<50} {meaning}" for form, meaning in TIME_FORMS]
    lines += ["", "Options:"]
    lines += [f"  {form:<50} {meaning}" for form, meaning in OPTIONS]
    lines += ["", "Examples:"] + [f"  {e}" for e in EXAMPLES]
    return "\n".join(lines)
