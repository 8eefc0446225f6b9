"""Number formatting shared by every renderer: percentages, fractions and changes."""

from __future__ import annotations

from typing import Any

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


FIGURE_LABELS = {"opened": "Opened", "shared": "Shared", "referral_clicked": "Referral clicks"}


def benchmark_lines(values: dict[str, int], benchmarks: tuple[Any, ...]) -> list[str]:
    """'Opened 51% (22 of 43) · industry average 61% (Professional Certifications, published
    by Accredible)', one line per benchmark and figure."""
    issued = values.get("issued", 0)
    lines = []
    for b in benchmarks:
        if b.organizations is None:
            who = f"industry average {{avg}} ({b.label}, {b.source.split(' (')[0]})"
        else:
            who = f"average of {b.organizations} other organizations in this database {{avg}}"
        for figure, average in b.rates.items():
            own = f"{FIGURE_LABELS[figure]} {pct(values[figure], issued)} " \
                  f"({values[figure]:,} of {issued:,})"
            lines.append(f"{own} · {who.format(avg=f'{100 * average:.0f}%')}")
    return lines
