"""Slack listeners, one module per kind; each exposes `register(app, deps)`."""

from slack_bolt import App

from bot.slack.deps import Deps
from bot.slack.listeners import actions, commands, events

# What the app listens to and the scopes it needs; tests hold manifest.yml to exactly these.
COMMANDS = ("/credstats",)
EVENTS = ("app_mention", "message.im")
BOT_SCOPES = ("commands", "chat:write", "files:write", "app_mentions:read", "im:history",
              "users:read", "channels:join", "channels:history", "groups:history")


def register_listeners(app: App, deps: Deps) -> None:
    commands.register(app, deps)
    events.register(app, deps)
    actions.register(app, deps)
