"""``payreq admin import-statement FILE``: the same reconciliation from the operator's
command line, as a real subprocess on the suite's database (SQLite and PostgreSQL),
with a progress bar, a readable report, ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from payreq.config import Settings
from tests.fixtures.factories import Merchant
from tests.method.conftest import bank_application, new_payment, status_of, transfer_reference

PAYREQ = str(Path(sys.executable).with_name("payreq"))


async def payreq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYREQ_")}
    env.update(PAYREQ_DATABASE_URL=settings.database_url, PAYREQ_LOG_LEVEL="WARNING", COLUMNS="200")
    return await asyncio.to_thread(
        subprocess.run, [PAYREQ, *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_the_cli_imports_a_statement_and_reports_every_line(
    merchant: Merchant, settings: Settings, tmp_path: Path
) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 4200, "EUR")
    reference = await transfer_reference(merchant, payment["id"])
    statement = tmp_path / "statement.csv"
    statement.write_text(
        "id,date,amount,currency,reference\n"
        f"CLI-1,2026-11-21,42.00,EUR,Invoice {reference}\n"
        "CLI-2,2026-11-21,10.00,EUR,thanks for lunch\n"
        "CLI-3,2026-11-21,-7.45,EUR,fee\n"
    )
    account = ["--account", merchant.credentials.account_id, "--environment", "sandbox"]

    done = await payreq(settings, "admin", "import-statement", str(statement), *account)
    assert done.returncode == 0, done.stderr
    assert "Importing statement.csv" in done.stderr and "3/3" in done.stderr  # the progress bar
    assert "matched" in done.stdout and payment["id"] in done.stdout and "42.00 EUR" in done.stdout
    assert "1 matched, 1 unmatched, 1 debit" in done.stdout
    assert await status_of(merchant, payment["id"]) == "paid"

    again = await payreq(settings, "admin", "import-statement", str(statement), *account, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["source"] == "cli" and report["filename"] == "statement.csv"
    assert [(line["line"], line["outcome"]) for line in report["lines"]] == [
        (2, "duplicate"),
        (3, "duplicate"),
        (4, "duplicate"),
    ]


async def test_the_cli_needs_an_account_that_exists(
    merchant: Merchant, settings: Settings, tmp_path: Path
) -> None:
    statement = tmp_path / "statement.csv"
    statement.write_text("id,amount,currency,reference\nX,1.00,EUR,x\n")
    for args, message in [
        (("--account", "00000000-0000-4000-8000-000000000000"), "no account with id"),
        ((), "name one with --account"),  # the suite's database holds many accounts
    ]:
        done = await payreq(settings, "admin", "import-statement", str(statement), *args)
        assert done.returncode == 1, (args, done.stderr)
        assert message in " ".join(done.stderr.split()), (args, done.stderr)


async def test_the_cli_refuses_bad_arguments_and_unreadable_files_before_touching_the_database(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'never-created.db'}")
    statement = tmp_path / "statement.csv"
    statement.write_text("id,amount,currency,reference\nX,1.00,EUR,x\n")
    unreadable = tmp_path / "statement.xml"
    unreadable.write_text("<Document/>")
    undecodable = tmp_path / "shift-jis.xml"  # expat reads no multi-byte encoding but UTF-8/16
    undecodable.write_text('<?xml version="1.0" encoding="Shift_JIS"?><Document/>')
    cases = [
        ((str(statement), "--account", "nope"), 2, "not an account id"),
        ((str(statement), "--environment", "staging"), 2, "sandbox or production"),
        ((str(unreadable),), 1, "not an ISO 20022 camt.053"),
        ((str(undecodable),), 1, "cannot be read in the encoding it declares"),
        ((str(tmp_path / "missing.csv"),), 2, "does not exist"),
    ]
    for args, code, message in cases:
        done = await payreq(settings, "admin", "import-statement", *args)
        assert done.returncode == code, (args, done.stderr)
        assert message in " ".join(done.stderr.split()), (args, done.stderr)
    assert not (tmp_path / "never-created.db").exists()


async def test_the_cli_sets_the_time_zone_and_resolves_a_line(
    merchant: Merchant, settings: Settings, tmp_path: Path
) -> None:
    account = ["--account", merchant.credentials.account_id]
    shown = await payreq(settings, "admin", "timezone", *account)
    assert (shown.returncode, shown.stdout.strip()) == (0, "UTC"), shown.stderr
    changed = await payreq(settings, "admin", "timezone", "Europe/Berlin", *account)
    assert (changed.returncode, changed.stdout.strip()) == (0, "Europe/Berlin"), changed.stderr
    refused = await payreq(settings, "admin", "timezone", "Mars/Olympus", *account)
    assert refused.returncode == 1 and "IANA time zone" in " ".join(refused.stderr.split())
    assert (await payreq(settings, "admin", "timezone", *account)).stdout.strip() == "Europe/Berlin"

    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 4200, "EUR")
    reference = await transfer_reference(merchant, payment["id"])
    statement = tmp_path / "partial.csv"
    statement.write_text(f"id,amount,currency,reference\nCLI-P,20.00,EUR,{reference}\n")
    scope = [*account, "--environment", "sandbox"]
    done = await payreq(settings, "admin", "import-statement", str(statement), *scope, "--json")
    report = json.loads(done.stdout)
    assert report["lines"][0]["outcome"] == "partial"
    resolved = await payreq(settings, "admin", "resolve-statement-line", report["id"], "2", "accept", *scope)
    assert resolved.returncode == 0, resolved.stderr
    assert "accepted" in resolved.stdout and "paid" in resolved.stdout
    assert await status_of(merchant, payment["id"]) == "paid"
    again = await payreq(settings, "admin", "resolve-statement-line", report["id"], "2", "refund_due", *scope)
    assert again.returncode == 1 and "resolved already" in " ".join(again.stderr.split())
    reread = await merchant.http.get(f"/api/statements/{report['id']}", headers=await merchant.headers())
    assert reread.json()["lines"][0]["resolvedBy"] == "cli"
