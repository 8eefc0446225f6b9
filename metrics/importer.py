"""CSV import: validate everything, then write everything, in one transaction.

Rows stream from the files into temporary staging tables (COPY on PostgreSQL, batched inserts on
SQLite), so memory stays constant however large the files. Per-row problems are found while
streaming; problems between rows (a credential_id repeated with other data, an event for an
unknown credential) are found with SQL on the staging tables. Any problem rolls the whole
transaction back: nothing is written, and every bad row is reported as FILE:LINE: reason.
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import OperationalError

from metrics import rollups, staging
from metrics.catalog import Organization
from metrics.db import BULK_MIN, indexes_after
from metrics.definitions import Actor, CredentialKind, EventType
from metrics.errors import UserError
from metrics.schema import credentials, engagement_events, groups, organizations, recipients

CREDENTIAL_REQUIRED = ("credential_id", "group", "recipient_email", "issued_at")
CREDENTIAL_OPTIONAL = ("recipient_name", "group_code", "expires_at", "kind")
EVENT_REQUIRED = ("credential_id", "event", "occurred_at")
EVENT_OPTIONAL = ("actor", "event_id")
MAX_REPORTED = 10_000


class ImportFailed(UserError):
    """The files were refused; `problems` holds every 'FILE:LINE: reason'."""

    def __init__(self, problems: Sequence[str], more: int = 0) -> None:
        self.problems = list(problems)
        self.more = more
        total = len(self.problems) + more
        super().__init__(
            f"Nothing was imported: {total} problem{'s' if total != 1 else ''} in the files.",
            ["Fix the rows listed and run the same import again."],
        )


@dataclass
class ImportSummary:
    organization: str
    organization_created: bool = False
    credentials_new: int = 0
    credentials_updated: int = 0
    credentials_unchanged: int = 0
    events_new: int = 0
    events_updated: int = 0
    events_unchanged: int = 0
    groups_new: int = 0
    recipients_new: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"Organization: {self.organization}"
            + (" (created)" if self.organization_created else ""),
            f"Credentials: {self.credentials_new} new, {self.credentials_updated} updated, "
            f"{self.credentials_unchanged} unchanged",
            f"Events: {self.events_new} new, {self.events_updated} updated, "
            f"{self.events_unchanged} unchanged",
            f"Groups created: {self.groups_new}; recipients created: {self.recipients_new}",
        ]
        if self.ignored_columns:
            out.append("Ignored columns: " + ", ".join(self.ignored_columns))
        return out


def parse_instant(text: str) -> datetime:
    """ISO 8601 date or datetime; no offset means UTC."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalize_email(text: str) -> str:
    return text.strip().lower()


class _Problems:
    """Bad rows, reported per file in line order (at most MAX_REPORTED are kept)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, int, str]] = []
        self.more = 0

    def add(self, path: Path, line: int, reason: str) -> None:
        if len(self.found) < MAX_REPORTED:
            self.found.append((str(path), line, reason))
        else:
            self.more += 1

    @property
    def items(self) -> list[str]:
        return [f"{path}:{line}: {reason}" for path, line, reason in sorted(self.found)]

    def __bool__(self) -> bool:
        return bool(self.found)


# -- streaming the files --------------------------------------------------------------------

class _CountingReader(io.RawIOBase):
    """A binary file that reports the bytes read to a progress callback."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], object]) -> None:
        self.raw = raw
        self.advance = advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.advance(n or 0)
        return n or 0


