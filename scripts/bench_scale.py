"""The scale part of `make bench`: seeded 1M / 10M databases, every query type through the
metrics layer and as the straightforward SQL a BI tool would run over the raw tables, side by
side in one run (each side's runs in a block after a warm-up), with p50 / p95 and their ratio;
the answers must agree.

Databases are `credstats_bench_<N>` on the bench server, seeded once and reused (a database is
reused when it holds exactly N seeded credentials).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text

from metrics.catalog import list_groups, list_organizations, resolve_group
from metrics.db import make_engine, normalize_url, upgrade
from metrics.parse import parse
from metrics.platform import platform
from metrics.run import run
from metrics.seed import SeedPlan, seed

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)  # the seed's "now": every event is before it
TZ = "America/New_York"  # local midnights are not UTC midnights: the edges are exercised
RUNS = int(os.environ.get("CREDSTATS_BENCH_RUNS", "21"))
SLOW_SQL = 10.0  # seconds


def pctl(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def database(admin_url: str, n: int) -> Engine:
    """The seeded database for n credentials (created and seeded when missing)."""
    name = f"credstats_bench_{n}"
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalize_url(admin_url).rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM credentials")).scalar_one()
    if have != n:
        if have:
            raise SystemExit(f"{name} holds {have:,} credentials, not {n:,}: drop it first")
        t0 = time.perf_counter()
        counts = seed(engine, SeedPlan(n, 30, 5.0, 1), NOW,
                      lambda step: print(f"  {time.perf_counter() - t0:6.0f} s seeding {n:,}: "
                                         f"{step}", file=sys.stderr))
        seconds = time.perf_counter() - t0
        print(f"seeded {counts['credentials']:,} credentials and {counts['events']:,} events "
              f"in {seconds:.0f} s ({counts['organizations']} organizations)")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return engine


@dataclass(frozen=True)
class Case:
    name: str
    question: str
    bi: Callable[[Connection, dict[str, Any]], dict[str, int]]
    keys: tuple[str, ...]  # the figures both sides must agree on
    platform: bool = False  # every organization at once (credstats platform)


def _one(conn: Connection, sql: str, params: dict[str, Any]) -> dict[str, int]:
    row = conn.execute(text(sql), params).mappings().one()
    return {k: int(v or 0) for k, v in row.items()}


STEPS = """count(*) AS issued, count(DISTINCT c.recipient_id) AS recipients,
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM engagement_events e WHERE e.credential_id = c.id
    AND e.event_type = 'view' AND e.actor = 'owner')) AS opened,
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM engagement_events e WHERE e.credential_id = c.id
    AND e.event_type IN ('pdf_download', 'image_download'))) AS downloaded,
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM engagement_events e WHERE e.credential_id = c.id
    AND e.event_type = 'linkedin_share')) AS linkedin_shared,
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM engagement_events e WHERE e.credential_id = c.id
    AND e.event_type = 'linkedin_profile_add')) AS linkedin_profile_added"""
FUNNEL_JOIN = """count(DISTINCT c.id) AS issued, count(DISTINCT c.recipient_id) AS recipients,
  count(DISTINCT c.id) FILTER (WHERE e.event_type = 'view' AND e.actor = 'owner') AS opened,
  count(DISTINCT c.id) FILTER (WHERE e.event_type IN ('pdf_download', 'image_download'))
    AS downloaded,
  count(DISTINCT c.id) FILTER (WHERE e.event_type = 'linkedin_share') AS linkedin_shared,
  count(DISTINCT c.id) FILTER (WHERE e.event_type = 'linkedin_profile_add')
    AS linkedin_profile_added
