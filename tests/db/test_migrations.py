"""Alembic migrations: a fresh database reaches head, goes back to base and up again,
the migrated schema is the one ``payreq.db.tables`` describes (CHECK constraints:
test_check_constraints.py), and a database holding rows from every revision keeps
them through every upgrade and downgrade (seeds: migration_seeds.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import create_async_engine

from payreq.account.repository import insert_account
from payreq.db import Database, connect
from payreq.db.base import sqlalchemy_url, sqlite_path
from payreq.db.migrate import current_revision, downgrade, head_revision, upgrade
from payreq.db.tables import metadata
from tests.db.migration_seeds import SEEDS, insert, missing_or_changed
from tests.fixtures.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
    require_postgres,
)

APP_TABLES = set(metadata.tables)


@pytest.fixture
async def fresh_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the backend under test, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    await require_postgres()
    name = await create_postgres_database()
    try:
        yield postgres_url(name)
    finally:
        await drop_postgres_database(name)


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    """The database at ``url``, open for the block."""
    database = connect(url)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


async def _tables(url: str) -> set[str]:
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        finally:
            conn.close()
        return {row[0] for row in rows}
    pg = await asyncpg.connect(url)
    try:
        rows = await pg.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await pg.close()
    return {row["table_name"] for row in rows}


async def _revision(url: str) -> str | None:
    database = connect(url)
    await database.open()
    try:
        async with database.read() as conn:
            return await current_revision(conn)
    finally:
        await database.close()


async def _can_store_an_account(url: str) -> bool:
    database = connect(url)
    await database.open()
    account_id = uuid.uuid4()
    try:
        async with database.transaction() as conn:
            await insert_account(conn, id=account_id, name="migrated", created_at=datetime.now(UTC))
        async with database.read() as conn:
            row = await conn.fetch_one("SELECT id FROM accounts WHERE id = :id", {"id": account_id})
    finally:
        await database.close()
    return row is not None and row["id"] == account_id


def test_migrations_form_one_line_with_one_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from payreq.db.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [head_revision()]
    chain = [rev.revision for rev in script.walk_revisions()]  # newest first
    assert chain[-1] == "0001"
    assert all(
        script.get_revision(r).down_revision == (chain[i + 1] if i + 1 < len(chain) else None)
        for i, r in enumerate(chain)
    )


async def test_upgrade_to_head_on_a_fresh_database(fresh_url: str) -> None:
    assert await _revision(fresh_url) is None
    await asyncio.to_thread(upgrade, fresh_url)
    assert await _tables(fresh_url) == APP_TABLES | {"alembic_version"}
    assert await _revision(fresh_url) == head_revision()
    assert await _can_store_an_account(fresh_url)


async def test_upgrade_twice_is_a_no_op(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url)
    await asyncio.to_thread(upgrade, fresh_url)
    assert await _tables(fresh_url) == APP_TABLES | {"alembic_version"}
    assert await _revision(fresh_url) == head_revision()


async def test_downgrade_to_base_and_upgrade_again(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url)
    assert await _can_store_an_account(fresh_url)

    await asyncio.to_thread(downgrade, fresh_url, "base")
    assert await _tables(fresh_url) == {"alembic_version"}
    assert await _revision(fresh_url) is None

    await asyncio.to_thread(upgrade, fresh_url)
    assert await _tables(fresh_url) == APP_TABLES | {"alembic_version"}
    assert await _revision(fresh_url) == head_revision()
    assert await _can_store_an_account(fresh_url)


def _differences(connection: sa.Connection, **opts: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, metadata))


async def test_schema_matches_table_metadata(backend: str, fresh_url: str) -> None:
    """Tables, columns, nullability, indexes and constraints match the metadata. On
    PostgreSQL types are compared too; on SQLite they reflect as TEXT, so their declared
    names (which drive the UUID/timestamp converters) are compared instead."""
    await asyncio.to_thread(upgrade, fresh_url)
    if backend == "postgres":
        engine = create_async_engine(sqlalchemy_url(fresh_url), poolclass=sa.pool.NullPool)
        try:
            async with engine.connect() as connection:
                found = await connection.run_sync(
                    _differences, compare_type=True, compare_server_default=True
                )
        finally:
            await engine.dispose()
        assert found == []
        return
    sync_engine = sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)
    try:
        with sync_engine.connect() as connection:
            found = _differences(connection, compare_type=False, compare_server_default=True)
    finally:
        sync_engine.dispose()
    assert found == []

    dialect = sqlite_dialect.dialect()
    conn = sqlite3.connect(sqlite_path(fresh_url))
    try:
        for table in metadata.sorted_tables:
            declared = {row[1]: row[2] for row in conn.execute(f'PRAGMA table_info("{table.name}")')}
            expected = {column.name: column.type.compile(dialect=dialect) for column in table.columns}
            assert declared == expected, table.name
    finally:
        conn.close()


# -- a database holding data from every revision ---------------------------------------


def revision_chain() -> list[tuple[str, str | None]]:
    """(revision, down_revision), oldest first."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from payreq.db.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    chain = [(rev.revision, rev.down_revision) for rev in script.walk_revisions()]
    return [(r, d if isinstance(d, str) or d is None else d[0]) for r, d in reversed(chain)]


