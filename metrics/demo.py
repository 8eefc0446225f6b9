"""Deterministic demo data: a realistic credential program, written as CSV and imported.

One organization with seven groups, about two and a half years of history up to `now`, growth and
seasonality, issuance in batches, recipients who hold several credentials, and engagement events
after issue with realistic delays and rates close to the published benchmarks for professional
certifications (opened ~60%, shared ~20%, referral clicks ~7%). The data goes through the same
CSV import as a customer's files, so the demo exercises the real write path.
"""

from __future__ import annotations

import csv
import math
import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, select

from metrics.importer import ImportSummary, import_files
from metrics.schema import credentials, engagement_events, groups, organizations, recipients

DEMO_ORG = "Demo Academy"
DEMO_INDUSTRY = "Professional Certifications"
HISTORY_DAYS = 900


@dataclass(frozen=True)
class DemoGroup:
    name: str
    code: str
    kind: str
    monthly: float  # credentials a month at the start of the history
    batch_days: tuple[int, ...]  # days of the month on which batches are issued
    peak_months: tuple[int, ...]  # months with exam results (double volume)
    open_rate: float


GROUPS = (
    DemoGroup("Certified Public Accountant", "CPA", "certificate", 70, (5, 20), (2, 5, 8, 11),
              0.62),
    DemoGroup("Chartered Financial Analyst", "CFA", "certificate", 45, (12,), (1, 8), 0.66),
    DemoGroup("Data Science Bootcamp", "DSB", "certificate", 30, (28,), (3, 6, 9, 12), 0.71),
    DemoGroup("Project Management Professional", "PMP", "certificate", 55, (3, 17), (), 0.58),
    DemoGroup("Cloud Security Fundamentals", "CSF", "badge", 90, (1, 8, 15, 22), (), 0.55),
    DemoGroup("Leadership Essentials", "LEAD", "badge", 35, (10, 25), (4, 10), 0.49),
    DemoGroup("Excel for Analysts", "XLA", "badge", 60, (7, 21), (1, 9), 0.52),
)

FIRST = ("Ana Ben Chen Dara Eli Fatima Gus Hana Ivan Jade Kofi Lena Mateo Nia Omar Priya Quinn "
         "Rosa Sam Tariq Uma Vera Wen Xavier Yara Zane Amir Bea Cyrus Dina").split()
LAST = ("Adams Baker Costa Diaz Evans Fischer Garcia Huang Ito Jones Kim Lopez Moreau Nowak "
        "Okafor Patel Quist Rossi Silva Tanaka Ueda Varga Weber Xu Young Zhou").split()


def generate(directory: Path, now: datetime, seed: int = 7) -> tuple[Path, Path]:
    """Write credentials.csv and events.csv for the demo program as of `now`."""
    rng = random.Random(seed)
    today = now.astimezone(UTC).date()
    first_day = today - timedelta(days=HISTORY_DAYS)
    people: list[tuple[str, str]] = []
    cred_path, events_path = directory / "credentials.csv", directory / "events.csv"
    with cred_path.open("w", newline="") as cf, events_path.open("w", newline="") as ef:
        cw, ew = csv.writer(cf), csv.writer(ef)
        cw.writerow(["credential_id", "group", "group_code", "recipient_email", "recipient_name",
                     "issued_at", "expires_at", "kind"])
        ew.writerow(["credential_id", "event", "occurred_at", "actor", "event_id"])
        serial = 0
        day = first_day
        while day <= today:
            for group in GROUPS:
                if day.day not in group.batch_days:
                    continue
                for _ in range(_batch_size(rng, group, day, first_day)):
                    serial += 1
                    cred_id = f"DA-{serial:06d}"
                    email, name = _recipient(rng, people)
                    issued = datetime.combine(day, time(9), tzinfo=UTC) + timedelta(
                        minutes=rng.randrange(0, 8 * 60))
                    if issued > now:
                        continue
                    expires = (issued + timedelta(days=3 * 365)).date().isoformat() \
                        if group.kind == "certificate" else ""
                    cw.writerow([cred_id, group.name, group.code, email, name,
                                 issued.isoformat(), expires, group.kind])
                    for event, at, actor in _events(rng, group, issued, now):
                        ew.writerow([cred_id, event, at.isoformat(timespec="seconds"), actor, ""])
            day += timedelta(days=1)
    return cred_path, events_path


