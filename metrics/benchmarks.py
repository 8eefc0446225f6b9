"""Benchmarks an engagement answer is compared with.

- Industry averages: the published platform-wide rates per issuing industry, shipped as
  metrics/data/engagement-benchmarks.csv (Accredible's "Company average comparison"); an
  organization's industry is a setting.
- Peer averages: the mean rate of the other organizations in this database, shown only when at
  least MIN_PEERS of them have a cohort in the range, so no single organization's figures can be
  told apart.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import Connection, update

from metrics.catalog import Organization, resolve_organization
from metrics.errors import UserError, did_you_mean
from metrics.schema import organizations

SOURCE = "published by Accredible (help.accredible.com/company-average-comparison)"
MIN_PEERS = 5
MIN_PEER_COHORT = 10  # a peer counts only with this many credentials in the range
# benchmark rate → the figure it compares with (each as a share of issued)
RATE_FIGURES = {"visit_rate": "opened", "share_rate": "shared", "referral_rate": "referral_clicked"}


@dataclass(frozen=True)
class Benchmark:
    """Average rates (fractions of issued) keyed by figure: opened, shared, referral_clicked."""

    label: str
    source: str
    rates: dict[str, float]
    organizations: int | None = None


@lru_cache(maxsize=1)
def industries() -> dict[str, dict[str, float]]:
    text = resources.files("metrics").joinpath("data/engagement-benchmarks.csv").read_text()
    return {row["industry"]: {RATE_FIGURES[k]: float(v) for k, v in row.items()
                              if k in RATE_FIGURES}
            for row in csv.DictReader(text.splitlines())}


def industry_benchmark(industry: str | None) -> Benchmark | None:
    if industry is None or industry not in industries():
        return None
    return Benchmark(industry, SOURCE, industries()[industry])


def set_industry(conn: Connection, org_name: str, industry: str) -> Organization:
    """Record an organization's industry (one of the published list, matched loosely)."""
    known = {name.lower(): name for name in industries()}
    chosen = known.get(industry.strip().lower())
    if chosen is None:
        raise UserError(
            f"No published benchmark for the industry {industry!r}. Industries: "
            + ", ".join(sorted(industries())) + ".",
            did_you_mean(industry, list(industries())) or ["Professional Certifications"])
    org = resolve_organization(conn, org_name)
    conn.execute(update(organizations).where(organizations.c.id == org.id)
                 .values(industry=chosen))
    return Organization(org.id, org.name, chosen)


def peer_benchmark(rows: Sequence[Any]) -> Benchmark | None:
    """The mean rates of the other organizations (rows of sql.peer_cohorts_select), or None
    when fewer than MIN_PEERS contribute."""
    if len(rows) < MIN_PEERS:
        return None
    figures = list(RATE_FIGURES.values())
    rows = sorted(rows, key=lambda r: r.organization_id)  # the same sum whatever the order
    rates = {f: sum(getattr(r, f) / r.issued for r in rows) / len(rows) for f in figures}
    return Benchmark("other organizations here", "mean of their rates, this database", rates,
                     organizations=len(rows))