FROM credentials c LEFT JOIN engagement_events e ON e.credential_id = c.id"""
IN_RANGE = "c.organization_id = :org AND c.issued_at >= :a AND c.issued_at < :b"


def bi_issued(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    sql = ("SELECT count(*) AS issued, count(DISTINCT recipient_id) AS recipients "
           "FROM credentials c WHERE " + IN_RANGE)
    out = _one(conn, sql, p)
    _one(conn, sql, {**p, "a": p["pa"], "b": p["pb"]})  # the previous period
    return out


def bi_recipients_all(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    return _one(conn, "SELECT count(*) AS issued, count(DISTINCT recipient_id) AS recipients "
                "FROM credentials WHERE organization_id = :org", p)


def bi_funnel(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    sql = f"SELECT {FUNNEL_JOIN} WHERE {IN_RANGE}"
    out = _one(conn, sql, p)
    _one(conn, sql, {**p, "a": p["pa"], "b": p["pb"]})
    return out


def bi_groups(conn: Connection, p: dict[str, Any], only: str = "") -> dict[str, int]:
    rows = conn.execute(text(f"SELECT c.group_id, {FUNNEL_JOIN} WHERE {IN_RANGE} {only} "
                             "GROUP BY c.group_id"), p).mappings().all()
    return {f"{r['group_id']}:{k}": int(v) for r in rows for k, v in r.items()
            if k != "group_id"}


def bi_compare(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    out = bi_groups(conn, p, "AND c.group_id IN (:g1, :g2)")
    # the answer's Total: unique recipients of both groups, in the range and the previous one
    both = ("SELECT count(DISTINCT recipient_id) AS recipients FROM credentials c WHERE "
            f"{IN_RANGE} AND c.group_id IN (:g1, :g2)")
    out["total"] = _one(conn, both, p)["recipients"]
    out["total previous"] = _one(conn, both, {**p, "a": p["pa"], "b": p["pb"]})["recipients"]
    return out


def bi_series(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    rows = conn.execute(text(
        "SELECT date_trunc('week', c.issued_at AT TIME ZONE :tz) AS week, count(*) AS issued, "
        "count(DISTINCT c.recipient_id) AS recipients FROM credentials c "
        f"WHERE {IN_RANGE} GROUP BY 1 ORDER BY 1"), p).mappings().all()
    return {"issued": sum(r["issued"] for r in rows),
            "weeks": len(rows), "recipients_sum": sum(r["recipients"] for r in rows)}


def bi_activity(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    rows = conn.execute(text(
        "SELECT event_type, count(*) AS n FROM engagement_events "
        "WHERE organization_id = :org AND occurred_at >= :a AND occurred_at < :b "
        "GROUP BY event_type"), p).all()
    touched = conn.execute(text(
        "SELECT count(DISTINCT credential_id) FROM engagement_events "
        "WHERE organization_id = :org AND occurred_at >= :a AND occurred_at < :b"), p).scalar()
    return {"events": sum(n for _, n in rows), **{t: n for t, n in rows},
            "credentials": int(touched or 0)}


EVENT_STEPS = {  # the engagement steps by event type (an owner's view opens; anyone's share)
    "opened": "event_type = 'view' AND actor = 'owner'",
    "downloaded": "event_type IN ('pdf_download', 'image_download')",
    "linkedin_shared": "event_type = 'linkedin_share'",
    "linkedin_profile_added": "event_type = 'linkedin_profile_add'",
    "shared": "event_type IN ('linkedin_share', 'twitter_share', 'facebook_share', "
              "'other_share')",
    "referral_clicked": "event_type = 'referral_click'",
    "wallet_added": "event_type = 'wallet_add'",
}


def bi_event_basis(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    """Engagement by event date: credentials with each step's event in the range, whatever
    their issue date; the range and the previous one."""
    counts = ", ".join(f"count(DISTINCT credential_id) FILTER (WHERE {where}) AS {step}"
                       for step, where in EVENT_STEPS.items())
    sql = (f"SELECT {counts} FROM engagement_events "
           "WHERE organization_id = :org AND occurred_at >= :a AND occurred_at < :b")
    out = _one(conn, sql, p)
    _one(conn, sql, {**p, "a": p["pa"], "b": p["pb"]})
    return out


def bi_platform(conn: Connection, p: dict[str, Any]) -> dict[str, int]:
    """Every organization's funnel for the range and the previous one, as a BI tool would."""
    where = "c.issued_at >= :a AND c.issued_at < :b GROUP BY c.organization_id"
    rows = conn.execute(text(f"SELECT {FUNNEL_JOIN} WHERE {where}"), p).mappings().all()
    conn.execute(text(f"SELECT {FUNNEL_JOIN} WHERE {where}"),
                 {**p, "a": p["pa"], "b": p["pb"]}).all()
    return {k: sum(int(r[k]) for r in rows) for k in rows[0]} if rows else {}


