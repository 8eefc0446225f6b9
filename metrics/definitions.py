"""Metric definitions as data: event types, engagement steps and the figures every answer shows.

The SQL builder, `credstats explain`, the README's "Metric definitions" and the renderers all read
these registries, so a definition is written exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    """The closed set of engagement events a credential can receive."""

    VIEW = "view"
    PDF_DOWNLOAD = "pdf_download"
    IMAGE_DOWNLOAD = "image_download"
    LINKEDIN_SHARE = "linkedin_share"
    LINKEDIN_PROFILE_ADD = "linkedin_profile_add"
    TWITTER_SHARE = "twitter_share"
    FACEBOOK_SHARE = "facebook_share"
    OTHER_SHARE = "other_share"
    REFERRAL_CLICK = "referral_click"
    WALLET_ADD = "wallet_add"


EVENT_DESCRIPTIONS: dict[EventType, str] = {
    EventType.VIEW: "the credential page was viewed",
    EventType.PDF_DOWNLOAD: "the certificate PDF was downloaded",
    EventType.IMAGE_DOWNLOAD: "the badge or certificate image was downloaded",
    EventType.LINKEDIN_SHARE: "the credential was shared in a LinkedIn post",
    EventType.LINKEDIN_PROFILE_ADD: "the credential was added to a LinkedIn profile",
    EventType.TWITTER_SHARE: "the credential was shared on X/Twitter",
    EventType.FACEBOOK_SHARE: "the credential was shared on Facebook",
    EventType.OTHER_SHARE: "the credential was shared another way (e-mail, copied link, ...)",
    EventType.REFERRAL_CLICK: "someone clicked through from the credential to the issuer's site",
    EventType.WALLET_ADD: "the credential was added to a digital wallet",
}


class Actor(StrEnum):
    """Who caused an event: the credential's owner (its recipient) or anyone else."""

    OWNER = "owner"
    GUEST = "guest"


class CredentialKind(StrEnum):
    CERTIFICATE = "certificate"
    BADGE = "badge"


class Metric(StrEnum):
    """What a query asks for."""

    SUMMARY = "summary"
    ISSUED = "issued"
    RECIPIENTS = "recipients"
    ENGAGEMENT = "engagement"
    ACTIVITY = "activity"
    GROUPS = "groups"
    COMPARE = "compare"
    HELP = "help"


