"""The migrations build exactly the models' schema, on both backends; the manifest is valid."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from metrics.db import HEAD_REVISION, current_revision, make_engine, normalize_url
from metrics.schema import metadata
from tests.conftest import PG_URL, Database

ROOT = Path(__file__).parents[1]


def test_head_revision_constant_matches_the_migrations() -> None:
    config = Config()
    config.set_main_option("script_location", "metrics:migrations")
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


SLACK_TABLES = ("slack_bots", "slack_installations", "slack_oauth_states")


def _ours_only(name: str | None, type_: str, *_: object) -> bool:
    return not (type_ in ("table", "index") and name is not None
                and name.startswith(SLACK_TABLES))


def test_migrated_schema_equals_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _ours_only})
        assert compare_metadata(context, metadata) == []


@pytest.mark.postgres
def test_migrated_indexes_equal_the_models_on_postgresql(pg_db: Database, pg_admin: Engine
                                                          ) -> None:
    """Every index of the migrated schema, as PostgreSQL defines it (INCLUDE columns, partial
    predicates), equals the one the models create: answers rely on index-only reads."""
    def definitions(engine: Engine) -> set[tuple[str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT tablename, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema()")).all()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        return {(t, d.replace(f"{schema}.", "")) for t, d in rows if t in metadata.tables}

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    created = make_engine(normalize_url(PG_URL) + f"?options=-csearch_path%3D{schema}")
    try:
        metadata.create_all(created)
        assert definitions(pg_db.engine) == definitions(created)
    finally:
        created.dispose()
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_slack_store_tables_match_slack_sdk(db: Database) -> None:
    """The migration writes slack_sdk's tables out by hand; they must be what it expects."""
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
    from sqlalchemy import MetaData

    expected = MetaData()
    SQLAlchemyInstallationStore.build_bots_table(expected, "slack_bots")
    SQLAlchemyInstallationStore.build_installations_table(expected, "slack_installations")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(expected, "slack_oauth_states")
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True,
                        "include_name": lambda name, type_, *_: type_ != "table"
                        or name in SLACK_TABLES})
        assert compare_metadata(context, expected) == []


def test_manifest_is_a_slack_app_manifest() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/credstats"]
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.im"}
    for scope in ("commands", "chat:write", "files:write", "app_mentions:read", "im:history",
                  "users:read"):
        assert scope in manifest["oauth_config"]["scopes"]["bot"]
