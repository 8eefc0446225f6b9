"""The query language: text (a slash command, a mention, a CLI argument) → `MetricQuery`.

`[METRIC] [FILTERS] [TIME] [OPTIONS]` in any order, case-insensitive. Every word must be
understood: options (`group:`, `by:`...), then time phrases, then metric words, group names and a
few filler words. Anything left over is a `UserError` naming it, never a silent guess.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from metrics.catalog import Group, resolve_group
from metrics.definitions import Basis, Comparison, CredentialKind, Granularity, Metric
from metrics.errors import UserError, did_you_mean
from metrics.query import MetricQuery
from metrics.timerange import (
    TimeRange,
    all_time,
    current_unit,
    named_unit,
    previous_unit,
    rolling,
    today_in,
    zone,
)

EXAMPLES = (
    "engagement group:CPA last quarter",
    "issued this year by:month",
    "compare CPA vs CFA last 90 days",
)

METRIC_WORDS: dict[Metric, tuple[str, ...]] = {
    Metric.HELP: ("help", "usage"),
    Metric.COMPARE: ("compare", "comparison", "vs", "versus"),
    Metric.GROUPS: ("groups", "top", "leaderboard", "ranking", "ranked"),
    Metric.ACTIVITY: ("activity", "events"),
    Metric.ENGAGEMENT: ("engagement", "engaged", "opened", "opens", "views", "viewed", "funnel"),
    Metric.RECIPIENTS: ("recipients", "recipient", "learners", "earners", "people", "unique"),
    Metric.ISSUED: ("issued", "issuance", "issue", "credentials", "credential", "certificates",
                    "certificate", "badges", "badge", "awarded"),
    Metric.SUMMARY: ("summary", "report", "overview"),
}
# When a question holds several metric words, the most specific wins (in this order).
METRIC_PRIORITY = tuple(METRIC_WORDS)
WORD_TO_METRIC = {w: m for m, words in METRIC_WORDS.items() for w in words}

FILLER = frozenset(
    """how many much what whats what's was were is are did do does we our us i me my show give
    get tell the a an of for in on at to with and number numbers count total all so far have has
    had been be please stats statistics there it its per were which who whom did got send sent
    many their them that those these our each every""".split()
)

OPTION_KEYS = ("group", "kind", "by", "vs", "tz", "basis", "format")

MONTHS = {
    name: index + 1
    for index, names in enumerate(
        ("jan january", "feb february", "mar march", "apr april", "may", "jun june",
         "jul july", "aug august", "sep sept september", "oct october", "nov november",
         "dec december")
    )
    for name in names.split()
}
_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_UNIT = r"(day|week|month|quarter|year)s?"
_ISO = r"\d{4}-\d{1,2}-\d{1,2}"
_DAY = r"\b\d{1,2}(?:st|nd|rd|th)?\b"
_YEAR = r"(?:,?\s+\d{4})?"
_DATE = rf"(?:{_ISO}|{_MONTH}\s+{_DAY}{_YEAR}|{_DAY}\s+{_MONTH}{_YEAR})"
UNITS = {u.value: u for u in Granularity}


@dataclass
class _State:
    text: str
    now: datetime
    tz: str
    catalog: Sequence[Group] | None
    metric_words: list[Metric] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    kind: CredentialKind | None = None
    granularity: Granularity | None = None
    compare: Comparison | None = None
    basis: Basis = Basis.ISSUED
    output_format: str | None = None
    time: tuple[str, Callable[[date, str], TimeRange]] | None = None

    @property
    def today(self) -> date:
        return today_in(self.now, self.tz)


SMART_QUOTES = str.maketrans("“”‘’", "\"\"''")


def clean_slack_text(text: str) -> str:
    """Slack markup → plain words: mentions and channel links go, entities and quotes are plain."""
    text = re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", text)
    text = re.sub(r"<#[A-Z0-9]+(?:\|([^>]*))?>", lambda m: m.group(1) or " ", text)
    text = re.sub(r"<mailto:[^|>]+\|([^>]+)>", r"\1", text)
    text = re.sub(r"<(https?://[^|>]+)(?:\|[^>]*)?>", r"\1", text)
    text = html.unescape(text)
    text = text.translate(SMART_QUOTES)
    text = text.strip()
    return text if text == "?" else text.rstrip("?.!,;").strip()


def parse(
    text: str, *, now: datetime, tz: str = "UTC", catalog: Sequence[Group] | None = None
) -> MetricQuery:
    """Parse `text` as of `now` in timezone `tz`; group names resolve against `catalog` when
    one is given (else they are kept as typed)."""
    zone(tz)
    state = _State(clean_slack_text(text), now, tz, catalog)
    if state.text == "?":
        state.metric_words.append(Metric.HELP)
        state.text = ""
    rest = _take_options(state, state.text)
    rest = _take_comparisons(state, rest.lower())
    rest = _take_time(state, rest)
    leftovers = _take_words(state, rest)
    if leftovers:
        quoted = ", ".join(f"'{w}'" for w in leftovers)
        hints: list[str] = []
        for word in leftovers:
            hints += did_you_mean(word, [*WORD_TO_METRIC, *_group_words(catalog)], limit=1)
        hint = f" Did you mean {', '.join(hints)}?" if hints else ""
        raise UserError(f"I didn't understand {quoted}.{hint}", [*hints, *EXAMPLES])
    return _build(state)


def _build(state: _State) -> MetricQuery:
    metric = next((m for m in METRIC_PRIORITY if m in state.metric_words), None)
    if metric is None:
        # No metric word: several groups are a comparison, a series counts issuance, and
        # anything else gets the summary.
        if len(state.groups) > 1:
            metric = Metric.COMPARE
        elif state.granularity is not None:
            metric = Metric.ISSUED
        else:
            metric = Metric.SUMMARY
    if state.time is None:
        label = "last 30 days"
        time_range = rolling(state.today, 30, Granularity.DAY, state.tz, label)
    else:
        label, make = state.time
        time_range = make(state.today, state.tz)
    return MetricQuery(
        metric=metric,
        time_range=time_range,
        groups=tuple(dict.fromkeys(state.groups)),
        kind=state.kind,
        granularity=state.granularity,
        compare=state.compare or Comparison.PREVIOUS,
        basis=state.basis,
        output_format=state.output_format,
    )


# -- options: key:value ----------------------------------------------------------------------

_OPTION = re.compile(r"""(?<!\S)([a-z_]+):\s?("[^"]*"|'[^']*'|[^\s"']+)""", re.IGNORECASE)


