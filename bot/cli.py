"""The `credstats` command line: a thin layer over the metrics library.

Library errors become clean messages: a `UserError` prints what was wrong with suggestions and
exits 2 (1 for refused imports); an unreachable database says which one and why.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from metrics.errors import UserError

if TYPE_CHECKING:  # imported lazily at run time: Slack is not needed to answer on the CLI
    from bot.settings import Settings
    from bot.slack.deps import Deps

P = ParamSpec("P")
R = TypeVar("R")

DB_HELP = ("database URL (postgresql://... or sqlite:///...); default $CREDSTATS_DATABASE_URL, "
           "else the embedded SQLite file")


def _fail(message: str, suggestions: tuple[str, ...] = (), code: int = 2,
          as_json: bool = False) -> None:
    if as_json:
        click.echo(json.dumps({"error": message, "suggestions": list(suggestions)}))
    click.echo(f"Error: {message}", err=True)
    for s in suggestions[:4]:
        click.echo(f"  try: {s}", err=True)
    sys.exit(code)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into messages and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            from metrics.importer import ImportFailed

            if isinstance(exc, ImportFailed):
                for problem in exc.problems:
                    click.echo(problem, err=True)
                if exc.more:
                    click.echo(f"... and {exc.more} more", err=True)
                _fail(exc.message, exc.suggestions, code=1)
            _fail(exc.message, exc.suggestions, as_json=as_json)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            _fail(f"Cannot use the database: {reason}",
                  ("check --db / CREDSTATS_DATABASE_URL and that the server is running",),
                  code=1, as_json=as_json)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, keep the traceback for CREDSTATS_DEBUG
            if os.environ.get("CREDSTATS_DEBUG"):
                raise
            _fail(f"credstats failed unexpectedly ({type(exc).__name__}: "
                  f"{str(exc).splitlines()[0][:300] if str(exc) else 'no details'}).",
                  ("run again with CREDSTATS_DEBUG=1 for the full traceback, and report it",),
                  code=1, as_json=as_json)
        raise AssertionError("unreachable")

    return wrapper


def parse_now(value: str | None, tz: str) -> datetime:
    """--now: an ISO date or datetime; without an offset it is read in the query's timezone."""
    from metrics.timerange import zone

    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"--now {value!r} is not an ISO 8601 date or time.",
                        ["--now 2026-11-29", "--now 2026-11-29T09:00:00+00:00"]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone(tz))


def default_tz(tz: str | None) -> str:
    from metrics.timerange import zone

    tz = tz or os.environ.get("CREDSTATS_TIMEZONE") or "UTC"
    zone(tz)
    return tz


def open_database(
    db: str | None, now: datetime, *, create: bool = True, seed: bool = True
) -> Engine:
    """The engine for --db; the embedded database is created, migrated and seeded on first use."""
    from metrics.db import database_target, ensure_schema, make_engine

    target = database_target(db)
    engine = make_engine(target.url)
    if create:
        ensure_schema(engine, target)
    if target.embedded and create and seed and not _has_organizations(engine):
        from metrics.demo import load_demo

        click.echo(f"Creating the demo database at {target.display} ...", err=True)
        load_demo(engine, now)
    return engine


def _has_organizations(engine: Engine) -> bool:
    from metrics.catalog import list_organizations

    with engine.connect() as conn:
        return bool(list_organizations(conn))


db_option = click.option("--db", "db", metavar="URL", help=DB_HELP)
org_option = click.option("--org", metavar="NAME",
                          help="organization (default: the only one in the database)")
tz_option = click.option("--tz", metavar="TZ", help="IANA timezone (default $CREDSTATS_TIMEZONE "
                         "or UTC)")
now_option = click.option("--now", metavar="ISO", help="pin the clock: answer as of this instant")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="credstats")
def cli() -> None:
    """credstats: how your digital credentials are doing (issued, recipients, engagement)."""


@cli.command()
@click.argument("text", nargs=-1, required=True)
@db_option
@org_option
@tz_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")
@click.option("--sql", "show_sql", is_flag=True, help="also print the SQL that was run")
@click.option("--chart", "chart_path", type=click.Path(path_type=Path),
              help="also write the answer's chart (PNG) to this file")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path),
              help="also write the figures as CSV to this file")
