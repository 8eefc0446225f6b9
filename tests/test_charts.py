"""Charts: valid PNGs of a readable size, titles and labels that say what they show, nothing
clipped, many groups capped with a note, alt text; and no matplotlib when no chart is drawn."""

from __future__ import annotations

import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.charts import chart_for, draw
from metrics.catalog import list_groups, resolve_organization
from metrics.importer import import_files
from metrics.parse import parse
from metrics.query import MetricResult
from metrics.run import run
from tests import seed_example
from tests.conftest import Database

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def ask(db: Database, text: str) -> MetricResult:
    with db.engine.connect() as conn:
        org = resolve_organization(conn, None)
        return run(conn, org, parse(text, now=NOW, catalog=list_groups(conn, org)), NOW)


@pytest.fixture
def seeded(sqlite_db: Database, tmp_path: Path) -> Database:
    creds, events = seed_example.write_files(tmp_path)
    import_files(sqlite_db.engine, "Seed Org", creds, events, now=NOW)
    return sqlite_db


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def texts_and_clipping(result: MetricResult) -> tuple[list[str], list[str]]:
    drawing = draw(result)
    assert drawing is not None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = drawing.figure
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    drawn = list(fig.texts) + ([fig._suptitle] if fig._suptitle else [])  # noqa: SLF001
    for ax in fig.axes:
        drawn += [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            drawn += [label for loc, label in zip(axis.get_ticklocs(), axis.get_ticklabels(),
                                                  strict=True) if lo <= loc <= hi]
    texts, clipped = [], []
    for t in drawn:
        text = t.get_text()
        if not text or not t.get_visible():
            continue
        texts.append(text)
        extent = t.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1 \
                or extent.y1 > box.y1 + 1:
            clipped.append(text)
    return texts, clipped


@pytest.mark.parametrize(("question", "kind", "must_show"), [
    ("engagement group:CPA Q3 2026", "funnel",
     ["Engagement · Certified Public Accountant · Jul 1 – Sep 30, 2026", "Opened",
      " 22  (51% of issued)", " 8  (19% of issued · 36% of opened)"]),
    ("issued group:CPA Q3 2026 by:month", "trend", ["Jul", "Aug", "Sep", "issued per month"]),
    ("groups Q3 2026", "groups", ["Certified Public Accountant (CPA)", " 43 issued · 51% opened"]),
    ("activity group:CPA 2026-10-01..2026-10-31", "activity", ["view", " 31"]),
])
def test_each_chart_type(seeded: Database, question: str, kind: str,
                         must_show: list[str]) -> None:
    result = ask(seeded, question)
    chart = chart_for(result)
    assert chart is not None and chart.filename == f"credstats-{kind}.png"
    width, height = png_size(chart.png)
    assert 900 <= width <= 1100 and 300 <= height <= 1200
    texts, clipped = texts_and_clipping(result)
    joined = "\n".join(texts)
    for text in must_show:
        assert text in joined
    assert "Seed Org · timezone UTC · data as of Nov 29, 2026 12:00" in joined
    assert clipped == []
    assert chart.alt_text


def test_no_chart_for_a_summary_or_an_empty_range(seeded: Database) -> None:
    assert chart_for(ask(seeded, "summary")) is None
    assert chart_for(ask(seeded, "engagement group:CPA 2025-01-01..2025-01-31")) is None


def test_forty_groups_with_long_names(sqlite_db: Database, tmp_path: Path) -> None:
    rows = ["credential_id,group,recipient_email,issued_at"]
    for g in range(40):
        name = f"Advanced Professional Certificate in Sustainable Supply Chain Module {g:02d}"
        rows += [f"G{g}-{i},{name},p{g}-{i}@x.org,2026-08-{1 + i:02d}" for i in range(g % 5 + 1)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(rows) + "\n")
    import_files(sqlite_db.engine, "Many", path, now=NOW)
    result = ask(sqlite_db, "groups Q3 2026")
    texts, clipped = texts_and_clipping(result)
    assert clipped == []
    assert any("top 12, 28 more not shown" in t for t in texts)
    labels = [t for t in texts if t.startswith("Advanced Profession")]
    assert len(set(labels)) == 12 and all(len(label) <= 38 for label in labels)
    chart = chart_for(result)
    assert chart is not None and "and 28 more groups" in chart.alt_text


def test_answers_without_a_chart_never_import_matplotlib(seeded: Database) -> None:
    probe = ("import sys\nfrom bot.cli import main\n"
             "try:\n    main(['ask', 'engagement Q3 2026', '--db', sys.argv[1]])\n"
             "except SystemExit:\n    pass\n"
             "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, seeded.url], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip().endswith("False")