def _take_options(state: _State, text: str) -> str:
    def handle(match: re.Match[str]) -> str:
        key, value = match.group(1).lower(), match.group(2).strip("\"'").strip()
        if key == "group":
            for name in filter(None, (v.strip() for v in value.split(","))):
                state.groups.append(_group_name(state, name))
        elif key == "kind":
            state.kind = _choice(CredentialKind, value.rstrip("s"), "kind", "kind:badge")
        elif key == "by":
            if value.lower() in ("group", "groups"):
                state.metric_words.append(Metric.GROUPS)
            else:
                state.granularity = _choice(Granularity, value, "by", "by:week")
        elif key == "vs":
            state.compare = _choice(Comparison, value, "vs", "vs:year")
        elif key == "tz":
            zone(value)
            state.tz = value
        elif key == "basis":
            state.basis = _choice(Basis, value, "basis", "basis:event")
        elif key == "format":
            if value.lower() not in ("csv", "json", "text"):
                raise UserError(f"Unknown format {value!r}: use format:csv.", ["format:csv"])
            state.output_format = value.lower()
        else:
            close = did_you_mean(key, OPTION_KEYS, limit=1)
            hint = f" Did you mean {close[0]}:?" if close else ""
            raise UserError(
                f"Unknown option '{key}:'.{hint} Options: "
                + ", ".join(f"{k}:" for k in OPTION_KEYS) + ".",
                [f"{k}:" for k in close] + list(EXAMPLES[:2]),
            )
        return " "

    return _OPTION.sub(handle, text)


E = TypeVar("E", CredentialKind, Granularity, Comparison, Basis)


def _choice(enum: type[E], value: str, key: str, example: str) -> E:
    try:
        return enum(value.lower())
    except ValueError:
        allowed = "|".join(m.value for m in enum)
        raise UserError(f"Unknown {key}:{value}: use {key}:{allowed}.", [example]) from None


def _group_name(state: _State, typed: str) -> str:
    if state.catalog is None:
        return typed
    return resolve_group(state.catalog, typed).name


def _group_words(catalog: Sequence[Group] | None) -> list[str]:
    if not catalog:
        return []
    return [g.name.lower() for g in catalog] + [g.code.lower() for g in catalog if g.code]


# -- comparisons in words ("vs last year") -------------------------------------------------------