def _batch_size(rng: random.Random, group: DemoGroup, day: date, first_day: date) -> int:
    years = (day - first_day).days / 365
    growth = 1.28 ** years
    season = 2.0 if day.month in group.peak_months else 1.0
    season *= 0.6 if day.month in (7, 12) else 1.0
    mean = group.monthly / len(group.batch_days) * growth * season
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def _recipient(rng: random.Random, people: list[tuple[str, str]]) -> tuple[str, str]:
    if people and rng.random() < 0.28:
        email, name = rng.choice(people)
        # the same person typed differently: e-mails are matched case-insensitively
        return (email.upper() if rng.random() < 0.1 else email), name
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first}.{last}{len(people)}@example.com".lower()
    name = f"{first} {last}"
    people.append((email, name))
    return (email.title() if rng.random() < 0.05 else email), name


def _events(
    rng: random.Random, group: DemoGroup, issued: datetime, now: datetime
) -> list[tuple[str, datetime, str]]:
    out: list[tuple[str, datetime, str]] = []

    def after(start: datetime, median_hours: float) -> datetime:
        return start + timedelta(hours=median_hours * math.exp(rng.gauss(0, 1.1)))

    if rng.random() < group.open_rate:
        opened = after(issued, 20)
        out.append(("view", opened, "owner"))
        for _ in range(rng.randrange(0, 3)):
            out.append(("view", after(opened, 72), "owner"))
        download = "pdf_download" if group.kind == "certificate" else "image_download"
        if rng.random() < 0.38:
            out.append((download, after(opened, 2), "owner"))
        if rng.random() < 0.27:
            shared = after(opened, 6)
            out.append(("linkedin_share", shared, "owner"))
            for _ in range(rng.randrange(0, 6)):
                out.append(("view", after(shared, 24), "guest"))
            if rng.random() < 0.3:
                out.append(("referral_click", after(shared, 30), "guest"))
        if rng.random() < 0.09:
            out.append(("linkedin_profile_add", after(opened, 24), "owner"))
        if rng.random() < 0.06:
            out.append((rng.choice(("twitter_share", "facebook_share", "other_share")),
                        after(opened, 12), "owner"))
        if rng.random() < 0.05:
            out.append(("wallet_add", after(opened, 4), "owner"))
        if rng.random() < 0.03:
            out.append(("referral_click", after(opened, 10), "owner"))
    elif rng.random() < 0.05:
        out.append(("view", after(issued, 200), "guest"))
    return sorted((e for e in out if e[1] <= now), key=lambda e: e[1])


def load_demo(engine: Engine, now: datetime, seed: int = 7) -> ImportSummary:
    """(Re)create the demo organization's data as of `now`."""
    remove_organization(engine, DEMO_ORG)
    with tempfile.TemporaryDirectory(prefix="credstats-demo-") as tmp:
        cred_path, events_path = generate(Path(tmp), now, seed)
        summary = import_files(engine, DEMO_ORG, cred_path, events_path, now=now)
    with engine.begin() as conn:
        conn.execute(organizations.update().where(organizations.c.name == DEMO_ORG)
                     .values(industry=DEMO_INDUSTRY))
    return summary


def remove_organization(engine: Engine, name: str) -> None:
    """Delete an organization and everything it owns."""
    with engine.begin() as conn:
        org_id = conn.execute(
            select(organizations.c.id).where(organizations.c.name == name)
        ).scalar()
        if org_id is None:
            return
        for table in (engagement_events, credentials, recipients, groups):
            conn.execute(delete(table).where(table.c.organization_id == org_id))
        conn.execute(delete(organizations).where(organizations.c.id == org_id))
