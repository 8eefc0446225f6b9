"""The demo program: `make demo` works as a new user runs it, and the data is realistic."""

from __future__ import annotations

import csv
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from metrics.demo import GROUPS, generate

ROOT = Path(__file__).parents[1]
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.mark.slow
def test_make_demo_smoke(tmp_path: Path) -> None:
    env = {**os.environ, "CREDSTATS_HOME": str(tmp_path)}
    done = subprocess.run(["make", "-s", "demo"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Demo data for Demo Academy" in out
    assert "Summary · " in out and "All time" in out
    assert "Engagement · Certified Public Accountant · " in out and "% of opened" in out
    assert "Groups · " in out and "Data Science Bootcamp (DSB)" in out
    assert "Activity · " in out and "Credentials touched" in out
    assert "month" in out  # the monthly series
    assert "Error" not in done.stderr
    again = subprocess.run(["make", "-s", "demo"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert "Demo data is in place" in again.stdout


def test_demo_data_is_deterministic_and_realistic(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    creds_a, events_a = generate(first, NOW)
    creds_b, events_b = generate(second, NOW)
    assert creds_a.read_bytes() == creds_b.read_bytes()
    assert events_a.read_bytes() == events_b.read_bytes()

    with creds_a.open() as f:
        creds = list(csv.DictReader(f))
    with events_a.open() as f:
        events = list(csv.DictReader(f))
    assert {c["group"] for c in creds} == {g.name for g in GROUPS} and len(GROUPS) >= 6
    issued = sorted(c["issued_at"] for c in creds)
    assert issued[0] < "2024-11-29" and issued[-1] > "2026-11-01"  # two years up to now
    people = {c["recipient_email"].lower() for c in creds}
    assert len(people) < 0.85 * len(creds)  # recipients hold several credentials
    opened = {e["credential_id"] for e in events if e["event"] == "view" and e["actor"] == "owner"}
    shared = {e["credential_id"] for e in events if e["event"].endswith("_share")}
    referred = {e["credential_id"] for e in events if e["event"] == "referral_click"}
    # the published averages for professional certifications: 61% / 19% / 7%
    assert 0.50 < len(opened) / len(creds) < 0.70
    assert 0.12 < len(shared) / len(creds) < 0.26
    assert 0.03 < len(referred) / len(creds) < 0.10
    assert all(e["occurred_at"] <= NOW.isoformat() for e in events)
    by_id = {c["credential_id"]: c["issued_at"] for c in creds}
    assert all(e["occurred_at"] >= by_id[e["credential_id"]][:19] for e in events)