_COMPARISONS = (
    (re.compile(r"\b(?:vs\.?|versus|compared (?:to|with)|against)\s+(?:the\s+)?(?:same\s+"
                r"(?:period|time)\s+)?(?:last|a|one|previous|prior)\s+year(?:\s+ago)?\b"
                r"|\byear[- ]over[- ]year\b|\byoy\b"), Comparison.YEAR),
    (re.compile(r"\b(?:vs\.?|versus|compared (?:to|with))\s+(?:the\s+)?(?:previous|prior|last)"
                r"\s+period\b"), Comparison.PREVIOUS),
)


def _take_comparisons(state: _State, text: str) -> str:
    for pattern, comparison in _COMPARISONS:
        if pattern.search(text):
            state.compare = comparison
            text = pattern.sub(" ", text)
    return text


# -- time phrases ---------------------------------------------------------------------------

def _set_time(state: _State, phrase: str, make: Callable[[date, str], TimeRange]) -> None:
    if state.time is not None:
        raise UserError(
            f"Two time ranges in one question: '{state.time[0]}' and '{phrase}'. Keep one.",
            ["engagement last quarter", "issued 2026-01-01..2026-03-31"],
        )
    state.time = (phrase, make)


def _parse_date(text: str, today: date) -> date:
    """One date: ISO, 'March 1', '1 March 2026', 'Mar 1st, 2026'; without a year, the most
    recent such day that is not in the future."""
    text = text.strip().lower().replace(",", " ")
    try:
        if re.fullmatch(_ISO, text):
            year, month, day = (int(p) for p in text.split("-"))
            return date(year, month, day)
        words = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text).replace(".", "").split()
        if words[0].isdigit():
            words[0], words[1] = words[1], words[0]
        month, day = MONTHS[words[0]], int(words[1])
        if len(words) > 2:
            return date(int(words[2]), month, day)
        for year in (today.year, today.year - 1, today.year - 2, today.year - 4):
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if candidate <= today:
                return candidate
        raise ValueError(text)
    except (ValueError, KeyError, IndexError):
        raise UserError(
            f"'{text}' is not a date that exists.", ["2026-02-28", "March 1", "1 March 2026"]
        ) from None


def _month_start(name: str, year: str | None, today: date) -> date:
    month = MONTHS[name.rstrip(".")]
    if year:
        return date(int(year), month, 1)
    start = date(today.year, month, 1)
    return start if start <= today else date(today.year - 1, month, 1)


def _quarter_start(number: str, year: str | None, today: date) -> date:
    q = int(number)
    if year:
        return date(int(year), 3 * q - 2, 1)
    start = date(today.year, 3 * q - 2, 1)
    return start if start <= today else date(today.year - 1, 3 * q - 2, 1)


def _days(start: date, end: date, tz: str, label: str) -> TimeRange:
    return TimeRange(start, end, tz, label)


