"""Every process opens its database one way (``payreq.db.from_settings``), so that the
pool size, time-out and SQLite durability an operator sets apply to all of them: the
server, the worker and every CLI command (``payreq admin ...`` used to open a pool of
the default ten connections whatever ``PAYREQ_DATABASE_POOL_SIZE`` said)."""

from __future__ import annotations

import ast
from pathlib import Path

from payreq.config import Settings
from payreq.db import from_settings
from payreq.db.postgres import PostgresDatabase
from payreq.db.sqlite import SQLiteDatabase

SOURCE = Path(__file__).parents[2] / "src" / "payreq"


def test_the_settings_pool_size_and_timeout_reach_the_postgres_pool() -> None:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/payreq", database_pool_size=3, database_timeout=2.5
    )
    db = from_settings(settings)
    assert isinstance(db, PostgresDatabase)
    assert (db.pool_size, db.timeout) == (3, 2.5)


def test_the_settings_timeout_and_synchronous_reach_sqlite(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}", database_timeout=2.5, sqlite_synchronous="NORMAL"
    )
    db = from_settings(settings)
    assert isinstance(db, SQLiteDatabase)
    assert (db.timeout, db.synchronous) == (2.5, "NORMAL")


def test_no_process_outside_payreq_db_opens_a_database_by_hand() -> None:
    """``connect(...)`` with settings picked one by one forgot the pool size in every
    command but ``serve``; only ``payreq.db`` itself may call it."""
    offenders = []
    for path in SOURCE.rglob("*.py"):
        if path.is_relative_to(SOURCE / "db"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "connect" and not isinstance(node.func, ast.Attribute):
                    offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert offenders == []