CASES = (
    Case("issued vs previous period", "issued last quarter", bi_issued,
         ("issued", "recipients")),
    Case("unique recipients all time", "recipients all time", bi_recipients_all,
         ("issued", "recipients")),
    Case("unique recipients in a range", "recipients last quarter", bi_issued,
         ("issued", "recipients")),
    Case("engagement funnel, a quarter", "engagement last quarter", bi_funnel,
         ("issued", "recipients", "opened", "downloaded", "linkedin_shared",
          "linkedin_profile_added")),
    Case("by-group breakdown", "groups last quarter", bi_groups, ()),
    Case("compare 2 groups", "compare P01 vs P02 last quarter", bi_compare, ()),
    Case("12-week weekly series", "issued last 12 weeks by:week", bi_series, ()),
    Case("activity by event date", "activity last quarter", bi_activity,
         ("events", "credentials")),
    Case("engagement by event date, a qtr", "engagement last quarter basis:event",
         bi_event_basis, tuple(EVENT_STEPS)),
    Case("platform-wide funnel, a quarter", "engagement last quarter", bi_platform,
         ("issued", "recipients", "opened", "downloaded", "linkedin_shared",
          "linkedin_profile_added"), platform=True),
)


def _ours(result: Any, case: Case) -> dict[str, int]:
    """Our figures in the BI query's shape, for the agreement check."""
    if case.bi in (bi_groups, bi_compare):
        # by group id, like the BI query
        return {}
    if case.bi is bi_series:
        return {"issued": sum(p.values["issued"] for p in result.series),
                "weeks": sum(1 for p in result.series if p.values["issued"]),
                "recipients_sum": sum(p.values["recipients"] for p in result.series)}
    return {k: result.values[k] for k in case.keys}


def bench_size(admin_url: str, n: int) -> list[tuple[str, float, float, float, float]]:
    engine = database(admin_url, n)
    rows: list[tuple[str, float, float, float, float]] = []
    with engine.connect() as conn:
        orgs = list_organizations(conn)
        sizes = dict(conn.execute(text(
            "SELECT organization_id, count(*) FROM credentials GROUP BY 1")).all())
        org = max(orgs, key=lambda o: sizes.get(o.id, 0))
        events = conn.execute(text("SELECT count(*) FROM engagement_events")).scalar_one()
        print(f"\n### {n:,} credentials, {events:,} events, {len(orgs)} organizations; the "
              f"largest holds {sizes[org.id]:,}; timezone {TZ}; {RUNS} runs each, warm")
        print(f"{'query':34} {'credstats p50':>13} {'p95':>8} {'plain SQL p50':>14} {'p95':>8}"
              f" {'ratio p50':>10}  agree")
        catalog = list_groups(conn, org)
        for case in CASES:
            query = parse(case.question, now=NOW, tz=TZ, catalog=catalog)
            rng, prev = query.time_range, query.time_range.previous()
            params: dict[str, Any] = {
                "org": org.id, "a": rng.start_at, "b": rng.end_at, "tz": TZ,
                "pa": prev.start_at if prev else None, "pb": prev.end_at if prev else None,
                "g1": resolve_group(catalog, "P01").id, "g2": resolve_group(catalog, "P02").id}
            ours_t, bi_t = [], []

            def ours(query: Any = query, case: Case = case) -> Any:
                if case.platform:
                    return platform(conn, query.time_range, NOW)
                return run(conn, org, query, NOW)

            # each side's runs in a block after a warm-up: the targets are for a warm cache,
            # and a plain SQL query between two of ours reads gigabytes past PostgreSQL's
            # shared buffers (at 10M it doubled our p95)
            for _ in range(2):
                result = ours()
            for _ in range(RUNS):
                t0 = time.perf_counter()
                result = ours()
                ours_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            bi = case.bi(conn, params)
            # a plain SQL query of a minute (platform-wide at 10M) runs 3 times, not RUNS + 1
            runs = RUNS if time.perf_counter() - t0 < SLOW_SQL else 2
            for _ in range(runs):
                t0 = time.perf_counter()
                bi = case.bi(conn, params)
                bi_t.append(time.perf_counter() - t0)
            agree = _agree(result, bi, case)
            row = (case.name, pctl(ours_t, .5) * 1000, pctl(ours_t, .95) * 1000,
                   pctl(bi_t, .5) * 1000, pctl(bi_t, .95) * 1000)
            rows.append(row)
            print(f"{row[0]:34} {row[1]:10.1f} ms {row[2]:5.1f} ms {row[3]:11.1f} ms "
                  f"{row[4]:5.1f} ms {row[1] / row[3]:9.3f}x  {agree}")
    bench_slack(engine, org.name)
    engine.dispose()
    return rows