Resolver = Callable[[date, str], TimeRange]
_TIME_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], _State], Resolver]]] = [
    (
        re.compile(rf"\b(?:from|between)?\s*({_DATE})\s*(?:\.\.|–|—|\s-\s|\bto\b|\band\b|"
                   rf"\buntil\b|\bthrough\b|\bthru\b)\s*({_DATE})"),
        lambda m, s: lambda today, tz: _days(
            _parse_date(m.group(1), today),
            _parse_date(m.group(2), today) + timedelta(days=1), tz, m.group(0).strip()),
    ),
    (
        re.compile(rf"\bsince\s+({_DATE})"),
        lambda m, s: lambda today, tz: _days(
            _parse_date(m.group(1), today), today + timedelta(days=1), tz, m.group(0)),
    ),
    (
        re.compile(rf"\bsince\s+({_MONTH})(?:\s+(\d{{4}}))?\b"),
        lambda m, s: lambda today, tz: _days(
            _month_start(m.group(1), m.group(2), today), today + timedelta(days=1), tz,
            m.group(0)),
    ),
    (
        re.compile(r"\b(?:all[- ]time|ever|lifetime|since (?:the )?(?:beginning|start))\b"),
        lambda m, s: lambda today, tz: all_time(tz),
    ),
    (
        re.compile(rf"\b(?:last|past|previous|prior)\s+(\d+)\s+{_UNIT}\b"),
        lambda m, s: lambda today, tz: rolling(
            today, int(m.group(1)), UNITS[m.group(2)], tz, m.group(0)),
    ),
    (
        re.compile(rf"\b(?:this|current)\s+{_UNIT}\b|\b(w|m|q|y)td\b"),
        lambda m, s: lambda today, tz: current_unit(
            today, UNITS[m.group(1)] if m.group(1) else
            {"w": Granularity.WEEK, "m": Granularity.MONTH, "q": Granularity.QUARTER,
             "y": Granularity.YEAR}[m.group(2)], tz, m.group(0)),
    ),
    (
        re.compile(rf"\b(?:last|previous|prior)\s+{_UNIT}\b"),
        lambda m, s: lambda today, tz: previous_unit(today, UNITS[m.group(1)], tz, m.group(0)),
    ),
    (
        re.compile(r"\btoday\b"),
        lambda m, s: lambda today, tz: _days(today, today + timedelta(days=1), tz, "today"),
    ),
    (
        re.compile(r"\byesterday\b"),
        lambda m, s: lambda today, tz: _days(today - timedelta(days=1), today, tz, "yesterday"),
    ),
    (
        re.compile(r"\b(?:in\s+)?q([1-4])(?:\s*-?\s*(\d{4}))?\b|\b(\d{4})\s*-?\s*q([1-4])\b"),
        lambda m, s: lambda today, tz: named_unit(
            _quarter_start(m.group(1) or m.group(4), m.group(2) or m.group(3), today),
            Granularity.QUARTER, today, tz,
            f"Q{m.group(1) or m.group(4)} "
            f"{_quarter_start(m.group(1) or m.group(4), m.group(2) or m.group(3), today).year}"),
    ),
    (
        re.compile(rf"\b(?:on\s+)?({_DATE})"),
        lambda m, s: lambda today, tz: _days(
            _parse_date(m.group(1), today), _parse_date(m.group(1), today) + timedelta(days=1),
            tz, m.group(1)),
    ),
    (
        re.compile(rf"\b(?:in\s+)?({_MONTH})(?:\s+(\d{{4}}))?\b"),
        lambda m, s: lambda today, tz: named_unit(
            _month_start(m.group(1), m.group(2), today), Granularity.MONTH, today, tz,
            f"{_month_start(m.group(1), m.group(2), today):%B %Y}"),
    ),
    (
        re.compile(r"\b(?:in\s+)?((?:19|20)\d{2})\b"),
        lambda m, s: lambda today, tz: named_unit(
            date(int(m.group(1)), 1, 1), Granularity.YEAR, today, tz, m.group(1)),
    ),
]


def _take_time(state: _State, text: str) -> str:
    for pattern, rule in _TIME_RULES:
        while (match := pattern.search(text)) is not None:
            make = rule(match, state)
            make(state.today, state.tz)  # resolve now: impossible dates fail here, by name
            _set_time(state, match.group(0).strip(), make)
            text = text[: match.start()] + " " + text[match.end():]
    return text


# -- words: metrics, group names, filler ----------------------------------------------------

_GRANULARITY_WORDS = {"daily": Granularity.DAY, "weekly": Granularity.WEEK,
                      "monthly": Granularity.MONTH, "quarterly": Granularity.QUARTER}


def _take_words(state: _State, text: str) -> list[str]:
    text = re.sub(r"\b(?:by|per)\s+(day|week|month|quarter)s?\b",
                  lambda m: _granularity(state, UNITS[m.group(1)]), text)
    text = re.sub(r"\b(?:by|per)\s+groups?\b", lambda m: _metric(state, Metric.GROUPS), text)
    words = re.findall(r"[\w'&+./-]+|\?", text)
    names = _catalog_phrases(state.catalog)
    leftovers: list[str] = []
    i = 0
    while i < len(words):
        # the longest run of words that names a group (e.g. "data science bootcamp")
        for length in range(min(6, len(words) - i), 0, -1):
            phrase = " ".join(words[i: i + length])
            if phrase in names:
                state.groups.append(names[phrase])
                i += length
                break
        else:
            word = words[i].strip(".,;:!").lower()
            if word in WORD_TO_METRIC:
                state.metric_words.append(WORD_TO_METRIC[word])
            elif word in _GRANULARITY_WORDS:
                _granularity(state, _GRANULARITY_WORDS[word])
            elif word and word not in FILLER:
                leftovers.append(words[i])
            i += 1
    return leftovers


def _metric(state: _State, metric: Metric) -> str:
    state.metric_words.append(metric)
    return " "


def _granularity(state: _State, unit: Granularity) -> str:
    state.granularity = unit
    return " "


def _catalog_phrases(catalog: Sequence[Group] | None) -> dict[str, str]:
    phrases: dict[str, str] = {}
    for group in catalog or ():
        phrases[" ".join(group.name.lower().split())] = group.name
        if group.code:
            phrases[group.code.lower()] = group.name
    return phrases