def test_every_revision_has_a_seed() -> None:
    missing = [revision for revision, _ in revision_chain() if revision not in SEEDS]
    assert not missing, (
        f"revision(s) {', '.join(missing)} have no seed: add SEEDS[{missing[0]!r}] = Seed({{table: [row, ...]}}) "
        "in tests/db/migration_seeds.py with rows valid at that revision"
    )
    assert set(SEEDS) <= {revision for revision, _ in revision_chain()}, "a seed names no revision"


async def _check_seeds(url: str, revisions: list[str]) -> list[str]:
    database = connect(url)
    await database.open()
    try:
        async with database.read() as conn:
            problems: list[str] = []
            for revision in revisions:
                problems += await missing_or_changed(conn, revision, SEEDS[revision])
            return problems
    finally:
        await database.close()


async def test_upgrade_and_downgrade_keep_the_rows_of_every_earlier_revision(fresh_url: str) -> None:
    chain = revision_chain()
    unseeded = [revision for revision, _ in chain if revision not in SEEDS]
    if unseeded:
        pytest.fail(f"revision(s) {', '.join(unseeded)} have no seed in tests/db/migration_seeds.py SEEDS")
    seeded: list[str] = []
    for revision, _ in chain:
        await asyncio.to_thread(upgrade, fresh_url, revision)
        database = connect(fresh_url)
        await database.open()
        try:
            async with database.transaction() as conn:
                await insert(conn, SEEDS[revision])
        finally:
            await database.close()
        seeded.append(revision)
        # each step up keeps every earlier revision's rows as they were
        assert await _check_seeds(fresh_url, seeded) == [], revision
    await asyncio.to_thread(upgrade, fresh_url)
    assert await _revision(fresh_url) == head_revision()
    database = connect(fresh_url)
    await database.open()
    try:
        async with database.read() as conn:
            for revision in seeded:
                check = SEEDS[revision].at_head
                if check is not None:
                    await check(conn)
    finally:
        await database.close()

    # down again, one revision at a time: what is below keeps its rows
    for revision, down in reversed(chain):
        await asyncio.to_thread(downgrade, fresh_url, down or "base")
        seeded.remove(revision)
        assert await _revision(fresh_url) == down
        if down is not None:
            assert await _check_seeds(fresh_url, seeded) == [], f"downgrade of {revision}"
    assert await _tables(fresh_url) == {"alembic_version"}


