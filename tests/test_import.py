"""CSV import on both backends: validation, all-or-nothing, idempotence and updates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from metrics.importer import ImportFailed, import_files
from metrics.schema import credentials, engagement_events, groups, organizations, recipients
from tests import seed_example
from tests.conftest import Database

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
CRED_HEADER = (
    "credential_id,group,recipient_email,issued_at,recipient_name,group_code,expires_at,kind"
)


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (organizations, groups, recipients, credentials, engagement_events)}


def test_reimport_changes_nothing(db: Database, tmp_path: Path) -> None:
    creds, events = seed_example.write_files(tmp_path)
    first = import_files(db.engine, "Seed Org", creds, events, now=NOW)
    assert (first.credentials_new, first.events_new, first.groups_new) == (92, 81, 2)
    assert first.recipients_new == 90
    before = counts(db)
    again = import_files(db.engine, "Seed Org", creds, events, now=NOW)
    assert (again.credentials_new, again.credentials_updated, again.credentials_unchanged) == (
        0, 0, 92)
    assert (again.events_new, again.events_updated, again.events_unchanged) == (0, 0, 81)
    assert counts(db) == before


def test_changed_fields_update_the_credential(db: Database, tmp_path: Path) -> None:
    first = write(tmp_path / "a.csv", CRED_HEADER,
                  "X1,Grp,a@example.com,2026-01-05,Ann Smiht,G1,2027-01-05,certificate",
                  "X2,Grp,b@example.com,2026-01-06,Bo,G1,,badge")
    import_files(db.engine, "Org", first, now=NOW)
    second = write(tmp_path / "b.csv", CRED_HEADER,
                   "X1,Grp,a@example.com,2026-01-05,Ann Smith,G1,2028-01-05,certificate",
                   "X2,Grp,b@example.com,2026-01-06,Bo,G1,,badge",
                   "X3,Grp,c@example.com,2026-01-07,Cy,G1,,badge")
    summary = import_files(db.engine, "Org", second, now=NOW)
    assert (summary.credentials_new, summary.credentials_updated,
            summary.credentials_unchanged) == (1, 1, 1)
    with db.engine.connect() as conn:
        expires = conn.execute(select(credentials.c.expires_at)
                               .where(credentials.c.external_id == "X1")).scalar_one()
        name = conn.execute(select(recipients.c.name)
                            .where(recipients.c.email == "a@example.com")).scalar_one()
    assert expires == datetime(2028, 1, 5, tzinfo=UTC)
    assert name == "Ann Smith"


def test_emails_differing_in_case_are_one_recipient(db: Database, tmp_path: Path) -> None:
    f = write(tmp_path / "c.csv", "credential_id,group,recipient_email,issued_at",
              "A,G, Ann@Example.com ,2026-01-01", "B,G,ann@example.COM,2026-01-02")
    summary = import_files(db.engine, "Org", f, now=NOW)
    assert summary.recipients_new == 1
    with db.engine.connect() as conn:
        assert conn.execute(select(recipients.c.email)).scalars().all() == ["ann@example.com"]


def test_timestamps_without_offset_are_utc(db: Database, tmp_path: Path) -> None:
    f = write(tmp_path / "t.csv", "credential_id,group,recipient_email,issued_at",
              "A,G,a@x.org,2026-03-01", "B,G,b@x.org,2026-03-01T23:30:00",
              "C,G,c@x.org,2026-03-01T23:30:00-05:00")
    import_files(db.engine, "Org", f, now=NOW)
    with db.engine.connect() as conn:
        got = dict(conn.execute(select(credentials.c.external_id, credentials.c.issued_at)).all())
    assert got == {"A": datetime(2026, 3, 1, tzinfo=UTC),
                   "B": datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
                   "C": datetime(2026, 3, 2, 4, 30, tzinfo=UTC)}


def test_every_bad_row_is_reported_and_nothing_is_written(db: Database, tmp_path: Path) -> None:
    good = write(tmp_path / "good.csv", "credential_id,group,recipient_email,issued_at",
                 "OLD,G,o@x.org,2026-01-01")
    import_files(db.engine, "Org", good, now=NOW)
    before = counts(db)
    creds = write(
        tmp_path / "creds.csv",
        "credential_id,group,recipient_email,issued_at,kind",
        "K1,G,k1@x.org,2026-02-01,certificate",          # line 2: fine
        ",G,k2@x.org,2026-02-01,",                       # 3: missing credential_id
        "K3,G,k3@x.org,yesterday,",                      # 4: bad timestamp
        "K4,G,not-an-email,2026-02-01,",                 # 5: bad e-mail
        "K5,G,k5@x.org,2026-02-30,",                     # 6: impossible date
        "K6,G,k6@x.org,2026-02-01,poster",               # 7: unknown kind
        "K1,H,k1@x.org,2026-02-01,certificate",          # 8: K1 again, other group
        "K1,G,k1@x.org,2026-02-01,certificate",          # 9: exact repeat: fine
    )
    events = write(
        tmp_path / "events.csv",
        "credential_id,event,occurred_at,actor,event_id",
        "K1,view,2026-02-02,,",                          # 2: fine
        "K1,teleport,2026-02-02,,",                      # 3: unknown event type
        "NOPE,view,2026-02-02,,",                        # 4: unknown credential
        "K1,view,2026-02-02,robot,",                     # 5: unknown actor
        "K1,view,,,",                                    # 6: missing occurred_at
        "OLD,view,2026-02-03,,E1",                       # 7: a stored credential: fine
        "K1,view,2026-02-04,,E1",                        # 8: E1 again, other data
        "K3,view,2026-02-04,,",                          # 9: credential refused above
    )
    with pytest.raises(ImportFailed) as info:
        import_files(db.engine, "Org", creds, events, now=NOW)
    problems = info.value.problems
    lines = [p.split(": ")[0] for p in problems]
    assert lines == [f"{creds}:{n}" for n in (3, 4, 5, 6, 7, 8)] + [
        f"{events}:{n}" for n in (3, 4, 5, 6, 8, 9)]
    text = "\n".join(problems)
    for reason in ("missing credential_id", "'yesterday' is not an ISO 8601",
                   "'not-an-email' is not an e-mail", "'2026-02-30' is not an ISO 8601",
                   "unknown kind 'poster'", "'K1' repeated with different data (first at line 2)",
                   "unknown event type 'teleport'", "unknown credential_id 'NOPE'",
                   "unknown actor 'robot'", "missing occurred_at",
                   "event_id 'E1' repeated with different data (first at line 7)",
                   "'K3', whose row in the credentials file is refused"):
        assert reason in text
    assert counts(db) == before  # nothing written, not even the new organization's groups
    with pytest.raises(ImportFailed):
        import_files(db.engine, "Another Org", creds, events, now=NOW)
    assert counts(db) == before  # ... nor a new organization


def test_missing_columns_and_empty_file(db: Database, tmp_path: Path) -> None:
    f = write(tmp_path / "h.csv", "id,group,email")
    with pytest.raises(ImportFailed) as info:
        import_files(db.engine, "Org", f, now=NOW)
    assert info.value.problems == [
        f"{f}:1: missing column(s) credential_id, recipient_email, issued_at; the header must "
        "name credential_id, group, recipient_email, issued_at"]
    empty = write(tmp_path / "e.csv", "")
    with pytest.raises(ImportFailed, match="1 problem"):
        import_files(db.engine, "Org", empty, now=NOW)


def test_group_codes_that_conflict(db: Database, tmp_path: Path) -> None:
    f = write(tmp_path / "g.csv", "credential_id,group,recipient_email,issued_at,group_code",
              "A,Alpha,a@x.org,2026-01-01,AL", "B,Alpha,b@x.org,2026-01-01,AP",
              "C,Beta,c@x.org,2026-01-01,BE", "D,Gamma,d@x.org,2026-01-01,BE")
    with pytest.raises(ImportFailed) as info:
        import_files(db.engine, "Org", f, now=NOW)
    assert [p.split(": ", 1)[0] for p in info.value.problems] == [
        f"{f}:2", f"{f}:3", f"{f}:4", f"{f}:5"]
    assert "given several codes (AL, AP)" in info.value.problems[0]
    assert "code 'BE' is also given to Gamma" in info.value.problems[2]


def test_bom_and_extra_columns(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeffcredential_id,group,recipient_email,issued_at,notes\n"
                  "A,G,a@x.org,2026-01-01,hello\n".encode())
    summary = import_files(db.engine, "Org", f, now=NOW)
    assert summary.credentials_new == 1
    assert summary.ignored_columns == ["bom.csv:notes"]


def _rewritten(db: Database, statement: str, write: Callable[[], object]) -> list[int]:
    """The row counts of the statements starting with `statement` that `write` runs."""
    counts: list[int] = []

    def count(conn: object, cursor: object, text: str, *_: object) -> None:
        if text.startswith(statement):
            counts.append(cursor.rowcount)  # type: ignore[attr-defined]

    event.listen(db.engine, "after_cursor_execute", count)
    try:
        write()
    finally:
        event.remove(db.engine, "after_cursor_execute", count)
    return counts


def test_new_credentials_are_written_with_their_facts(db: Database, tmp_path: Path) -> None:
    """New credentials are inserted with their recipients' previous credentials already known
    (from the stored ones and the new ones), so the facts' recompute rewrites none of them;
    only stored credentials that a new, earlier one precedes change."""
    first = write(tmp_path / "c1.csv", "credential_id,group,recipient_email,issued_at",
                  "A1,CPA,a@x.example,2026-03-01T10:00:00Z",
                  "A2,CFA,a@x.example,2026-05-01T10:00:00Z")
    import_files(db.engine, "Acme", first, now=NOW)
    rows = ["credential_id,group,recipient_email,issued_at"]
    rows += [f"N{i},{('CPA', 'CFA')[i % 2]},{'ab'[i % 2]}@x.example,2026-0{1 + i % 9}-0{1 + i % 9}"
             f"T{i % 24:02d}:00:00Z" for i in range(40)]  # before, between and after A1, A2
    updates = _rewritten(db, "UPDATE credentials SET steps", lambda: import_files(
        db.engine, "Acme", write(tmp_path / "c2.csv", *rows), now=NOW))
    assert updates == [2]  # A1 and A2: new credentials of a@ come before each of them
    with db.engine.connect() as conn:
        cr = credentials.c
        stored = {ext: (prev, group_prev) for ext, prev, group_prev in conn.execute(
            select(cr.external_id, cr.org_prev_at, cr.group_prev_at))}
    assert stored["N9"][0] is not None and stored["N0"] == (None, None)  # a's, b's first
    assert sum(prev is not None for prev, _ in stored.values()) == 40  # all but the 2 firsts


def test_new_events_are_written_with_their_facts(db: Database, tmp_path: Path) -> None:
    """Likewise for events: a new event is written with its credential's previous event and
    group; only a stored event that a new, earlier one precedes is rewritten."""
    creds = write(tmp_path / "c.csv", "credential_id,group,recipient_email,issued_at",
                  "A1,CPA,a@x.example,2026-03-01T10:00:00Z",
                  "A2,CFA,b@x.example,2026-03-02T10:00:00Z")
    header = "event_id,credential_id,event,occurred_at,actor"
    import_files(db.engine, "Acme", creds, write(tmp_path / "e1.csv", header,
                 "E1,A1,view,2026-06-01T00:00:00Z,owner"), now=NOW)
    rows = [header, "E2,A1,pdf_download,2026-05-01T00:00:00Z,owner"]  # before E1
    rows += [f"F{i},A{1 + i % 2},view,2026-07-{1 + i:02d}T00:00:00Z,guest" for i in range(20)]
    updates = _rewritten(db, "UPDATE engagement_events SET prev_at", lambda: import_files(
        db.engine, "Acme", creds, write(tmp_path / "e2.csv", *rows), now=NOW))
    assert updates == [1]  # E1, now after E2
    with db.engine.connect() as conn:
        ec, g = engagement_events.c, groups.c
        stored = {ext: (prev, group) for ext, prev, group in conn.execute(
            select(ec.external_id, ec.prev_at, g.name).join(groups, g.id == ec.group_id))}
    assert stored["E2"][0] is None and stored["E1"][0] is not None
    assert stored["F0"] == (stored["F0"][0], "CPA") and stored["F1"][1] == "CFA"
    assert sum(prev is None for prev, _ in stored.values()) == 2  # E2 and F1, the firsts


@pytest.fixture
def bulk_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(table, loaded before its indexes?) of each insert of an import, past a bulk threshold
    of 50 rows (the seed example's 92 credentials and 81 events)."""
    from metrics import importer

    loads: list[tuple[str, bool]] = []
    indexes_after = importer.indexes_after

    def spy(conn: object, tables: tuple[object, ...], *, bulk: bool = True) -> object:
        loads.append((tables[0].name, bulk))  # type: ignore[attr-defined]
        return indexes_after(conn, tables, bulk=bulk)  # type: ignore[arg-type]

    monkeypatch.setattr("metrics.importer.indexes_after", spy)
    monkeypatch.setattr("metrics.importer.BULK_MIN", 50)
    return loads


