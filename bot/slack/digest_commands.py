"""/credstats digest add|list|remove|pause|resume|preview: managing digest subscriptions.

Replies are ephemeral. Bad input (an unknown channel, an impossible time, an unknown timezone
or group) is refused with a specific message and creates nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Connection

from bot.digests import compose
from bot.slack.deps import Deps
from metrics.catalog import Organization, list_groups, resolve_group
from metrics.digests import (
    WEEKDAYS,
    Frequency,
    Subscription,
    add_subscription,
    get_subscription,
    last_due,
    list_subscriptions,
    period_for,
    remove_subscription,
    run_error,
    set_paused,
)
from metrics.errors import UserError
from metrics.timerange import add_months, zone

USAGE = ["digest add weekly on monday at 9:00", "digest list", "digest pause 3"]


def handle(deps: Deps, client: WebClient, org: Organization, team_id: str, user_id: str,
           channel_id: str, raw_text: str, now: datetime) -> str:
    """Carry out one `digest …` command; returns the (ephemeral) reply text."""
    words = raw_text.split()[1:]
    action = words[0].lower() if words else "help"
    rest = " ".join(words[1:])
    with deps.engine.begin() as conn:
        if action == "add":
            sub = _add(deps, client, conn, org, team_id, user_id, channel_id, rest, now)
            return f"Digest created: {sub.describe()}.\n{_join_note(client, sub)}".strip()
        if action == "list":
            everywhere = rest.strip().lower() == "all"
            found = list_subscriptions(conn, team_id, None if everywhere else channel_id)
            if not found:
                where = "this workspace" if everywhere else "this channel"
                return f"No digests in {where} yet. Try `/credstats {USAGE[0]}`."
            lines = []
            for sub, last in found:
                line = f"• {sub.describe()}"
                if last is not None:
                    line += f" — last: {last.period.describe()} {last.state.value}"
                    error = run_error(conn, last.id)
                    if error:
                        line += f" ({error})"
                lines.append(line)
            return "\n".join(lines)
        if action in ("remove", "pause", "resume", "preview") and not rest.strip() \
                and action != "preview":
            raise UserError(f"Which digest? `/credstats digest {action} ID` "
                            "(the ids are in `/credstats digest list`).", USAGE)
        if action in ("remove", "pause", "resume"):
            sub = get_subscription(conn, team_id, _id(rest))
            _allowed(deps, client, sub, user_id)
            if action == "remove":
                remove_subscription(conn, sub)
                return f"Digest #{sub.id} removed."
            set_paused(conn, sub, action == "pause")
            return f"Digest #{sub.id} {'paused' if action == 'pause' else 'resumed'}."
        if action == "preview":
            sub = get_subscription(conn, team_id, _id(rest)) if rest.strip() else \
                _default(org, team_id, user_id, channel_id, deps.settings.timezone)
            due = last_due(sub, _one_period_later(sub.frequency, now))
            digest = compose(conn, sub, period_for(sub, due), now)
            return f"Preview of the digest due {due:%a %b %-d %H:%M %Z} (figures so far):\n" \
                + _plain(digest.blocks)
    raise UserError(f"Unknown digest command {action!r}: use add, list, remove, pause, "
                    "resume or preview.", USAGE)


def _one_period_later(frequency: Frequency, t: datetime) -> datetime:
    if frequency is Frequency.DAILY:
        return t + timedelta(days=1)
    if frequency is Frequency.WEEKLY:
        return t + timedelta(days=7)
    moved = add_months(t.date(), 1)
    return t.replace(year=moved.year, month=moved.month, day=moved.day)


def _plain(blocks: list[dict[str, object]]) -> str:
    out = []
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            out.append(str(text.get("text", "")))
        for element in block.get("elements", []) or []:  # type: ignore[attr-defined]
            out.append(str(element.get("text", "")))
    return "\n".join(out)


def _id(text: str) -> int:
    token = text.strip().lstrip("#")
    if not token.isdigit():
        raise UserError(f"{text.strip()!r} is not a digest id (a number from "
                        "`/credstats digest list`).", USAGE)
    return int(token)


def _default(org: Organization, team_id: str, user_id: str, channel_id: str,
             tz: str) -> Subscription:
    return Subscription(0, team_id, channel_id, org.id, user_id, Frequency.WEEKLY, 0, 9 * 60,
                        tz, (), False, False)


TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")


def parse_time(text: str) -> int:
    """'9:00', '9', '9am', '17:30', '5:30pm' → minutes after midnight."""
    match = TIME.match(text.strip().lower())
    if match is None:
        raise UserError(f"'{text}' is not a time of day.", ["at 9:00", "at 17:30", "at 8am"])
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            raise UserError(f"'{text}' is not a time of day.", ["at 9am", "at 5:30pm"])
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    if hour > 23 or minute > 59:
        raise UserError(f"'{text}' is not a time of day: hours go to 23, minutes to 59.",
                        ["at 9:00", "at 23:30"])
    return hour * 60 + minute


def _add(deps: Deps, client: WebClient, conn: Connection, org: Organization, team_id: str,
         user_id: str, channel_id: str, text: str, now: datetime) -> Subscription:
    channel = channel_id
    frequency = Frequency.WEEKLY
    weekday, at_minute, tz = 0, 9 * 60, deps.settings.timezone
    groups: list[str] = []
    skip_empty = False
    catalog = list_groups(conn, org)
    tokens = re.findall(r"<[^>]+>|group:\"[^\"]*\"|\S+", text)
    unknown = []
    i = 0
    while i < len(tokens):
        token, lower = tokens[i], tokens[i].lower()
        if m := re.fullmatch(r"<#([A-Z0-9]+)(?:\|[^>]*)?>", token):
            channel = m.group(1)
        elif token.startswith("#"):
            raise UserError(f"I can't tell which channel {token} is: pick it from Slack's "
                            "autocomplete so that it becomes a link.", USAGE)
        elif lower in ("daily", "weekly", "monthly"):
            frequency = Frequency(lower)
        elif lower == "on" and i + 1 < len(tokens):
            day = tokens[i + 1].lower().rstrip("s")
            if day not in WEEKDAYS:
                raise UserError(f"'{tokens[i + 1]}' is not a day of the week.",
                                ["on monday", "on friday"])
            weekday, i = WEEKDAYS.index(day), i + 1
        elif lower in WEEKDAYS:
            weekday = WEEKDAYS.index(lower)
        elif lower == "at" and i + 1 < len(tokens):
            at_minute, i = parse_time(tokens[i + 1]), i + 1
        elif lower.startswith("tz:"):
            tz = token[3:]
            zone(tz)
        elif lower.startswith("group:"):
            for name in filter(None, (n.strip().strip('"') for n in token[6:].split(","))):
                groups.append(resolve_group(catalog, name).name)
        elif lower in ("skip-empty", "skip_empty"):
            skip_empty = True
        else:
            unknown.append(token)
        i += 1
    if unknown:
        raise UserError("I didn't understand " + ", ".join(f"'{u}'" for u in unknown)
                        + " in the digest.", USAGE)
    return add_subscription(conn, team_id=team_id, channel_id=channel,
                            organization_id=org.id, created_by=user_id, frequency=frequency,
                            weekday=weekday, at_minute=at_minute, timezone=tz,
                            groups=tuple(dict.fromkeys(groups)), skip_empty=skip_empty, now=now)


def _join_note(client: WebClient, sub: Subscription) -> str:
    """Join a public channel now; for a private one, say how to invite the bot."""
    if sub.channel_id.startswith("C"):
        try:
            client.conversations_join(channel=sub.channel_id)
            return ""
        except SlackApiError as exc:
            if exc.response.get("error") != "method_not_supported_for_channel_type":
                return f"(I could not join <#{sub.channel_id}>: {exc.response.get('error')}.)"
    return f"<#{sub.channel_id}> is private: invite me there with `/invite @credstats`."


def _allowed(deps: Deps, client: WebClient, sub: Subscription, user_id: str) -> None:
    """Only the creator or a workspace admin may change a subscription."""
    if user_id == sub.created_by:
        return
    if user_id in deps.settings.admins:
        return
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except SlackApiError:
        user = {}
    if user.get("is_admin") or user.get("is_owner"):
        return
    raise UserError(f"Only <@{sub.created_by}>, who created digest #{sub.id}, or a workspace "
                    "admin can change it.", ["digest list"])
