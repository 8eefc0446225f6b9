"""The query language: text (a slash command, a mention, a CLI argument) → `MetricQuery`.

`[METRIC] [FILTERS] [TIME] [OPTIONS]` in any order, case-insensitive. Every word must be
understood: options (`group:`, `by:`...), comparisons in words, time phrases (timephrases.py),
then metric words, group names and filler words. Anything left over is a `UserError` naming it,
never a silent guess.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from metrics.catalog import Group, resolve_group
from metrics.definitions import Basis, Comparison, CredentialKind, Granularity, Metric
from metrics.errors import UserError, did_you_mean
from metrics.query import MetricQuery
from metrics.timephrases import Resolver, take_time
from metrics.timerange import rolling, today_in, zone

EXAMPLES = (
    "engagement group:CPA last quarter",
    "issued this year by:month",
    "compare CPA vs CFA last 90 days",
)

METRIC_WORDS: dict[Metric, tuple[str, ...]] = {
    Metric.HELP: ("help", "usage", "commands"),
    Metric.COMPARE: ("compare", "comparison", "comparing", "vs", "versus", "v", "side-by-side"),
    Metric.GROUPS: ("groups", "top", "leaderboard", "ranking", "ranked", "rank", "best",
                    "most", "programs", "courses"),
    Metric.ACTIVITY: ("activity", "events", "happened", "happening"),
    Metric.ENGAGEMENT: ("engagement", "engaged", "engage", "opened", "open", "opens", "views",
                        "viewed", "funnel", "downloaded", "downloads", "shared", "shares",
                        "linkedin", "clicks", "interacted", "interaction", "interactions",
                        "download", "share", "referral", "referrals", "wallet", "profile"),
    Metric.RECIPIENTS: ("recipients", "recipient", "learners", "earners", "people", "unique",
                        "students", "individuals", "holders"),
    Metric.ISSUED: ("issued", "issuance", "issue", "issuing", "credentials", "credential",
                    "certificates", "certificate", "certs", "badges", "badge", "awarded",
                    "certifications", "created", "sent"),
    Metric.SUMMARY: ("summary", "report", "overview", "status", "stats", "statistics",
                     "numbers", "dashboard"),
}
# When a question holds several metric words, the most specific wins (in this order).
METRIC_PRIORITY = tuple(METRIC_WORDS)
WORD_TO_METRIC = {w: m for m, words in METRIC_WORDS.items() for w in words}

FILLER = frozenset(
    """how many much what whats what's was were is are did do does we our us i me my you your
    show give get got tell the a an of for in on at to with and or number count total totals all
    so far have has had been be please there it its per which who whom that those these each
    every by from during over within across into this period time rate rates percent percentage
    received receive earned earn given gave delivered deliver did done made make were has
    credstats hey hi can could would list see look like about any some our org organization
    group program course certification team overall altogether new just only currently now
    date range doing going performing looking same but about instead also again then s""".split()
)

OPTION_KEYS = ("group", "kind", "by", "vs", "tz", "basis", "format")
GRANULARITY_WORDS = {"daily": Granularity.DAY, "weekly": Granularity.WEEK,
                     "monthly": Granularity.MONTH, "quarterly": Granularity.QUARTER}
SMART_QUOTES = str.maketrans("“”‘’", "\"\"''")

E = TypeVar("E", CredentialKind, Granularity, Comparison, Basis)


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
    time: tuple[str, Resolver] | None = None
    tz_given: bool = False

    @property
    def today(self) -> date:
        return today_in(self.now, self.tz)


def clean_slack_text(text: str) -> str:
    """Slack markup → plain words: mentions and channel links go, entities and quotes are plain."""
    text = re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", text)
    text = re.sub(r"<#[A-Z0-9]+(?:\|([^>]*))?>", lambda m: m.group(1) or " ", text)
    text = re.sub(r"<mailto:[^|>]+\|([^>]+)>", r"\1", text)
    text = re.sub(r"<(https?://[^|>]+)(?:\|[^>]*)?>", r"\1", text)
    text = html.unescape(text).translate(SMART_QUOTES).strip()
    return text if text == "?" else text.rstrip("?.!,;").strip()


def parse(
    text: str,
    *,
    now: datetime,
    tz: str = "UTC",
    catalog: Sequence[Group] | None = None,
    previous: str | None = None,
) -> MetricQuery:
    """Parse `text` as of `now` in timezone `tz`; group names resolve against `catalog` when
    one is given (else they are kept as typed).

    With `previous` (a thread's last question, as `MetricQuery.text`), `text` is a follow-up:
    what it states replaces that part of the previous question ("same for CFA", "and last
    year?", "by month").
    """
    state = _read(text, now, tz, catalog)
    if previous:
        try:
            before = _read(previous, now, tz, catalog)
        except UserError:
            before = None  # the data changed since (a group renamed): answer the new text alone
        if before is not None:
            state = _follow_up(before, state)
    return _build(state)


def _follow_up(before: _State, after: _State) -> _State:
    merged = before
    if after.metric_words:
        merged.metric_words = after.metric_words
    if after.groups:
        merged.groups = after.groups
    if after.time is not None:
        merged.time = after.time
    if after.tz_given:
        merged.tz, merged.tz_given = after.tz, True
    merged.kind = after.kind or before.kind
    merged.granularity = after.granularity or before.granularity
    merged.compare = after.compare or before.compare
    merged.output_format = after.output_format or before.output_format
    if after.basis is not Basis.ISSUED:
        merged.basis = after.basis
    return merged


def _read(text: str, now: datetime, tz: str, catalog: Sequence[Group] | None) -> _State:
    zone(tz)
    state = _State(clean_slack_text(text), now, tz, catalog)
    if state.text == "?":
        state.metric_words.append(Metric.HELP)
        state.text = ""
    rest = _take_options(state, state.text)
    rest = _take_comparisons(state, rest.lower())
    rest, state.time = take_time(rest, state.today, state.tz)
    leftovers = _take_words(state, rest)
    if leftovers:
        quoted = ", ".join(f"'{w}'" for w in leftovers)
        hints: list[str] = []
        for word in leftovers:
            hints += did_you_mean(word, [*WORD_TO_METRIC, *_group_words(catalog)], limit=1)
        hint = f" Did you mean {', '.join(hints)}?" if hints else ""
        raise UserError(f"I didn't understand {quoted}.{hint}", [*hints, *EXAMPLES])
    return state


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
        time_range = rolling(state.today, 30, Granularity.DAY, state.tz, "last 30 days")
    else:
        time_range = state.time[1](state.today, state.tz)
    groups = tuple(dict.fromkeys(state.groups))
    return MetricQuery(
        metric=metric,
        time_range=time_range,
        groups=groups,
        kind=state.kind,
        granularity=state.granularity,
        compare=state.compare or Comparison.PREVIOUS,
        basis=state.basis,
        output_format=state.output_format,
        text=_canonical(state, metric, groups),
    )


def _canonical(state: _State, metric: Metric, groups: tuple[str, ...]) -> str:
    """The question in the grammar's own words, to re-ask it later (buttons, follow-ups)."""
    parts = [metric.value, *(f'group:"{g}"' for g in groups)]
    if state.time is not None:
        parts.append(state.time[0])
    if state.kind:
        parts.append(f"kind:{state.kind.value}")
    if state.granularity:
        parts.append(f"by:{state.granularity.value}")
    if state.compare:
        parts.append(f"vs:{state.compare.value}")
    if state.basis is not Basis.ISSUED:
        parts.append(f"basis:{state.basis.value}")
    if state.output_format:
        parts.append(f"format:{state.output_format}")
    if state.tz_given:
        parts.append(f"tz:{state.tz}")
    return " ".join(parts)


# -- options: key:value ----------------------------------------------------------------------

_OPTION = re.compile(r"""(?<!\S)([a-z_]+):\s?("[^"]*"|'[^']*'|[^\s"']+)""", re.IGNORECASE)


def _take_options(state: _State, text: str) -> str:
    def handle(match: re.Match[str]) -> str:
        key, value = match.group(1).lower(), match.group(2).strip("\"'").strip()
        if key == "group":
            for name in filter(None, (v.strip() for v in value.split(","))):
                state.groups.append(_group_name(state, name))
        elif key == "kind":
            state.kind = _choice(CredentialKind, value.lower().rstrip("s"), "kind", "kind:badge")
        elif key == "by":
            if value.lower() in ("group", "groups"):
                state.metric_words.append(Metric.GROUPS)
            else:
                state.granularity = _choice(Granularity, value, "by", "by:week")
        elif key == "vs":
            state.compare = _choice(Comparison, value, "vs", "vs:year")
        elif key == "tz":
            zone(value)
            state.tz, state.tz_given = value, True
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
    (re.compile(r"\b(?:vs\.?|versus|compared\s+(?:to|with)|against|relative\s+to)\s+(?:the\s+)?"
                r"(?:same\s+(?:period|time|days|quarter|month|week)\s+)?(?:of\s+)?"
                r"(?:last|a|one|previous|prior)\s+year(?:\s+ago)?\b"
                r"|\byear[- ]over[- ]year\b|\byoy\b"), Comparison.YEAR),
    (re.compile(r"\b(?:vs\.?|versus|compared\s+(?:to|with))\s+(?:the\s+)?(?:previous|prior|last)"
                r"\s+period\b|\bperiod[- ]over[- ]period\b"), Comparison.PREVIOUS),
    (re.compile(r"\b(?:without|no)\s+comparisons?\b"), Comparison.NONE),
)


def _take_comparisons(state: _State, text: str) -> str:
    for pattern, comparison in _COMPARISONS:
        if pattern.search(text):
            state.compare = comparison
            text = pattern.sub(" ", text)
    return text


# -- words: metrics, group names, filler ----------------------------------------------------

def _take_words(state: _State, text: str) -> list[str]:
    text = re.sub(r"\b(?:by|per|each|every)\s+(day|week|month|quarter)s?\b|"
                  r"\b(day|week|month|quarter)\s+by\s+(?:day|week|month|quarter)\b",
                  lambda m: _granularity(state, Granularity(m.group(1) or m.group(2))), text)
    text = re.sub(r"\b(?:by|per|each|for\s+each|for\s+every)\s+groups?\b|\bgroup\s+by\s+group\b",
                  lambda m: _metric(state, Metric.GROUPS), text)
    text = re.sub(r"\btop\s+\d+\b", lambda m: _metric(state, Metric.GROUPS), text)
    text = re.sub(r"\bhow\s+many\s+(?:people|recipients|learners|earners|students)\b",
                  lambda m: _metric(state, Metric.RECIPIENTS), text)
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
            word = words[i].strip(".,;:!?'\"()").lower()
            word = word.removesuffix("'s")
            if word in WORD_TO_METRIC:
                state.metric_words.append(WORD_TO_METRIC[word])
            elif word in GRANULARITY_WORDS:
                _granularity(state, GRANULARITY_WORDS[word])
            elif word and word not in FILLER:
                group = _group_by_word(state.catalog, word)
                if group is None:
                    leftovers.append(words[i])
                else:
                    state.groups.append(group)
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


def _group_by_word(catalog: Sequence[Group] | None, word: str) -> str | None:
    """A distinctive word of one group's name ("bootcamp", "accountant"); a word in several
    names is ambiguous and says so."""
    if len(word) < 4 or not catalog:
        return None
    found = [g for g in catalog if word in re.findall(r"[\w&+-]+", g.name.lower())]
    if len(found) > 1:
        names = ", ".join(g.display for g in found)
        raise UserError(f"'{word}' could mean several groups: {names}. Say which one.",
                        [f'group:"{g.name}"' for g in found[:3]])
    return found[0].name if found else None