@pytest.mark.postgres
def test_a_first_large_load_builds_its_indexes_after_and_gives_the_same_data(
        pg_db: Database, tmp_path: Path, bulk_loads: list[tuple[str, bool]]) -> None:
    """Past the bulk threshold, an import into empty credentials and events tables loads them
    before their keys and indexes are built: every index and key is back, the figures are the
    hand-counted ones and the pre-aggregates equal a rebuild. Another organization's import
    keeps the indexes (the first one's answers read them)."""
    from tests.test_metrics import ask
    from tests.test_rollups import _rebuilt, _snapshot

    before = pg_db.indexes_and_keys()
    creds, events = seed_example.write_files(tmp_path)
    import_files(pg_db.engine, "Seed Org", creds, events, now=NOW)
    assert bulk_loads == [("credentials", True), ("engagement_events", True)]
    assert pg_db.indexes_and_keys() == before
    values = ask(pg_db, "engagement group:CPA last quarter").values
    assert (values["issued"], values["recipients"], values["opened"]) == (43, 41, 22)
    with pg_db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(pg_db)

    bulk_loads.clear()
    other = write(tmp_path / "other.csv", "credential_id,group,recipient_email,issued_at",
                  *(f"O{i},Nursing,n{i}@b.org,2026-08-{1 + i % 28:02d}" for i in range(60)))
    other_events = write(tmp_path / "other_events.csv", "credential_id,event,occurred_at",
                         *(f"O{i},view,2026-09-{1 + i % 28:02d}" for i in range(60)))
    import_files(pg_db.engine, "Other Org", other, other_events, now=NOW)
    assert bulk_loads == [("credentials", False), ("engagement_events", False)]
    with pg_db.engine.connect() as conn:
        assert _snapshot(conn) == _rebuilt(pg_db)


