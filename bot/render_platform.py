"""`credstats platform`: every organization's figures, as text or JSON."""

from __future__ import annotations

import json
from typing import Any

from bot.numbers import count_change, pct
from bot.render_text import label_case, range_words, table
from metrics.definitions import ENGAGEMENT_STEPS
from metrics.platform import PlatformResult

SHOWN = ("opened", "downloaded", "linkedin_shared", "linkedin_profile_added")
WORDS = {step.key: step.label for step in ENGAGEMENT_STEPS}  # "shared on LinkedIn"
LABELS = {key: label_case(words) for key, words in WORDS.items()}


def render_platform(result: PlatformResult) -> str:
    total = result.total
    count = len(result.organizations)
    lines = [f"Platform · {count} organization{'' if count == 1 else 's'} · "
             f"{range_words(result.time_range)}", ""]
    issued = total["issued"]
    lines.append(f"Issued: {issued:,} credentials to {total['recipients']:,} unique recipients "
                 "(a recipient belongs to one organization).")
    if result.previous_total is not None and result.previous_range is not None:
        before = result.previous_total["issued"]
        lines.append(f"Previous period, {result.previous_range.describe()}: {before:,} issued; "
                     f"now {count_change(issued, before)}.")
    lines.append("Engagement of those credentials (events up to now): " + " · ".join(
        f"{WORDS[k]} {total[k]:,} of {issued:,} ({pct(total[k], issued)})"
        for k in SHOWN) + ".")
    lines.append("")
    rows = [["Organization", "Issued", "Recipients", *(LABELS[k] for k in SHOWN)]]
    for org in result.organizations:
        v = org.values
        rows.append([org.name, f"{v['issued']:,}", f"{v['recipients']:,}",
                     *(f"{v[k]:,} ({pct(v[k], v['issued'])})" for k in SHOWN)])
    rows.append(["All organizations", f"{issued:,}", f"{total['recipients']:,}",
                 *(f"{total[k]:,} ({pct(total[k], issued)})" for k in SHOWN)])
    lines.append(table(rows))
    lines += ["", f"Counted as of {result.now.isoformat(timespec='seconds')}; ranges are local "
              f"days in {result.time_range.tz}; credentials counted by issue date."]
    return "\n".join(lines)


def platform_json(result: PlatformResult) -> dict[str, Any]:
    def span(r: Any) -> dict[str, Any]:
        return {"label": r.label, "start": r.start_at.isoformat() if r.start_at else None,
                "end": r.end_at.isoformat() if r.end_at else None, "timezone": r.tz}

    return {
        "range": span(result.time_range),
        "previous_range": span(result.previous_range) if result.previous_range else None,
        "now": result.now.isoformat(),
        "total": result.total,
        "previous_total": result.previous_total,
        "organizations": [{"name": o.name, **o.values} for o in result.organizations],
    }


def render_platform_json(result: PlatformResult) -> str:
    return json.dumps(platform_json(result), indent=2, ensure_ascii=False)
