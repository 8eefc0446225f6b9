"""How to ask: the usage text shown by `help`, generated from the parser's registries."""

from __future__ import annotations

from metrics.definitions import METRIC_DESCRIPTIONS, Metric
from metrics.parse import EXAMPLES, METRIC_WORDS

# Every example here is parsed by a test, so this list cannot drift from the grammar.
TIME_FORMS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("today", "yesterday", "on 2026-03-01", "on friday", "last monday"), "one day"),
    (("last 30 days", "past 12 weeks", "last 6 months", "past two years", "past week"),
     "rolling, today included"),
    (("this week", "this month", "this quarter", "this year", "mtd", "qtd", "ytd",
      "year to date"), "to date: from the start of the unit to today"),
    (("last week", "last month", "last quarter", "last year", "previous quarter"),
     "the previous complete unit"),
    (("Q3", "Q3 2025", "2025 Q3", "2025-Q3", "third quarter of 2025"),
     "a quarter; without a year the latest that has started; under way: to date"),
    (("October", "Oct 2025", "in March", "last October", "2025"),
     "a month or a year; under way: to date"),
    (("since 2026-03-01", "since March", "since Q2", "since 2025", "from March 1"),
     "from then to today"),
    (("2026-07-01..2026-09-30", "2026-07-01 - 2026-09-30", "from March 1 to March 31",
      "between Jan 1 and Mar 31", "from March to May"), "a range, the end date included"),
    (("2026-03-01", "March 1", "Mar 1 2026", "1 March 2026", "March 1st", "3/1/2026"),
     "a date (month/day); without a year the latest not in the future"),
    (("until Sep 30", "before 2026-01-01"), "everything up to a date"),
    (("all time", "ever", "lifetime"), "unbounded"),
)

OPTIONS = (
    ("group:CPA, group:\"Data Science Bootcamp\", group:CPA,CFA",
     "filter by group (name, code, or a bare name/code in the text)"),
    ("kind:badge|certificate", "filter by credential kind"),
    ("by:day|week|month|quarter", "add a series"),
    ("vs:previous|year|none", "what to compare with (default: previous period)"),
    ("tz:America/New_York", "the timezone for dates, any IANA name (default UTC)"),
    ("basis:issued|event", "engagement by issue-date cohort (default) or by event date"),
    ("vs last year, year over year, compared to the same period last year", "vs:year in words"),
    ("by month, per week, monthly, week by week", "by: in words"),
)


def usage() -> str:
    lines = ["Ask: [METRIC] [FILTERS] [TIME] [OPTIONS], in any order. Default: summary, "
             "last 30 days.", "", "Metrics:"]
    for metric in Metric:
        words = ", ".join(METRIC_WORDS[metric][:5])
        lines.append(f"  {metric.value:<11} {METRIC_DESCRIPTIONS[metric]}\n"
                     f"              words: {words}...")
    lines += ["", "Time:"]
    lines += [f"  {', '.join(forms)}\n      {meaning}" for forms, meaning in TIME_FORMS]
    lines.append("  nothing: the last 30 days")
    lines += ["", "Options:"]
    lines += [f"  {form}\n      {meaning}" for form, meaning in OPTIONS]
    lines += ["", "Examples:"] + [f"  {e}" for e in EXAMPLES]
    return "\n".join(lines)