@user_errors
def ask(text: tuple[str, ...], db: str | None, org: str | None, tz: str | None,
        now: str | None, as_json: bool, show_sql: bool, chart_path: Path | None,
        csv_path: Path | None) -> None:
    """Answer a question, e.g. credstats ask "engagement group:CPA last quarter"."""
    from bot.help_text import usage
    from bot.render_json import dumps
    from bot.render_text import render
    from metrics.catalog import list_groups, resolve_organization
    from metrics.definitions import Metric
    from metrics.parse import parse
    from metrics.run import run

    zone_name = default_tz(tz)
    clock = parse_now(now, zone_name)
    engine = open_database(db, clock)
    with engine.connect() as conn:
        organization = resolve_organization(conn, org)
        query = parse(" ".join(text), now=clock, tz=zone_name,
                      catalog=list_groups(conn, organization))
        if query.metric is Metric.HELP:
            click.echo(json.dumps({"help": usage()}) if as_json else usage())
            return
        result = run(conn, organization, query, clock)
    if query.output_format == "csv":
        from bot.render_csv import render_csv

        click.echo(render_csv(result), nl=False)
    else:
        click.echo(dumps(result) if as_json else render(result))
    if csv_path is not None:
        from bot.render_csv import render_csv

        csv_path.write_text(render_csv(result))
    if chart_path is not None:
        from bot.charts import chart_for

        chart = chart_for(result)
        if chart is None:
            raise UserError("This answer has no chart (a summary, or nothing in the range).",
                            ["engagement last quarter --chart funnel.png",
                             "issued this year by:month --chart trend.png"])
        chart_path.write_bytes(chart.png)
        click.echo(f"Chart written to {chart_path} ({len(chart.png):,} bytes).", err=True)
    if show_sql:
        click.echo("\n-- SQL\n" + ";\n\n".join(result.sql) + ";", err=as_json)


@cli.command("parse")
@click.argument("text", nargs=-1)
@db_option
@org_option
@tz_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="print the parsed query as JSON")
@click.option("--no-db", is_flag=True, help="keep group names as typed (no database)")
@user_errors
def parse_cmd(text: tuple[str, ...], db: str | None, org: str | None, tz: str | None,
              now: str | None, as_json: bool, no_db: bool) -> None:
    """Show how a question is understood (metric, groups, resolved range)."""
    from metrics.catalog import list_groups, resolve_organization
    from metrics.db import database_target, embedded_path
    from metrics.parse import parse

    zone_name = default_tz(tz)
    clock = parse_now(now, zone_name)
    catalog = None
    target = database_target(db)
    if not no_db and (not target.embedded or embedded_path().exists()):
        engine = open_database(db, clock, create=False)
        with engine.connect() as conn:
            catalog = list_groups(conn, resolve_organization(conn, org))
    query = parse(" ".join(text), now=clock, tz=zone_name, catalog=catalog)
    rng = query.time_range
    out = {
        "metric": query.metric.value,
        "groups": list(query.groups),
        "start": rng.start_at.isoformat() if rng.start_at else None,
        "end": rng.end_at.isoformat() if rng.end_at else None,
        "label": rng.label,
        "granularity": query.granularity.value if query.granularity else None,
        "compare": query.compare.value,
        "basis": query.basis.value,
        "timezone": rng.tz,
        "kind": query.kind.value if query.kind else None,
        "unparsed": list(query.unparsed),
    }
    if as_json:
        click.echo(json.dumps(out))
    else:
        for key, value in out.items():
            click.echo(f"{key:12} {value}")


@cli.command("import")
@click.option("--credentials", "credentials_file", required=True,
              type=click.Path(path_type=Path), help="credentials CSV (see README)")
@click.option("--events", "events_file", type=click.Path(path_type=Path),
              help="engagement events CSV (see README)")
