"""The migrations build exactly the models' schema, on both backends; the manifest is valid."""

from __future__ import annotations

from pathlib import Path

import yaml
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from metrics.db import HEAD_REVISION, current_revision
from metrics.schema import metadata
from tests.conftest import Database

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
