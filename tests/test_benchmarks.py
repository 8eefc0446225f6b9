"""Industry and peer averages next to engagement rates, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from metrics.benchmarks import industries
from metrics.importer import import_files
from tests import seed_example
from tests.conftest import Database
from tests.test_cli import credstats

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_published_industries_are_shipped() -> None:
    table = industries()
    assert len(table) == 14
    assert table["Professional Certifications"] == {"opened": 0.61, "shared": 0.19,
                                                    "referral_clicked": 0.07}


def test_industry_line_appears_with_the_right_industry(db: Database, tmp_path: Path) -> None:
    creds, events = seed_example.write_files(tmp_path)
    import_files(db.engine, "Seed Org", creds, events, now=NOW)
    done = credstats("org", "set-industry", "Seed Org", "professional certifications",
                     "--db", db.url)
    assert done.returncode == 0, done.stderr
    text = credstats("ask", "engagement group:CPA Q3 2026", "--db", db.url,
                     "--now", seed_example.NOW).stdout
    assert ("Opened 51% (22 of 43) · industry average 61% (Professional Certifications, "
            "published by Accredible)") in text
    assert "Shared 16% (7 of 43) · industry average 19%" in text
    answer = json.loads(credstats("ask", "engagement group:CPA Q3 2026", "--json", "--db",
                                  db.url, "--now", seed_example.NOW).stdout)
    assert answer["benchmarks"][0]["label"] == "Professional Certifications"
    refused = credstats("org", "set-industry", "Seed Org", "Profesional Certfications",
                        "--db", db.url)
    assert refused.returncode == 2 and "Professional Certifications" in refused.stderr


def _org(db: Database, tmp_path: Path, name: str, issued: int, opened: int) -> None:
    creds = tmp_path / f"{name}.csv"
    events = tmp_path / f"{name}-events.csv"
    creds.write_text("credential_id,group,recipient_email,issued_at\n" + "".join(
        f"{name}-{i},G,{name}{i}@x.org,2026-08-01\n" for i in range(issued)))
    events.write_text("credential_id,event,occurred_at\n" + "".join(
        f"{name}-{i},view,2026-08-02\n" for i in range(opened)))
    import_files(db.engine, name, creds, events, now=NOW)


@pytest.mark.parametrize(("others", "shown"), [(4, False), (5, True)])
def test_peer_average_needs_five_other_organizations(
    db: Database, tmp_path: Path, others: int, shown: bool
) -> None:
    _org(db, tmp_path, "Mine", 20, 10)
    for n in range(others):
        _org(db, tmp_path, f"Peer{n}", 20, 4 + 2 * n)  # rates 20%, 30%, 40%, 50%, 60%
    _org(db, tmp_path, "Tiny", 3, 3)  # too small a cohort to count as a peer
    answer = json.loads(credstats("ask", "engagement Q3 2026", "--json", "--org", "Mine",
                                  "--db", db.url, "--now", seed_example.NOW).stdout)
    peers = [b for b in answer["benchmarks"] if b["organizations"] is not None]
    if not shown:
        assert peers == []
        return
    [peer] = peers
    assert peer["organizations"] == 5
    assert peer["rates"]["opened"] == pytest.approx(0.40)
    text = credstats("ask", "engagement Q3 2026", "--org", "Mine", "--db", db.url,
                     "--now", seed_example.NOW).stdout
    assert "Opened 50% (10 of 20) · average of 5 other organizations in this database 40%" \
        in text
    for n in range(others):  # no single peer's figures appear anywhere
        assert f"Peer{n}" not in text and f"Peer{n}" not in json.dumps(answer)


def test_unknown_industry_gives_no_benchmark() -> None:
    from metrics.benchmarks import industry_benchmark

    assert industry_benchmark("Astrology") is None
    assert industry_benchmark(None) is None