@org_option
@db_option
@click.option("--progress/--no-progress", default=True, help="progress bar on a terminal")
@user_errors
def import_cmd(credentials_file: Path, events_file: Path | None, org: str | None,
               db: str | None, progress: bool) -> None:
    """Import credentials (and events) from CSV; all-or-nothing, safe to repeat."""
    from metrics.importer import import_files

    clock = datetime.now(UTC)
    engine = open_database(db, clock)
    summary = import_files(engine, org, credentials_file, events_file, now=clock,
                           progress=progress)
    for line in summary.lines():
        click.echo(line)


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@db_option
@user_errors
def db_upgrade(db: str | None) -> None:
    """Create or migrate the schema to the newest revision (a migration that changes the
    pre-aggregates rebuilds them from the stored rows: minutes on millions of rows)."""
    import time

    from metrics.db import HEAD_REVISION, current_revision, database_target, make_engine, upgrade

    target = database_target(db)
    engine = make_engine(target.url)
    with engine.connect() as conn:
        before = current_revision(conn)
    if before not in (None, HEAD_REVISION):
        click.echo(f"Upgrading {target.display} from schema revision {before} to "
                   f"{HEAD_REVISION}; pre-aggregates a migration adds or changes are computed "
                   "from the stored rows (minutes on millions of rows)...", err=True)
    started = time.monotonic()
    rebuilt = upgrade(engine)
    click.echo(f"{target.display} is at schema revision {HEAD_REVISION}.")
    if rebuilt:
        click.echo(f"Rebuilt the pre-aggregates of {len(rebuilt)} organization"
                   f"{'s' if len(rebuilt) > 1 else ''} in {time.monotonic() - started:.1f} s.")


@cli.command()
@db_option
@click.option("--if-missing", is_flag=True, help="only when the database has no demo data yet")
@now_option
@user_errors
def demo(db: str | None, if_missing: bool, now: str | None) -> None:
    """Create (or recreate) the demo organization and its data."""
    from metrics.catalog import list_organizations
    from metrics.demo import DEMO_ORG, load_demo

    clock = parse_now(now, "UTC")
    engine = open_database(db, clock, seed=False)
    with engine.connect() as conn:
        exists = any(o.name == DEMO_ORG for o in list_organizations(conn))
    if exists and if_missing:
        click.echo(f"Demo data is in place ({DEMO_ORG}); `credstats demo` recreates it.")
        return
    summary = load_demo(engine, clock)
    click.echo(f"Demo data for {DEMO_ORG}: {summary.credentials_new:,} credentials, "
               f"{summary.events_new:,} events, {summary.groups_new} groups, "
               f"{summary.recipients_new:,} recipients.")


GALLERY = (
    ("funnel-large-group", "engagement group:CPA last quarter"),
    ("funnel-small-group", "engagement group:DSB last 30 days"),
    ("funnel-all-groups", "engagement this year"),
    ("trend-monthly", "issued this year by:month"),
    ("trend-weekly", "issued group:CFA last 12 weeks by:week"),
    ("trend-daily-activity", "activity last 30 days by:day"),
    ("groups-ranked", "groups this year"),
    ("compare-three", "compare CPA vs CFA vs DSB last quarter"),
    ("activity-by-type", "activity last quarter"),
)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@db_option
@now_option
@user_errors
def gallery(directory: Path, db: str | None, now: str | None) -> None:
    """Render every chart type from the demo data into DIRECTORY, to look at."""
    from bot.charts import chart_for
    from metrics.catalog import list_groups, resolve_organization
    from metrics.demo import DEMO_ORG
    from metrics.parse import parse
    from metrics.run import run

    clock = parse_now(now, "UTC")
    engine = open_database(db, clock)
    directory.mkdir(parents=True, exist_ok=True)
    index = []
    with engine.connect() as conn:
        organization = resolve_organization(conn, DEMO_ORG)
        catalog = list_groups(conn, organization)
        for name, question in GALLERY:
            result = run(conn, organization, parse(question, now=clock, catalog=catalog), clock)
            chart = chart_for(result)
            if chart is None:
                index.append(f"{name}: no chart ({question})")
                continue
            (directory / f"{name}.png").write_bytes(chart.png)
            index.append(f"{name}.png: {question}\n    alt text: {chart.alt_text}")
    (directory / "index.txt").write_text("\n".join(index) + "\n")
    click.echo(f"{len(GALLERY)} charts in {directory} (see index.txt).")


