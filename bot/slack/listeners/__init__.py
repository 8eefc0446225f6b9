"""Slack listeners, one module per kind; each exposes `register(app, deps)`."""

from slack_bolt import App

from bot.slack.deps import Deps
from bot.slack.listeners import actions, commands, events

# What the app listens to; tests hold manifest.yml to exactly these.
COMMANDS = ("/credstats",)
EVENTS = ("app_mention", "message.im")


def register_listeners(app: App, deps: Deps) -> None:
    commands.register(app, deps)
    events.register(app, deps)
    actions.register(app, deps)
