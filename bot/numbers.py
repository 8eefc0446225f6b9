"""Number formatting shared by every renderer: percentages, fractions and changes."""

from __future__ import annotations

from metrics.definitions import SMALL_BASE


def pct(part: int, whole: int) -> str:
    """'51%' (no decimals unless the rate is under 1% and not zero); '–' for an empty base."""
    if whole == 0:
        return "–"
    rate = 100 * part / whole
    if 0 < rate < 1:
        return f"{rate:.1f}%"
    return f"{rate:.0f}%"


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def fraction(part: int, whole: int) -> str:
    """'22 of 43 · 51%'."""
    return f"{part:,} of {whole:,} · {pct(part, whole)}"


def count_change(current: int, previous: int) -> str:
    """'▲ 5 (+13%)', '▼ 3 (−7%)', '= 0', or '▲ 12 (new)' when the previous count was 0."""
    diff = current - previous
    if diff == 0:
        return "= no change"
    arrow = "▲" if diff > 0 else "▼"
    if previous == 0:
        return f"{arrow} {abs(diff):,} (from 0)"
    relative = 100 * diff / previous
    sign = "+" if relative > 0 else "−"
    return f"{arrow} {abs(diff):,} ({sign}{abs(relative):.0f}%)"


def rate_change(part: int, whole: int, prev_part: int, prev_whole: int) -> str:
    """The change of a rate in percentage points: '▲ 4 pts', or '' when either base is empty."""
    now, before = rate(part, whole), rate(prev_part, prev_whole)
    if now is None or before is None:
        return ""
    points = 100 * (now - before)
    if round(points) == 0:
        return "= same rate"
    return f"{'▲' if points > 0 else '▼'} {abs(points):.0f} pts"


def small_base(whole: int) -> bool:
    return 0 < whole < SMALL_BASE