@cli.command()
@click.argument("metric", required=False)
@user_errors
def explain(metric: str | None) -> None:
    """Define each figure: numerator, denominator and basis."""
    from metrics.glossary import explain as explain_text

    click.echo(explain_text(metric))


def _slack_settings(socket_mode: bool = False) -> Settings:
    from bot.settings import load_settings

    return load_settings(socket_mode=socket_mode)


def _server_engine(url: str | None, statement_timeout_ms: int | None = None,
                   *, check_schema: bool = True) -> Engine:
    """An engine for a long-running server: short connect and statement timeouts."""
    from metrics.db import database_target, ensure_schema, make_engine

    target = database_target(url)
    engine = make_engine(target.url, connect_timeout=2, statement_timeout_ms=statement_timeout_ms)
    if check_schema:
        ensure_schema(engine, target)
    return engine


def _slack_deps(settings: Settings) -> Deps:
    """Deps for a Slack process: the primary database, a read replica if configured, the pool."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.slack.deps import Deps

    engine = _server_engine(settings.database_url, settings.statement_timeout_ms)
    reader = None
    if settings.read_database_url:
        reader = _server_engine(settings.read_database_url, settings.statement_timeout_ms,
                                check_schema=False)
    return Deps(settings, engine,
                ThreadPoolExecutor(max_workers=settings.workers,
                                   thread_name_prefix="credstats-answer"),
                read_engine=reader)


def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="address to listen on")
@click.option("--port", default=3000, show_default=True, type=int, help="port to listen on")
@click.option("--workers", default=1, show_default=True, type=int,
              help="gunicorn worker processes")
@click.option("--threads", default=16, show_default=True, type=int,
              help="request threads per worker")
@user_errors
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the Slack app over HTTP: POST /slack/events, GET /healthz."""
    from bot.slack.server import serve as run_server
    from bot.slack.server import wsgi_app

    settings = _slack_settings()
    _server_engine(settings.database_url).dispose()  # refuse to start on a bad database

    def factory() -> Any:
        _logging()
        return wsgi_app(settings, _slack_deps(settings))

    click.echo(f"credstats serving Slack on http://{host}:{port}/slack/events", err=True)
    run_server(factory, host, port, workers, threads)


@cli.command()
@user_errors
def socket() -> None:
    """Run the Slack app in Socket Mode (no public URL needed; SLACK_APP_TOKEN)."""
    from concurrent.futures import ThreadPoolExecutor

    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.slack.app import create_app
    from bot.slack.deps import Deps
    from bot.slack.scheduler import start_scheduler

    settings = _slack_settings(socket_mode=True)
    _logging()
    engine = _server_engine(settings.database_url)
    deps = Deps(settings, engine, ThreadPoolExecutor(max_workers=settings.workers))
    app = create_app(settings, engine, deps)
    start_scheduler(settings, deps)
    SocketModeHandler(app, settings.app_token).start()  # type: ignore[no-untyped-call]


@cli.command("seed")
@click.option("--credentials", "n_credentials", required=True, type=click.IntRange(1),
              help="how many credentials to generate")
@click.option("--orgs", default=20, show_default=True, type=click.IntRange(1),
              help="organizations (the largest gets ~20% of the credentials)")
@click.option("--events-per-credential", default=5.0, show_default=True,
              type=click.FloatRange(0), help="engagement events per credential, on average")
@click.option("--seed", "seed_value", default=1, show_default=True, type=int,
              help="the same seed gives the same data")
@db_option
@now_option
@user_errors
def seed_cmd(n_credentials: int, orgs: int, events_per_credential: float, seed_value: int,
             db: str | None, now: str | None) -> None:
    """Fill a database with synthetic data at scale (for benchmarks)."""
    import time

    from tqdm import tqdm

    from metrics.seed import SeedPlan, seed

    clock = parse_now(now, "UTC")
    engine = open_database(db, clock, seed=False)
    plan = SeedPlan(n_credentials, min(orgs, n_credentials), events_per_credential, seed_value)
    started = time.monotonic()
    with tqdm(total=plan.steps, unit="step", disable=None, desc="seeding") as bar:
        def step(what: str) -> None:
            bar.set_postfix_str(what[:40])
            bar.update(1)

        counts = seed(engine, plan, clock, step)
    click.echo(", ".join(f"{v:,} {k}" for k, v in counts.items())
               + f" in {time.monotonic() - started:.1f} s")


