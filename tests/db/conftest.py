"""Fixtures of the database tests."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from payreq.db.sqlite import SQLiteDatabase


@pytest.fixture
async def scratch(tmp_path: Path) -> AsyncIterator[tuple[SQLiteDatabase, str]]:
    """An open SQLiteDatabase on a fresh WAL file with two small tables (``parent``,
    ``item`` referencing it), and the file's path for other connections."""
    path = str(tmp_path / "scratch.db")
    setup = sqlite3.connect(path)
    setup.executescript(
        "PRAGMA journal_mode = WAL;"
        "CREATE TABLE parent (id TEXT PRIMARY KEY);"
        "CREATE TABLE item (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parent (id));"
    )
    setup.close()
    database = SQLiteDatabase(path)
    await database.open()
    yield database, path
    await database.close()
