"""credstats' shared metrics layer: schema, metric definitions, time ranges, SQL and import.

Every interface (Slack commands, mentions, digests, the CLI) calls `metrics.run`; nothing here
imports Slack.
"""

from metrics.errors import UserError
from metrics.query import MetricQuery, MetricResult
from metrics.run import run

__all__ = ["MetricQuery", "MetricResult", "UserError", "run"]