async def test_0006_moves_earlier_statement_reports_into_rows_and_back(fresh_url: str) -> None:
    """Imports made before revision 0006 kept their report as one JSON text; the
    upgrade turns it into report rows (read back paged), the downgrade into text again."""
    import json

    await asyncio.to_thread(upgrade, fresh_url, "0005")
    account_id, import_id, payment = uuid.uuid4(), uuid.uuid4(), str(uuid.uuid4())
    lines = [
        {
            "line": 2,
            "outcome": "unmatched",
            "message": "No transfer reference found in the line.",
            "amount": 100,
        },
        {"line": 3, "outcome": "late", "message": "The payment is already paid.", "paymentId": payment},
    ]
    database = connect(fresh_url)
    await database.open()
    try:
        async with database.transaction() as conn:
            await insert_account(conn, id=account_id, name="before", created_at=datetime.now(UTC))
            await conn.execute(
                """INSERT INTO statement_imports (id, account_id, environment, format, source, filename,
                   line_count, summary, report, created_at, finished_at)
                   VALUES (:id, :account, 'sandbox', 'csv', 'api', NULL, 2, '{}', :report, :at, :at)""",
                {
                    "id": import_id,
                    "account": account_id,
                    "report": json.dumps(lines),
                    "at": datetime.now(UTC),
                },
            )
    finally:
        await database.close()
    await asyncio.to_thread(upgrade, fresh_url)
    database = connect(fresh_url)
    await database.open()
    try:
        async with database.read() as conn:
            rows = await conn.fetch_all(
                "SELECT line, outcome, amount, payment_id FROM statement_report_lines WHERE import_id = :id "
                "ORDER BY line",
                {"id": import_id},
            )
            record = await conn.fetch_one(
                "SELECT status, lines_done FROM statement_imports WHERE id = :id", {"id": import_id}
            )
            zone = await conn.fetch_one("SELECT timezone FROM accounts WHERE id = :id", {"id": account_id})
    finally:
        await database.close()
    assert [(r["line"], r["outcome"], r["amount"], r["payment_id"]) for r in rows] == [
        (2, "unmatched", 100, None),
        (3, "late", None, uuid.UUID(payment)),
    ]
    assert (record["status"], record["lines_done"]) == ("finished", 2)  # type: ignore[index]
    assert zone is not None and zone["timezone"] == "UTC"

    await asyncio.to_thread(downgrade, fresh_url, "0005")
    database = connect(fresh_url)
    await database.open()
    try:
        async with database.read() as conn:
            back = await conn.fetch_one(
                "SELECT report FROM statement_imports WHERE id = :id", {"id": import_id}
            )
    finally:
        await database.close()
    assert back is not None and json.loads(back["report"]) == lines


async def test_0015_marks_the_accounts_their_owners_closed_from_the_audit_log(fresh_url: str) -> None:
    """Before 0015 a closed account and a disabled one differed only in their audit
    log: the upgrade marks closed those whose last ``account.closed`` no
    ``account.enabled`` followed (an enable used to reopen one)."""
    await asyncio.to_thread(upgrade, fresh_url, "0014")
    at = datetime.now(UTC)
    history = {
        "closed": ["account.closed"],
        "disabled": ["account.disabled"],
        "reopened, then disabled": ["account.closed", "account.enabled", "account.disabled"],
        "closed again": ["account.closed", "account.enabled", "account.closed"],
        "open": [],
    }
    ids = {name: uuid.uuid4() for name in history}
    async with opened(fresh_url) as database, database.transaction() as conn:
        for name, actions in history.items():
            await insert_account(conn, id=ids[name], name=name, created_at=at)
            if actions:
                await conn.execute(
                    "UPDATE accounts SET disabled_at = :at WHERE id = :id", {"at": at, "id": ids[name]}
                )
            for seq, action in enumerate(actions, start=1):
                await conn.execute(
                    """INSERT INTO audit_entries (id, account_id, seq, at, actor_kind, action, target_type,
                       changes, prev_hash, hash)
                       VALUES (:id, :account, :seq, :at, 'user', :action, 'account', '{}', '', '')""",
                    {"id": uuid.uuid4(), "account": ids[name], "seq": seq, "at": at, "action": action},
                )
    await asyncio.to_thread(upgrade, fresh_url)
    async with opened(fresh_url) as database, database.read() as conn:
        closed = {
            name: (await conn.fetch_one("SELECT closed_at FROM accounts WHERE id = :id", {"id": ids[name]}))
            for name in history
        }
    assert {name: row is not None and row["closed_at"] is not None for name, row in closed.items()} == {
        "closed": True,
        "disabled": False,
        "reopened, then disabled": False,
        "closed again": True,
        "open": False,
    }
