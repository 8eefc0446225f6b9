"""`make bench`: import throughput vs a plain COPY, `credstats ask` latency, chart rendering,
Slack acknowledgement and answer latency, then the scale comparison (scripts/bench_scale.py:
seeded 1M and 10M databases, reused once seeded; $CREDSTATS_BENCH_SCALES picks the sizes).

Run side by side in one process so the ratio is meaningful on a noisy machine; prints medians.
PostgreSQL comes from $CREDSTATS_BENCH_POSTGRES_URL (default the local `test` database); each run
works in a scratch schema that it drops afterwards.
"""

from __future__ import annotations

import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from metrics.db import make_engine, normalize_url, upgrade
from metrics.importer import import_files

PG_URL = os.environ.get("CREDSTATS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROWS = int(os.environ.get("CREDSTATS_BENCH_ROWS", "300000"))
REPEAT = int(os.environ.get("CREDSTATS_BENCH_REPEAT", "3"))
CREDSTATS = str(Path(sys.executable).with_name("credstats"))


def write_credentials(path: Path, rows: int) -> None:
    rng = random.Random(1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    groups = [f"Program {i}" for i in range(40)]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["credential_id", "group", "recipient_email", "issued_at", "recipient_name",
                    "kind"])
        for i in range(rows):
            issued = start + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
            w.writerow([f"B{i:08d}", rng.choice(groups), f"person{rng.randrange(rows // 2)}@x.org",
                        issued.isoformat(), f"Person {i}", "certificate"])


def write_events(path: Path, rows: int, credentials: int) -> None:
    rng = random.Random(2)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    kinds = ["view", "view", "view", "pdf_download", "linkedin_share", "referral_click"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["credential_id", "event", "occurred_at", "actor", "event_id"])
        for i in range(rows):
            at = start + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
            w.writerow([f"B{rng.randrange(credentials):08d}", rng.choice(kinds), at.isoformat(),
                        "owner", f"E{i:09d}"])


def scratch_engine() -> tuple[object, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(normalize_url(PG_URL) + f"?options=-csearch_path%3D{schema}")
    upgrade(engine)
    return admin, schema


def bench_import(directory: Path) -> None:
    creds, events = directory / "credentials.csv", directory / "events.csv"
    write_credentials(creds, ROWS)
    write_events(events, ROWS, ROWS)
    print(f"\n## Import into PostgreSQL ({ROWS:,} credential rows, {ROWS:,} event rows)")
    ours, ours_events, copy_times = [], [], []
    for _ in range(REPEAT):
        admin, schema = scratch_engine()
        url = normalize_url(PG_URL) + f"?options=-csearch_path%3D{schema}"
        engine = make_engine(url)
        t0 = time.perf_counter()
        import_files(engine, "Bench", creds, None, now=datetime.now(UTC))
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        import_files(engine, "Bench", creds, events, now=datetime.now(UTC))
        ours_events.append(time.perf_counter() - t0)
        with engine.begin() as conn:  # the baseline: COPY of the same file into a plain table
            conn.execute(text("CREATE TABLE plain_copy (credential_id text, grp text, email text,"
                              " issued_at timestamptz, name text, kind text)"))
            raw = conn.connection.driver_connection
            t0 = time.perf_counter()
            with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                "COPY plain_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy, creds.open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            copy_times.append(time.perf_counter() - t0)
        engine.dispose()
        with admin.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    med, med_copy = statistics.median(ours), statistics.median(copy_times)
    print(f"credstats import (credentials, new rows): median {med:.2f} s = "
          f"{ROWS / med:,.0f} rows/s")
    print(f"plain COPY of the same file:              median {med_copy:.2f} s = "
          f"{ROWS / med_copy:,.0f} rows/s")
    print(f"ratio credstats / COPY time:              {med / med_copy:.1f}x")
    med_e = statistics.median(ours_events)
    print(f"re-import credentials (unchanged) + {ROWS:,} new events: median {med_e:.2f} s = "
          f"{2 * ROWS / med_e:,.0f} rows/s")


def bench_ask(home: Path) -> None:
    env = {**os.environ, "CREDSTATS_HOME": str(home)}
    subprocess.run([CREDSTATS, "demo"], env=env, check=True, capture_output=True)
    print("\n## `credstats ask` on the demo database (wall time, interpreter start-up included)")
    for question in ("summary", "engagement group:CPA last quarter", "groups this year",
                     "issued this year by:week"):
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            subprocess.run([CREDSTATS, "ask", question], env=env, check=True,
                           capture_output=True)
            times.append(time.perf_counter() - t0)
        print(f"{question!r:40} median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, runpy; sys.argv=['credstats','ask','summary'];"
         "from bot.cli import main\ntry: main()\nexcept SystemExit: pass\n"
         "print('matplotlib imported:', 'matplotlib' in sys.modules, file=sys.stderr)"],
        env=env, capture_output=True, text=True)
    print(probe.stderr.strip())


def pctl(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_slack(home: Path) -> None:
    """Acknowledgement and end-to-end latency of /credstats on the demo database, through
    `credstats serve` and the tests' Slack stand-in."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from concurrent.futures import ThreadPoolExecutor

    from tests.slack_client import Server
    from tests.slack_standin import SlackStandIn, reset

    url = f"sqlite:///{home / 'credstats.sqlite3'}"
    standin = SlackStandIn().start()
    server = Server(url, standin.api_url).start()
    try:
        acks, ends = [], []
        for i in range(30):
            reset(standin)
            started = time.perf_counter()
            _, _, ack = server.command("engagement group:CPA last quarter",
                                       response_url=f"{standin.url}/response/{i}")
            standin.wait_for(lambda s: s.named("chat.postMessage"), timeout=30)
            ends.append(time.perf_counter() - started)
            acks.append(ack)
        print("\n## Slack (`credstats serve`, demo database, 30 sequential /credstats)")
        print(f"acknowledgement: p50 {pctl(acks, .5) * 1000:.0f} ms, "
              f"p95 {pctl(acks, .95) * 1000:.0f} ms")
        print(f"command to posted answer: p50 {pctl(ends, .5) * 1000:.0f} ms, "
              f"p95 {pctl(ends, .95) * 1000:.0f} ms")
        reset(standin)
        with ThreadPoolExecutor(max_workers=20) as pool:
            burst = list(pool.map(lambda i: server.command(
                "groups last 365 days by:day", response_url=f"{standin.url}/response/b{i}"),
                range(20)))
        slowest = max(seconds for _, _, seconds in burst)
        print(f"20 concurrent slow commands: slowest acknowledgement {slowest * 1000:.0f} ms")
        standin.wait_for(lambda s: len(s.named("chat.postMessage")) >= 20, timeout=300)
    finally:
        server.stop()
        standin.stop()


def bench_charts(home: Path) -> None:
    from bot.charts import chart_for
    from metrics.catalog import list_groups, resolve_organization
    from metrics.parse import parse
    from metrics.run import run

    engine = make_engine(f"sqlite:///{home / 'credstats.sqlite3'}")
    now = datetime.now(UTC)
    print("\n## Chart rendering (demo database, PNG bytes, median of 7)")
    for question in ("engagement group:CPA last quarter", "issued this year by:month",
                     "groups this year", "activity last 30 days"):
        with engine.connect() as conn:
            org = resolve_organization(conn, None)
            result = run(conn, org, parse(question, now=now, catalog=list_groups(conn, org)),
                         now)
        chart_for(result)  # the first one pays for importing matplotlib
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            chart_for(result)
            times.append(time.perf_counter() - t0)
        print(f"{question!r:40} median {statistics.median(times) * 1000:.0f} ms")


def main() -> None:
    print(f"credstats bench · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores · "
          f"Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        bench_ask(home)
        bench_charts(home)
        bench_slack(home)
        bench_import(Path(tmp))
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_scale import bench_scale

    bench_scale(PG_URL)


if __name__ == "__main__":
    main()
