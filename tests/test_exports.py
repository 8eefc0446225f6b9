"""The same figures in every form: JSON, CSV (round-tripped) and Block Kit agree."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.render_blocks import render_blocks
from bot.render_csv import render_csv
from bot.render_json import result_json
from metrics.importer import import_files
from tests import seed_example
from tests.conftest import Database
from tests.test_charts import NOW, ask
from tests.test_cli import credstats


@pytest.fixture
def seeded(sqlite_db: Database, tmp_path: Path) -> Database:
    creds, events = seed_example.write_files(tmp_path)
    import_files(sqlite_db.engine, "Seed Org", creds, events, now=NOW)
    return sqlite_db


@pytest.mark.parametrize("question", ["engagement group:CPA Q3 2026",
                                      "groups Q3 2026 vs:year",
                                      "issued group:CPA Q3 2026 by:month",
                                      "activity group:CPA 2026-10-01..2026-10-31"])
def test_csv_round_trips_to_the_json_figures(seeded: Database, question: str) -> None:
    result = ask(seeded, question)
    as_json = result_json(result)
    rows = list(csv.DictReader(io.StringIO(render_csv(result))))
    keys = list(as_json["values"])
    total = rows[0]
    assert total["row"] == "total" and total["timezone"] == "UTC"
    assert total["start"] == (as_json["range"]["start"] or "")
    assert {k: int(total[k]) for k in keys} == as_json["values"]
    groups = [r for r in rows if r["row"] == "group"]
    assert [(r["group"], {k: int(r[k]) for k in keys}) for r in groups] == [
        (g["group"], g["values"]) for g in as_json["by_group"]]
    periods = [r for r in rows if r["row"] == "period"]
    assert [{k: int(r[k]) for k in keys} for r in periods] == [
        s["values"] for s in as_json["series"]]
    if as_json["previous"]:
        [previous] = [r for r in rows if r["row"] == "previous"]
        assert {k: int(previous[k]) for k in keys} == as_json["previous"]["values"]


def test_block_kit_shows_the_json_figures(seeded: Database) -> None:
    result = ask(seeded, "engagement group:CPA Q3 2026")
    values = result_json(result)["values"]
    blocks, _ = render_blocks(result, result.query.text)
    text = json.dumps(blocks, ensure_ascii=False)
    assert f"*{values['issued']}* issued" in text
    assert f"*{values['opened']} of {values['issued']} · 51%* opened" in text
    for key in ("downloaded", "linkedin_shared", "shared", "referral_clicked"):
        assert f"*{values[key]}* " in text


def test_cli_csv_file_and_format_option(seeded: Database, tmp_path: Path) -> None:
    out = tmp_path / "figures.csv"
    done = credstats("ask", "engagement group:CPA Q3 2026", "--csv", str(out), "--db",
                     seeded.url, "--now", seed_example.NOW)
    assert done.returncode == 0
    via_option = credstats("ask", "engagement group:CPA Q3 2026 format:csv", "--db",
                           seeded.url, "--now", seed_example.NOW).stdout
    assert out.read_text() == via_option
    assert via_option.splitlines()[1].endswith(",43,41,22,8,5,1,7,2,0")
