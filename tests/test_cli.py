"""The real `credstats` executable: import, ask --json, parse --json, exit codes, help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import seed_example
from tests.conftest import Database

CREDSTATS = str(Path(sys.executable).with_name("credstats"))


def credstats(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CREDSTATS, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def imported(db: Database, tmp_path: Path) -> Database:
    creds, events = seed_example.write_files(tmp_path)
    done = credstats("import", "--credentials", str(creds), "--events", str(events),
                     "--org", "Seed Org", "--db", db.url)
    assert done.returncode == 0, done.stderr
    assert "Credentials: 92 new, 0 updated, 0 unchanged" in done.stdout
    return db


def test_ask_json_contract(imported: Database) -> None:
    done = credstats("ask", "engagement group:CPA last quarter", "--json", "--db", imported.url,
                     "--now", seed_example.NOW)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["metric"] == "engagement"
    assert answer["org"] == "Seed Org"
    assert answer["groups"] == ["Certified Public Accountant"]
    assert answer["timezone"] == "UTC"
    assert answer["range"]["start"] == "2026-07-01T00:00:00+00:00"
    assert answer["range"]["end"] == "2026-10-01T00:00:00+00:00"
    assert answer["range"]["label"] == "last quarter"
    assert answer["values"] == {
        "issued": 43, "recipients": 41, "opened": 22, "downloaded": 8, "linkedin_shared": 5,
        "linkedin_profile_added": 1, "shared": 7, "referral_clicked": 2, "wallet_added": 0}
    assert answer["previous"]["range"]["start"] == "2026-04-01T00:00:00+00:00"
    assert answer["previous"]["values"]["issued"] == 38
    assert answer["by_group"] == [] and answer["series"] == []


def test_ask_json_series_and_groups(imported: Database) -> None:
    done = credstats("ask", "issued", "last", "quarter", "by:month", "tz:America/New_York",
                     "--json", "--db", imported.url, "--now", seed_example.NOW)
    answer = json.loads(done.stdout)
    assert answer["timezone"] == "America/New_York"
    assert [s["start"] for s in answer["series"]] == [
        "2026-07-01T00:00:00-04:00", "2026-08-01T00:00:00-04:00", "2026-09-01T00:00:00-04:00"]
    # CPA by month, plus CFA F01–F10 (4 in July, 4 in August, 2 in September) and
    # CPA-EDGE-OUT (Oct 1 00:00 UTC is Sep 30 20:00 in New York)
    assert [s["values"]["issued"] for s in answer["series"]] == [16 + 4, 15 + 4, 12 + 2 + 1]
    groups = json.loads(credstats("ask", "groups all time", "--json", "--db", imported.url,
                                  "--now", seed_example.NOW).stdout)
    assert groups["range"] == {"start": None, "end": None, "label": "all time",
                               "description": "all time"}
    assert [(g["group"], g["values"]["issued"]) for g in groups["by_group"]] == [
        ("Certified Public Accountant", 82), ("Chartered Financial Analyst", 10)]


def test_ask_human_output(imported: Database) -> None:
    done = credstats("ask", "engagement group:CPA last quarter", "--db", imported.url,
                     "--now", seed_example.NOW)
    out = done.stdout
    assert "Engagement · Certified Public Accountant · Jul 1 – Sep 30, 2026 (last quarter)" in out
    assert "22 of 43 · 51%" in out and "8 of 22 · 36%" in out
    assert "▲ 5 (+13%)" in out  # 43 vs 38 issued
    assert "previous quarter (Apr 1 – Jun 30, 2026)" in out
    assert "timezone UTC" in out


def test_ask_user_errors(imported: Database) -> None:
    done = credstats("ask", "engagement group:CPX", "--db", imported.url)
    assert done.returncode == 2
    assert "No group called 'CPX'. Did you mean CPA?" in done.stderr
    done = credstats("ask", "issued last quarter 2026-01-01..2026-01-31", "--db", imported.url)
    assert done.returncode == 2 and "Two time ranges" in done.stderr
    done = credstats("ask", "issued", "--org", "Nobody", "--db", imported.url)
    assert done.returncode == 2 and "No organization called 'Nobody'" in done.stderr


def test_import_refusal_exit_status_and_lines(imported: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("credential_id,group,recipient_email,issued_at\nZ1,G,z@x.org,not-a-date\n")
    done = credstats("import", "--credentials", str(bad), "--db", imported.url)
    assert done.returncode == 1
    assert f"{bad}:2: issued_at 'not-a-date' is not an ISO 8601" in done.stderr
    assert "Nothing was imported" in done.stderr


def test_parse_json_contract() -> None:
    done = credstats("parse", "engagement group:CPA last quarter", "--json", "--no-db",
                     "--now", "2026-11-29T12:00:00+00:00")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "metric": "engagement", "groups": ["CPA"], "start": "2026-07-01T00:00:00+00:00",
        "end": "2026-10-01T00:00:00+00:00", "label": "last quarter", "granularity": None,
        "compare": "previous", "basis": "issued", "timezone": "UTC", "kind": None,
        "unparsed": []}
    bad = credstats("parse", "issued on 2026-02-30", "--json", "--no-db")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"].startswith("'2026-02-30' is not a date")


def test_embedded_database_is_created_with_demo_data(tmp_path: Path) -> None:
    env = {"CREDSTATS_HOME": str(tmp_path / "home")}
    done = credstats("ask", "groups", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert "Creating the demo database" in done.stderr
    answer = json.loads(done.stdout)
    assert answer["org"] == "Demo Academy"
    names = [g["group"] for g in answer["by_group"]]
    for group in ("Certified Public Accountant", "Chartered Financial Analyst",
                  "Data Science Bootcamp"):
        assert group in names
    assert (tmp_path / "home" / "credstats.sqlite3").exists()
    again = credstats("ask", "groups", "--json", env=env)
    assert "Creating" not in again.stderr and json.loads(again.stdout) == {
        **answer, "as_of": json.loads(again.stdout)["as_of"]}


@pytest.mark.parametrize("command", [[], ["ask"], ["parse"], ["import"], ["db"],
                                     ["db", "upgrade"], ["demo"], ["explain"], ["serve"],
                                     ["socket"], ["org"], ["org", "list"], ["org", "link"],
                                     ["org", "set-industry"], ["gallery"]])
def test_every_command_has_help(command: list[str]) -> None:
    done = credstats(*command, "--help")
    assert done.returncode == 0 and "Usage: credstats" in done.stdout


def test_explain_matches_readme() -> None:
    from metrics.glossary import explain

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert explain() in readme
    done = credstats("explain", "engagement")
    assert "opened (Opened): credentials viewed at least once by their owner" in done.stdout
    assert credstats("explain", "enagement").returncode == 2


def test_every_command_is_in_the_readme() -> None:
    from bot.cli import cli

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name, command in cli.commands.items():
        subcommands = getattr(command, "commands", None)
        for full in ([f"credstats {name} {sub}" for sub in subcommands] if subcommands
                     else [f"credstats {name}"]):
            assert full in readme, full


def test_gallery_renders_every_chart_type(tmp_path: Path) -> None:
    env = {"CREDSTATS_HOME": str(tmp_path / "home")}
    done = credstats("gallery", str(tmp_path / "g"), env=env)
    assert done.returncode == 0, done.stderr
    pngs = sorted(p.name for p in (tmp_path / "g").glob("*.png"))
    assert len(pngs) == 9
    assert all((tmp_path / "g" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_an_unexpected_failure_is_reported_plainly(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot import cli

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    import importlib

    monkeypatch.setattr(importlib.import_module("metrics.run"), "run", broken)
    monkeypatch.setenv("CREDSTATS_HOME", str(tmp_path))
    result = CliRunner().invoke(cli.cli, ["ask", "issued last quarter"])
    assert result.exit_code == 1
    assert "credstats failed unexpectedly (RuntimeError: the disk is on fire)" in result.output
    assert "CREDSTATS_DEBUG=1" in result.output