class Granularity(StrEnum):
    """Calendar units: series buckets and named ranges (weeks start on Monday)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Comparison(StrEnum):
    PREVIOUS = "previous"
    YEAR = "year"
    NONE = "none"


class Basis(StrEnum):
    """How engagement is attributed to a range: by the issue-date cohort or by event date."""

    ISSUED = "issued"
    EVENT = "event"


@dataclass(frozen=True)
class EngagementStep:
    """One engagement figure: credentials of the cohort with at least one matching event."""

    key: str
    label: str
    event_types: tuple[EventType, ...]
    owner_only: bool
    definition: str

    def reached_by(self, event: EventType, *, by_owner: bool) -> bool:
        """Whether one event of this type, by the owner or by someone else, reaches the step
        (metrics.rollups.steps_mask states the same in SQL)."""
        return event in self.event_types and (by_owner or not self.owner_only)


ENGAGEMENT_STEPS: tuple[EngagementStep, ...] = (
    EngagementStep(
        "opened", "opened", (EventType.VIEW,), True,
        "credentials viewed at least once by their owner (guest views do not count)",
    ),
    EngagementStep(
        "downloaded", "downloaded", (EventType.PDF_DOWNLOAD, EventType.IMAGE_DOWNLOAD), False,
        "credentials whose PDF or image was downloaded at least once",
    ),
    EngagementStep(
        "linkedin_shared", "shared on LinkedIn", (EventType.LINKEDIN_SHARE,), False,
        "credentials shared in a LinkedIn post at least once",
    ),
    EngagementStep(
        "linkedin_profile_added", "added to LinkedIn profile", (EventType.LINKEDIN_PROFILE_ADD,),
        False, "credentials added to a LinkedIn profile",
    ),
    EngagementStep(
        "shared", "shared anywhere",
        (EventType.LINKEDIN_SHARE, EventType.TWITTER_SHARE, EventType.FACEBOOK_SHARE,
         EventType.OTHER_SHARE),
        False, "credentials shared at least once by anyone, on any channel (LinkedIn included)",
    ),
    EngagementStep(
        "referral_clicked", "referral clicks", (EventType.REFERRAL_CLICK,), False,
        "credentials that led to at least one click-through to the issuer's site",
    ),
    EngagementStep(
        "wallet_added", "added to a wallet", (EventType.WALLET_ADD,), False,
        "credentials added to a digital wallet",
    ),
)

ENGAGEMENT_KEYS: tuple[str, ...] = tuple(step.key for step in ENGAGEMENT_STEPS)
ACTIVITY_KEYS: tuple[str, ...] = (*(t.value for t in EventType), "events", "credentials")


@dataclass(frozen=True)
class Figure:
    """A number credstats reports, as `credstats explain` states it."""

    key: str
    label: str
    numerator: str
    denominator: str
    basis: str


_COHORT = "cohort: credentials issued in [start, end); their events count up to now, at any date"

FIGURES: tuple[Figure, ...] = (
    Figure("issued", "Issued", "credentials with issued_at in [start, end)", "none (a count)",
           "issue date"),
    Figure("recipients", "Unique recipients",
           "distinct recipients (normalized e-mail) among the credentials issued in [start, end)",
           "none (a count)", "issue date"),
    *(
        Figure(step.key, step.label[:1].upper() + step.label[1:], step.definition,
               "shown as % of issued and as % of opened (same cohort)", _COHORT)
        for step in ENGAGEMENT_STEPS
    ),
    Figure("events", "Events (activity)",
           "engagement events with occurred_at in [start, end), one column per event type, "
           "any actor, whatever the credential's issue date", "none (a count)", "event date"),
    Figure("credentials", "Credentials touched (activity)",
           "distinct credentials with at least one event in [start, end)", "none (a count)",
           "event date"),
)

FIGURES_BY_KEY: dict[str, Figure] = {f.key: f for f in FIGURES}

METRIC_DESCRIPTIONS: dict[Metric, str] = {
    Metric.SUMMARY: "issued for the last 30 days, last quarter and all time, unique recipients "
    "all time, and engagement for the last 30 days",
    Metric.ISSUED: "credentials issued in the range and their unique recipients, vs the "
    "previous period",
    Metric.RECIPIENTS: "unique recipients of the credentials issued in the range",
    Metric.ENGAGEMENT: "the engagement funnel of the credentials issued in the range (cohort)",
    Metric.ACTIVITY: "engagement events that happened in the range, by event date",
    Metric.GROUPS: "every group ranked by credentials issued in the range",
    Metric.COMPARE: "the chosen groups side by side",
    Metric.HELP: "how to ask",
}

METRIC_FIGURES: dict[Metric, tuple[str, ...]] = {
    Metric.SUMMARY: ("issued", "recipients", *ENGAGEMENT_KEYS),
    Metric.ISSUED: ("issued", "recipients"),
    Metric.RECIPIENTS: ("issued", "recipients"),
    Metric.ENGAGEMENT: ("issued", "recipients", *ENGAGEMENT_KEYS),
    Metric.ACTIVITY: ("issued", "recipients", "events", "credentials"),
    Metric.GROUPS: ("issued", "recipients", *ENGAGEMENT_KEYS),
    Metric.COMPARE: ("issued", "recipients", *ENGAGEMENT_KEYS),
    Metric.HELP: (),
}

# Below this many credentials a rate is shown with a small-sample warning.
SMALL_BASE = 30
