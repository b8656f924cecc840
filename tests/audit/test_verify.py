"""``payreq admin verify-audit`` as a real subprocess: it passes on a real run, and it
names the first edited, deleted or reordered entry (exit 1) once the database was
tampered with, on both engines."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from payreq.app import create_app
from payreq.audit.chain import row_hash
from payreq.config import Settings
from payreq.db import Database, connect
from tests.application.conftest import new_application, new_token
from tests.fixtures.backends import migrated_database
from tests.fixtures.factories import Merchant, new_merchant

PAYREQ = str(Path(sys.executable).with_name("payreq"))


def verify(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYREQ_DATABASE_URL": url, "PAYREQ_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [PAYREQ, "admin", "verify-audit"], env=env, capture_output=True, text=True, timeout=120, check=False
    )


class Run:
    def __init__(self, url: str, db: Database, merchant: Merchant) -> None:
        self.url, self.db, self.merchant = url, db, merchant
        self.account = uuid.UUID(merchant.credentials.account_id)

    async def entries(self) -> list[Any]:
        async with self.db.read() as conn:
            return list(
                await conn.fetch_all(
                    "SELECT * FROM audit_entries WHERE account_id = :a ORDER BY seq", {"a": self.account}
                )
            )

    async def tamper(self, statement: str, params: dict[str, Any]) -> None:
        """What someone with write access to the database could do: lift the trigger."""
        async with self.db.transaction() as conn:
            if conn.dialect == "postgresql":
                await conn.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
            else:
                await conn.execute("DROP TRIGGER IF EXISTS audit_entries_no_update")
                await conn.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete")
            await conn.execute(statement, params)


@pytest.fixture
async def run(backend: str, tmp_path: Path) -> AsyncIterator[Run]:
    """A fresh database with a real run on it: a merchant who made a few changes."""
    async for url in migrated_database(backend, tmp_path):
        settings = Settings(
            database_url=url,
            base_url="http://testserver",
            embedded_worker=False,
            log_level="WARNING",
            default_rate_limit=1_000_000,
        )
        db = connect(url)
        await db.open()
        try:
            app = create_app(settings, db=db, run_worker=False)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as http:
                merchant = await new_merchant(app.state.services, http)
                created = await new_application(merchant)
                for _ in range(3):
                    await new_token(merchant, ["payments.get"], created["clientId"])
                payment = await merchant.create_payment()
                cancel = await http.post(
                    f"/payment/request/{payment['id']}/cancel", headers=await merchant.headers()
                )
                assert cancel.status_code == 200
                yield Run(url, db, merchant)
        finally:
            await db.close()


async def test_a_real_run_verifies(run: Run) -> None:
    done = verify(run.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "audit log intact: 1 chains, 8 entries"


async def test_an_edited_entry_is_named(run: Run) -> None:
    fourth = (await run.entries())[3]
    await run.tamper(
        "UPDATE audit_entries SET changes = :c WHERE id = :id",
        {"c": '{"label":"innocent"}', "id": fourth["id"]},
    )
    done = verify(run.url)
    assert done.returncode == 1
    assert f"edited: entry #4 ({fourth['id']}) was edited" in done.stderr


async def test_a_deleted_entry_is_named(run: Run) -> None:
    fifth = (await run.entries())[4]
    await run.tamper("DELETE FROM audit_entries WHERE id = :id", {"id": fifth["id"]})
    done = verify(run.url)
    assert done.returncode == 1
    assert "deleted: entry #5 was deleted: the chain jumps to #6" in done.stderr


async def test_entries_cut_off_the_end_are_noticed(run: Run) -> None:
    last = (await run.entries())[-1]
    await run.tamper("DELETE FROM audit_entries WHERE id = :id", {"id": last["id"]})
    done = verify(run.url)
    assert done.returncode == 1
    assert "the chain ends at #7 but its head records #8" in done.stderr


async def test_reordered_entries_are_named_even_with_their_own_hashes_redone(run: Run) -> None:
    """Swap entries #2 and #3 and recompute each one's own hash, as someone who read
    this code would: the links between them still break."""
    rows = await run.entries()
    second, third = dict(rows[1]), dict(rows[2])
    second["seq"], third["seq"] = 3, 2
    await run.tamper(
        "UPDATE audit_entries SET seq = -seq WHERE id IN (:a, :b)", {"a": second["id"], "b": third["id"]}
    )
    for moved in (second, third):
        async with run.db.transaction() as conn:
            await conn.execute(
                "UPDATE audit_entries SET seq = :seq, hash = :hash WHERE id = :id",
                {"seq": moved["seq"], "hash": row_hash(moved), "id": moved["id"]},
            )
    done = verify(run.url)
    assert done.returncode == 1
    assert f"reordered: entry #2 ({third['id']}) does not follow the entry before it" in done.stderr