def _agree(result: Any, bi: dict[str, int], case: Case) -> str:
    if case.bi in (bi_groups, bi_compare):
        ours = {(gv.group, k): v for gv in result.by_group for k, v in gv.values.items()}
        theirs_issued = sorted(v for k, v in bi.items() if k.endswith(":issued"))
        mine_issued = sorted(v for (g, k), v in ours.items() if k == "issued" and v)
        theirs_rec = sorted(v for k, v in bi.items() if k.endswith(":recipients"))
        mine_rec = sorted(v for (g, k), v in ours.items() if k == "recipients" and v)
        theirs_open = sorted(v for k, v in bi.items() if k.endswith(":opened"))
        mine_open = sorted(v for (g, k), v in ours.items() if k == "opened" and v)
        same = (theirs_issued == mine_issued and theirs_rec == mine_rec
                and [x for x in theirs_open if x] == mine_open)
        if case.bi is bi_compare:
            totals = (result.values["recipients"], result.previous.values["recipients"])
            same = same and totals == (bi["total"], bi["total previous"])
        return "yes" if same else "NO"
    figures = {k: result.total[k] for k in case.keys} if case.platform else _ours(result, case)
    same = all(figures[k] == bi.get(k, 0) for k in figures)
    return "yes" if same else f"NO {figures} vs {bi}"


def bench_slack(engine: Engine, org_name: str, runs: int = 7) -> None:
    """Every query type end to end through `credstats serve` (signed /credstats requests over
    HTTP, the tests' Slack stand-in): acknowledgement, and the command until the answer is
    posted (charts included, rendered and uploaded in the answer's thread)."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from tests.slack_client import Server
    from tests.slack_standin import SlackStandIn, reset

    url = engine.url.render_as_string(hide_password=False)
    standin = SlackStandIn().start()
    server = Server(url, standin.api_url, CREDSTATS_ORG=org_name).start()
    print(f"\nend to end through `credstats serve` ({runs} sequential /credstats each; "
          "the answer's chart is rendered and uploaded after the post)")
    print(f"{'query':34} {'ack p50':>8} {'p95':>7} {'answer p50':>11} {'p95':>8}")
    try:
        for case in CASES:
            if case.platform:  # not a Slack question: credstats platform is a CLI command
                continue
            acks, ends = [], []
            for i in range(runs + 1):
                reset(standin)
                started = time.perf_counter()
                _, _, ack = server.command(case.question, response_url=f"{standin.url}/r/{i}")
                standin.wait_for(lambda s: s.named("chat.postMessage"), timeout=60)
                if i:  # the first one warms the worker
                    ends.append(time.perf_counter() - started)
                    acks.append(ack)
            print(f"{case.name:34} {pctl(acks, .5) * 1000:5.0f} ms {pctl(acks, .95) * 1000:4.0f} ms"
                  f" {pctl(ends, .5) * 1000:8.0f} ms {pctl(ends, .95) * 1000:5.0f} ms")
    finally:
        server.stop()
        standin.stop()


def bench_scale(admin_url: str) -> None:
    sizes = [int(s) for s in os.environ.get("CREDSTATS_BENCH_SCALES",
                                            "1000000,10000000").split(",") if s]
    print("\n## Scale: the metrics layer vs straightforward SQL over the raw tables "
          "(PostgreSQL, warm cache, the largest organization)")
    results = {n: bench_size(admin_url, n) for n in sizes}
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"\ngrowth of credstats p95 from {small:,} to {large:,}:")
        for (name, _, p95_small, *_), (_, _, p95_large, *_) in zip(
                results[small], results[large], strict=True):
            print(f"{name:34} {p95_large / p95_small:5.2f}x")


if __name__ == "__main__":
    bench_scale(os.environ.get("CREDSTATS_BENCH_POSTGRES_URL",
                               "postgresql://postgres@127.0.0.1:5432/test"))