@cli.command("platform")
@click.argument("text", nargs=-1)
@db_option
@tz_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
@user_errors
def platform_cmd(text: tuple[str, ...], db: str | None, tz: str | None, now: str | None,
                 as_json: bool) -> None:
    """Every organization at once (for whoever runs the deployment): credentials issued in a
    range, unique recipients and engagement, per organization and in all, e.g.
    credstats platform last quarter."""
    from bot.render_platform import render_platform, render_platform_json
    from metrics.parse import parse
    from metrics.platform import platform

    zone_name = default_tz(tz)
    clock = parse_now(now, zone_name)
    phrase = " ".join(text) or "last 30 days"
    examples = ["credstats platform last quarter", "credstats platform 2025",
                "credstats platform since 2026-01-01"]
    range_only = UserError(
        f"“{phrase}”: platform figures take a time range only (groups, kinds and series "
        "belong to one organization's questions: credstats ask --org NAME …).", examples)
    if any(word.lower().startswith(("group:", "kind:", "by:", "vs")) for word in text):
        raise range_only
    try:
        query = parse(f"engagement {phrase}", now=clock, tz=zone_name, catalog=[])
    except UserError as exc:
        raise UserError(exc.message, examples) from exc
    if query.groups or query.kind is not None or query.granularity is not None \
            or query.unparsed:
        raise range_only
    engine = open_database(db, clock)
    with engine.connect() as conn:
        result = platform(conn, query.time_range, clock)
    click.echo(render_platform_json(result) if as_json else render_platform(result))


@cli.group()
def digest() -> None:
    """Scheduled digests (managed in Slack with /credstats digest …)."""


@digest.command("run-due")
@now_option
@user_errors
def digest_run_due(now: str | None) -> None:
    """Run one scheduler tick: post every digest due now, then exit (for cron and tests)."""
    from datetime import timedelta

    from bot.digests import tick
    from bot.slack.scheduler import client_for_team

    settings = _slack_settings()
    clock = parse_now(now, "UTC")
    engine = _server_engine(settings.database_url, settings.statement_timeout_ms)
    outcomes = tick(engine, client_for_team(settings, engine), clock,
                    timedelta(hours=settings.digest_grace_hours))
    for run_id, state in outcomes:
        click.echo(f"digest run {run_id}: {state.value}")
    if not outcomes:
        click.echo("nothing due")


@cli.group()
def org() -> None:
    """Organizations and the Slack workspaces that answer for them."""


@org.command("list")
@db_option
@user_errors
def org_list(db: str | None) -> None:
    """List the organizations in the database."""
    from metrics.catalog import list_organizations

    engine = open_database(db, datetime.now(UTC))
    with engine.connect() as conn:
        for organization in list_organizations(conn):
            click.echo(organization.name + (f" ({organization.industry})"
                                            if organization.industry else ""))


@org.command("set-industry")
@click.argument("org_name")
@click.argument("industry")
@db_option
@user_errors
def org_set_industry(org_name: str, industry: str, db: str | None) -> None:
    """Set ORG_NAME's industry, for the published engagement averages (see README)."""
    from metrics.benchmarks import set_industry

    engine = open_database(db, datetime.now(UTC))
    with engine.begin() as conn:
        updated = set_industry(conn, org_name, industry)
    click.echo(f"{updated.name}: engagement answers now show the {updated.industry} averages.")


@org.command("link")
@click.argument("team_id")
@click.argument("org_name")
@db_option
@user_errors
def org_link(team_id: str, org_name: str, db: str | None) -> None:
    """Make Slack workspace TEAM_ID answer for organization ORG_NAME."""
    from metrics.conversations import link_team

    engine = open_database(db, datetime.now(UTC))
    with engine.begin() as conn:
        linked = link_team(conn, team_id.strip(), org_name)
    click.echo(f"Workspace {team_id} now answers for {linked.name}.")


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="credstats")