@contextmanager
def _open_csv(
    path: Path, label: str, progress: bool
) -> Iterator[tuple[Iterator[list[str]], Callable[[], int]]]:
    from tqdm import tqdm

    try:
        raw = path.open("rb")
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror}.", ["check the path"]) from None
    with raw, tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=label,
                   disable=None if progress else True, leave=False) as bar:
        text = io.TextIOWrapper(io.BufferedReader(_CountingReader(raw, bar.update)),
                                encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            yield reader, lambda: reader.line_num
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8 CSV.") from None


def _header(
    rows: Iterator[list[str]], path: Path, required: Sequence[str], optional: Sequence[str],
    summary: ImportSummary, problems: _Problems,
) -> dict[str, int] | None:
    header = next(rows, None)
    if header is None:
        problems.add(path, 1, "the file is empty; expected a header row")
        return None
    names = [h.strip().lower() for h in header]
    missing = [r for r in required if r not in names]
    if missing:
        problems.add(path, 1, "missing column(s) " + ", ".join(missing)
                     + "; the header must name " + ", ".join(required))
        return None
    summary.ignored_columns += [f"{path.name}:{n}" for n in names
                                if n and n not in required and n not in optional]
    return {n: i for i, n in enumerate(names) if n in required or n in optional}


def _picker(cols: dict[str, int], names: Sequence[str]) -> Callable[[list[str]], list[str]]:
    """A fast row → [stripped cell per name] function; absent columns and short rows give ''."""
    width = max(cols.values()) + 1
    get = operator.itemgetter(*(cols.get(n, -1) for n in names))

    def pick(row: list[str]) -> list[str]:
        if len(row) < width:
            row = row + [""] * (width - len(row))
        row.append("")  # what index -1, an absent column, reads
        return [cell.strip() for cell in get(row)]

    return pick


_KINDS = {k.value for k in CredentialKind}
_EVENTS = {t.value for t in EventType}
_ACTORS = {a.value for a in Actor}


def _stream_credentials(
    path: Path, sink: staging.Sink, summary: ImportSummary, problems: _Problems, progress: bool,
    rejected: set[str],
) -> set[str]:
    """Stage the file's good rows; returns the optional columns the file has."""
    with _open_csv(path, "credentials", progress) as (rows, line_of):
        cols = _header(rows, path, CREDENTIAL_REQUIRED, CREDENTIAL_OPTIONAL, summary, problems)
        if cols is None:
            return set()
        pick = _picker(cols, (*CREDENTIAL_REQUIRED, *CREDENTIAL_OPTIONAL))
        for row in rows:
            line = line_of()
            ext, group, email, issued, name, code, expires, kind = pick(row)
            if not (ext or group or email or issued or name or code or expires or kind):
                continue
            email = normalize_email(email)
            kind = kind.lower() or CredentialKind.CERTIFICATE.value
            bad = [f"missing {name}" for name, value in
                   (("credential_id", ext), ("group", group), ("recipient_email", email),
                    ("issued_at", issued)) if not value]
            if email and ("@" not in email or " " in email):
                bad.append(f"recipient_email {email!r} is not an e-mail address")
            if kind not in _KINDS:
                bad.append(f"unknown kind {kind!r} (use certificate or badge)")
            issued_at = _instant(issued, "issued_at", bad)
            expires_at = _instant(expires, "expires_at", bad) if expires else None
            if bad:
                problems.add(path, line, "; ".join(bad))
                rejected.add(ext)
                continue
            sink.add((line, ext, group, code or None, email, name or None, issued_at, expires_at,
                      kind))
        return {c for c in ("expires_at", "kind", "recipient_name", "group_code") if c in cols}


def _stream_events(
    path: Path, sink: staging.Sink, summary: ImportSummary, problems: _Problems, progress: bool
) -> None:
    with _open_csv(path, "events", progress) as (rows, line_of):
        cols = _header(rows, path, EVENT_REQUIRED, EVENT_OPTIONAL, summary, problems)
        if cols is None:
            return
        pick = _picker(cols, (*EVENT_REQUIRED, *EVENT_OPTIONAL))
        for row in rows:
            line = line_of()
            ext, event, occurred, actor, event_id = pick(row)
            if not (ext or event or occurred or actor or event_id):
                continue
            event, actor = event.lower(), actor.lower() or Actor.OWNER.value
            bad = [f"missing {name}" for name, value in
                   (("credential_id", ext), ("event", event), ("occurred_at", occurred))
                   if not value]
            if event and event not in _EVENTS:
                bad.append(f"unknown event type {event!r} (known: {', '.join(sorted(_EVENTS))})")
            if actor not in _ACTORS:
                bad.append(f"unknown actor {actor!r} (use owner or guest)")
            occurred_at = _instant(occurred, "occurred_at", bad)
            if bad:
                problems.add(path, line, "; ".join(bad))
                continue
            sink.add((line, ext, event, occurred_at, actor, event_id or None))


def _instant(text: str, name: str, bad: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        bad.append(f"{name} {text!r} is not an ISO 8601 date or timestamp "
                   "(e.g. 2026-07-01 or 2026-07-01T09:30:00+02:00)")
        return None


# -- the import -------------------------------------------------------------------------------

def import_files(
    engine: Engine,
    org_name: str | None,
    credentials_path: Path,
    events_path: Path | None = None,
    *,
    now: datetime,
    progress: bool = False,
) -> ImportSummary:
    """Validate and import the files into organization `org_name` (created if new)."""
    # rowcounts of INSERT ... SELECT are only kept when asked for
    with engine.connect().execution_options(preserve_rowcount=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            # the merge sorts and hashes whole files: keep that in memory, for this import only
            conn.execute(text("SET LOCAL work_mem = '128MB'"))
        org, created = _organization(conn, org_name, now)
        rollups.lock(conn, org.id)
        summary = ImportSummary(org.name, organization_created=created)
        problems = _Problems()
        staging.create(conn)
        rejected: set[str] = set()  # ids of bad credential rows: their events are not "unknown"
        with staging.sink(conn, staging.stage_credentials) as sink:
            present = _stream_credentials(credentials_path, sink, summary, problems, progress,
                                          rejected)
        if events_path is not None:
            with staging.sink(conn, staging.stage_events) as sink:
                _stream_events(events_path, sink, summary, problems, progress)
        staging.analyze(conn)
        _cross_row_checks(conn, org, credentials_path, events_path, problems, rejected)
        if problems:
            raise ImportFailed(problems.items, problems.more)
        _merge(conn, org, present, summary)
        staging.drop(conn)
    return summary


def _organization(conn: Connection, name: str | None, now: datetime) -> tuple[Organization, bool]:
    from metrics.catalog import list_organizations, resolve_organization

    if name is None:
        if list_organizations(conn):
            return resolve_organization(conn, None), False
        name = "default"
    existing = {o.name.lower(): o for o in list_organizations(conn)}
    if name.strip().lower() in existing:
        return existing[name.strip().lower()], False
    if not name.strip():
        raise UserError("An organization needs a name.", ["--org 'Acme Academy'"])
    org_id = conn.execute(
        insert(organizations)
        .values(name=name.strip(), created_at=now)
        .returning(organizations.c.id)
    ).scalar_one()
    return Organization(org_id, name.strip()), True


def _cross_row_checks(
    conn: Connection, org: Organization, cred_path: Path, events_path: Path | None,
    problems: _Problems, rejected: set[str],
) -> None:
    cred_repeats = staging.has_repeats(conn, staging.stage_credentials, "external_id")
    for line, ext, first in conn.execute(staging.conflicting_credentials()) if cred_repeats \
            else ():
        problems.add(cred_path, line,
                     f"credential_id {ext!r} repeated with different data (first at line {first})")
    for line, name, reason in staging.conflicting_group_codes(conn, org.id):
        problems.add(cred_path, line, f"group {name!r}: {reason}")
    if events_path is None:
        return
    for line, ext in conn.execute(staging.unknown_event_credentials(org.id)):
        if ext in rejected:
            problems.add(events_path, line, f"event for credential_id {ext!r}, whose "
                         "row in the credentials file is refused above")
            continue
        problems.add(events_path, line, f"event for unknown credential_id {ext!r}")
    event_repeats = staging.has_repeats(conn, staging.stage_events, "external_id")
    for line, ext, first in conn.execute(staging.conflicting_events()) if event_repeats else ():
        problems.add(events_path, line,
                     f"event_id {ext!r} repeated with different data (first at line {first})")


def _first_load(conn: Connection, table: Table, org_id: int, rows: int) -> bool:
    """Whether the import writes `rows` (BULK_MIN or more) into `table` as its first rows, on
    PostgreSQL, with no other organization's credentials stored (nobody else's question reads
    the table): its rows are then loaded before its keys and indexes are built (5,000,000
    events: 99 s into the indexed table; 16 s, and 15 s to build them after). The table is
    locked first, without waiting: while another transaction uses it (another import), the
    rows go in the usual way, and two imports never wait for each other's locks."""
    if conn.dialect.name != "postgresql" or rows < BULK_MIN:
        return False

    def empty() -> bool:
        return conn.execute(select(literal(1)).select_from(table).limit(1)).first() is None

    others = select(literal(1)).where(credentials.c.organization_id != org_id).limit(1)
    if conn.execute(others).first() is not None or not empty():
        return False
    try:
        with conn.begin_nested():  # (a lock taken in a savepoint stays with the transaction)
            conn.execute(text(f"LOCK TABLE {table.name} IN ACCESS EXCLUSIVE MODE NOWAIT"))
    except OperationalError:  # in use
        return False
    return empty()  # (under the lock: no other import's rows since)


def _merge(conn: Connection, org: Organization, present: set[str], summary: ImportSummary) -> None:
    sc = staging.stage_credentials.c
    g, r, cr, ev = groups.c, recipients.c, credentials.c, engagement_events.c

    # groups: new names, then codes that changed
    new_groups = select(literal(org.id), sc.group_name, func.max(sc.group_code)).where(
        ~select(g.id).where(g.organization_id == org.id, g.name == sc.group_name).exists()
    ).group_by(sc.group_name)
    summary.groups_new = conn.execute(
        insert(groups).from_select(["organization_id", "name", "code"], new_groups)
    ).rowcount
    if "group_code" in present:
        codes = select(sc.group_name, func.max(sc.group_code).label("code")).where(
            sc.group_code.is_not(None)).group_by(sc.group_name).subquery()
        conn.execute(
            update(groups).where(g.organization_id == org.id, g.name == codes.c.group_name,
                                 g.code.is_distinct_from(codes.c.code)).values(code=codes.c.code)
        )

    # recipients: one per normalized e-mail; the name from the last row that gives one
    staging.resolve_recipients(conn, org.id)
    rr = staging.resolved_recipients.c
    summary.recipients_new = conn.execute(
        insert(recipients).from_select(
            ["organization_id", "email", "name"],
            select(literal(org.id), rr.email, rr.name).where(rr.existing_id.is_(None)),
        )
    ).rowcount
    conn.execute(
        update(recipients)
        .where(r.id == rr.existing_id, rr.name.is_not(None), r.name.is_distinct_from(rr.name))
        .values(name=rr.name)
    )

    # credentials: resolved to ids and matched with what is stored, then updated or inserted;
    # fresh statistics first, or the planner takes the just-filled tables for empty ones
    staging.analyze(conn, groups, recipients)
    total = staging.resolve_credentials(conn, org.id)
    rc = staging.resolved_credentials.c
    keep_expiry, keep_kind = "expires_at" not in present, "kind" not in present
    changed = {"group_id": rc.group_id, "recipient_id": rc.recipient_id,
               "issued_at": rc.issued_at}
    if not keep_expiry:
        changed["expires_at"] = rc.expires_at
    if not keep_kind:
        changed["kind"] = rc.kind
    differs = or_(*(cr[name].is_distinct_from(value) for name, value in changed.items()))
    # the rollups: where changed credentials counted, and where they (and new ones) will count
    stored_differs = and_(cr.id == rc.existing_id, differs)
    rollups.mark_credentials(conn, stored_differs)
    for where in (rc.existing_id.is_(None), stored_differs):
        rollups.mark(conn, days=select(literal(org.id), rc.issued_at).where(where),
                     recipients=select(rc.recipient_id).where(where))
    summary.credentials_updated = conn.execute(
        update(credentials).where(cr.id == rc.existing_id, differs).values(**changed)
    ).rowcount
    # new credentials are written with their facts, from their recipients' stored credentials
    # (as just updated) and the new ones: writing them and then their facts rewrote every new
    # row (200,000 rows: 2.9 s of the import's 9.9). Steps: none, as no stored event can be a
    # new credential's (the stored credentials give only their issue times).
    new = rc.existing_id.is_(None)
    target = union_all(
        select(cr.id, cr.recipient_id, cr.group_id, cr.issued_at, literal(0).label("steps"))
        .where(cr.recipient_id.in_(select(rc.recipient_id).where(new))),
        select(rc.new_id, rc.recipient_id, rc.group_id, rc.issued_at, literal(0)).where(new),
    ).subquery("target")
    computed = rollups.facts_select(target).subquery("computed")
    columns = ["external_id", "group_id", "recipient_id", "issued_at", "expires_at", "kind"]
    facts = ["steps", "org_prev_at", "group_prev_at"]
    with indexes_after(conn, (credentials,), bulk=_first_load(conn, credentials, org.id, total)):
        summary.credentials_new = conn.execute(
            insert(credentials).from_select(
                ["id", "organization_id", *columns, *facts],
                select(rc.new_id, literal(org.id), *(rc[n] for n in columns),
                       *(computed.c[n] for n in facts))
                .select_from(staging.resolved_credentials.join(
                    computed, computed.c.id == rc.new_id))
                .order_by(rc.issued_at),  # the time-keyed indexes then grow at their right edge
            )
        ).rowcount
    summary.credentials_unchanged = total - summary.credentials_new - summary.credentials_updated

    # events: matched by event_id, else by (credential, type, time, actor)
    staging.analyze(conn, credentials)
    total_events = staging.resolve_events(conn, org.id)
    re_ = staging.resolved_events.c
    fields = ["credential_id", "event_type", "occurred_at", "actor"]
    event_differs = and_(ev.id == re_.existing_id, or_(*(ev[n] != re_[n] for n in fields)))
    rollups.mark_events(conn, event_differs)
    for where in (re_.existing_id.is_(None), event_differs):
        rollups.mark(conn, days=select(literal(org.id), re_.occurred_at).where(where),
                     recipients=select(cr.recipient_id).where(cr.id == re_.credential_id, where),
                     events_only=True)
    summary.events_updated = conn.execute(
        update(engagement_events)
        .where(ev.id == re_.existing_id, or_(*(ev[n] != re_[n] for n in fields)))
        .values({n: re_[n] for n in fields})
    ).rowcount
    # new events are written with their facts too: the previous event of their credential,
    # from its stored events and the new ones, and the credential's group
    new_event = re_.existing_id.is_(None)
    target = union_all(
        select(ev.id, ev.credential_id, ev.occurred_at).where(
            ev.credential_id.in_(select(re_.credential_id).where(new_event))),
        select(re_.new_id, re_.credential_id, re_.occurred_at).where(new_event),
    ).subquery("target")
    computed = rollups.event_facts_select(target).subquery("computed")
    first_load = _first_load(conn, engagement_events, org.id, total_events)
    with indexes_after(conn, (engagement_events,), bulk=first_load):
        summary.events_new = conn.execute(
            insert(engagement_events).from_select(
                ["id", "organization_id", *fields, "external_id", "prev_at", "group_id"],
                select(re_.new_id, literal(org.id), *(re_[n] for n in fields), re_.external_id,
                       computed.c.prev_at, computed.c.group_id)
                .select_from(staging.resolved_events.join(computed, computed.c.id == re_.new_id))
                .order_by(re_.occurred_at),
            )
        ).rowcount
    summary.events_unchanged = total_events - summary.events_new - summary.events_updated
    rollups.apply(conn)
