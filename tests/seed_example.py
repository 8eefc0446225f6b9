"""A small program whose figures were counted by hand, including the seed article's example.

Q3 2026 (Jul 1 – Sep 30, UTC), group CPA: 43 credentials to 41 recipients (two people hold two
each, one of them typed with different capitals). Of the 43: 22 opened by their owner (C01–C22;
C23–C25 were viewed by guests only, which does not count), 8 downloaded (C01–C08; C05 twice, PDF
and image), 5 shared on LinkedIn (C01–C05; C03 twice), 1 added to a LinkedIn profile (C01),
7 shared anywhere (the 5 plus C09 on Twitter and C10 another way), 2 referral clicks (C02, C04),
0 wallet adds.

Q2 2026, group CPA: 38 credentials to 38 recipients, 19 opened (P01–P19), 4 downloaded.
Q3 2026, group CFA: 10 credentials, 6 opened, 1 shared on LinkedIn.
Boundaries: CPA-EDGE-IN at Sep 30 23:30 UTC is C43 itself; CPA-EDGE-OUT at Oct 1 00:00 UTC is in
Q4. One event happens at 23:30 New York time on Sep 30 (03:30 UTC on Oct 1).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = "2026-11-29T12:00:00+00:00"
CPA = "Certified Public Accountant"
CFA = "Chartered Financial Analyst"

Q3_START = datetime(2026, 7, 1, tzinfo=UTC)
Q2_START = datetime(2026, 4, 1, tzinfo=UTC)


def credential_rows() -> list[dict[str, str]]:
    rows = []
    for i in range(1, 44):
        issued = Q3_START + timedelta(days=(i - 1) * 2, hours=10)
        email = f"person{i}@example.com"
        if i == 42:
            email = "person1@example.com"  # person 1 holds C01 and C42
        if i == 43:
            email, issued = "Person2@Example.COM", datetime(2026, 9, 30, 23, 30, tzinfo=UTC)
        rows.append({"credential_id": f"C{i:02d}", "group": CPA, "group_code": "CPA",
                     "recipient_email": email, "recipient_name": f"Person {i}",
                     "issued_at": issued.isoformat(), "kind": "certificate"})
    for i in range(1, 39):
        issued = Q2_START + timedelta(days=(i - 1) * 2, hours=9)
        rows.append({"credential_id": f"P{i:02d}", "group": CPA, "group_code": "CPA",
                     "recipient_email": f"past{i}@example.com", "recipient_name": "",
                     "issued_at": issued.isoformat(), "kind": "certificate"})
    for i in range(1, 11):
        issued = Q3_START + timedelta(days=i * 7)
        rows.append({"credential_id": f"F{i:02d}", "group": CFA, "group_code": "CFA",
                     "recipient_email": f"analyst{i}@example.com", "recipient_name": "",
                     "issued_at": issued.date().isoformat(), "kind": "badge"})
    rows.append({"credential_id": "CPA-EDGE-OUT", "group": CPA, "group_code": "CPA",
                 "recipient_email": "late@example.com", "recipient_name": "",
                 "issued_at": "2026-10-01T00:00:00Z", "kind": "certificate"})
    return rows


def event_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def add(cred: str, event: str, at: datetime, actor: str = "owner", event_id: str = "") -> None:
        rows.append({"credential_id": cred, "event": event,
                     "occurred_at": at.isoformat(), "actor": actor, "event_id": event_id})

    base = datetime(2026, 10, 5, 8, tzinfo=UTC)
    for i in range(1, 23):
        add(f"C{i:02d}", "view", base + timedelta(hours=i))
        if i % 4 == 0:
            add(f"C{i:02d}", "view", base + timedelta(days=1, hours=i))  # a second view
    for i in (23, 24, 25):
        add(f"C{i:02d}", "view", base + timedelta(hours=i), actor="guest")
    for i in range(1, 9):
        add(f"C{i:02d}", "pdf_download", base + timedelta(hours=30 + i), event_id=f"D{i}")
    add("C05", "image_download", base + timedelta(hours=50))
    for i in range(1, 6):
        add(f"C{i:02d}", "linkedin_share", base + timedelta(hours=60 + i))
    add("C03", "linkedin_share", base + timedelta(hours=90))
    add("C01", "linkedin_profile_add", base + timedelta(hours=70))
    add("C09", "twitter_share", base + timedelta(hours=71))
    add("C10", "other_share", base + timedelta(hours=72))
    add("C02", "referral_click", base + timedelta(hours=73), actor="guest")
    add("C04", "referral_click", base + timedelta(hours=74), actor="guest")
    for i in range(1, 20):
        add(f"P{i:02d}", "view", Q2_START + timedelta(days=i * 2, hours=12))
    for i in range(1, 5):
        add(f"P{i:02d}", "pdf_download", Q2_START + timedelta(days=i * 2, hours=13))
    for i in range(1, 7):
        add(f"F{i:02d}", "view", Q3_START + timedelta(days=i * 7 + 1))
    add("F01", "linkedin_share", Q3_START + timedelta(days=9))
    # 23:30 in New York on Sep 30 (EDT, UTC-4) is 03:30 UTC on Oct 1
    add("C30", "view", datetime(2026, 10, 1, 3, 30, tzinfo=UTC), actor="guest")
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_files(directory: Path) -> tuple[Path, Path]:
    return (write_csv(directory / "credentials.csv", credential_rows()),
            write_csv(directory / "events.csv", event_rows()))