@pytest.mark.postgres
def test_a_first_load_does_not_wait_for_a_table_in_use(
        pg_db: Database, tmp_path: Path, bulk_loads: list[tuple[str, bool]]) -> None:
    """While another transaction uses the events table (here a reader; say, another import),
    a first load writes the events the usual way instead of waiting for it (two imports
    would each wait for the other's lock)."""
    from sqlalchemy import text

    @event.listens_for(pg_db.engine, "connect")
    def bounded(dbapi_conn: Any, _record: object) -> None:
        # a first load that waited for the reader would wait for ever (same thread): fail
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")

    pg_db.engine.dispose()  # (new connections, with the bound)
    creds, events = seed_example.write_files(tmp_path)
    with pg_db.engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM engagement_events"))  # holds its lock
        import_files(pg_db.engine, "Seed Org", creds, events, now=NOW)
        reader.rollback()
    assert bulk_loads == [("credentials", True), ("engagement_events", False)]
    assert counts(pg_db)["engagement_events"] == 81

    # the organization's own later import: the tables hold rows, their indexes stay
    bulk_loads.clear()
    more = write(tmp_path / "more.csv", "credential_id,event,occurred_at",
                 *(f"C{1 + i % 40:02d},view,2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
                   for i in range(60)))
    import_files(pg_db.engine, "Seed Org", creds, more, now=NOW)
    assert bulk_loads == [("credentials", False), ("engagement_events", False)]
    assert counts(pg_db)["engagement_events"] == 141
