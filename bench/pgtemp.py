"""A temporary PostgreSQL database for one bench run: created on the server of
``PAYREQ_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
the maintenance database of a local server), dropped at the end, even on an error."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg

ADMIN_URL = os.environ.get("PAYREQ_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create(prefix: str = "payreq_bench") -> str:
    """A new empty database; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def drop(url: str) -> None:
    """Drop the database of ``url`` (one made by ``create``), ending its sessions."""
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def database(prefix: str = "payreq_bench") -> AsyncIterator[str]:
    url = await create(prefix)
    try:
        yield url
    finally:
        await drop(url)


@contextlib.contextmanager
def database_sync(prefix: str = "payreq_bench") -> Iterator[str]:
    """``database`` for code without an event loop of its own (bench/run.py)."""
    url = asyncio.run(create(prefix))
    try:
        yield url
    finally:
        asyncio.run(drop(url))


def unreachable() -> str | None:
    """Why the PostgreSQL server does not answer, or None if it does."""

    async def ping() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=3)
        await conn.close()

    try:
        asyncio.run(ping())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
