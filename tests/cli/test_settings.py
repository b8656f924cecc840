"""A bad setting stops every command with one line naming it (exit 2), never a Python
traceback; ``payreq migrate`` on a database a newer payreq migrated, or one it cannot
open, says so in one line (exit 1); production (an https ``PAYREQ_BASE_URL``) refuses
the development secret key. Real subprocesses, as an operator runs them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

PAYREQ = str(Path(sys.executable).with_name("payreq"))
SECRET_KEY = "test-secret-key-0123456789abcdef0123456789abcdef"


def run(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYREQ_")}
    env |= {"PAYREQ_DATABASE_URL": f"sqlite:///{cwd / 'var' / 'cli.db'}", "PAYREQ_LOG_LEVEL": "WARNING"}
    env |= settings
    return subprocess.run([PAYREQ, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PAYREQ_DATABASE_POOL_SIZE", "-1", "Input should be greater than or equal to 1"),
        ("PAYREQ_DATABASE_POOL_SIZE", "ten", "Input should be a valid integer"),
        ("PAYREQ_LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("PAYREQ_REDIS_URL", "cache.internal:6379", "Redis URL must specify one of the following schemes"),
        ("PAYREQ_REDIS_URL", "redis://cache:sixty/0", "Port could not be cast to integer value"),
        ("PAYREQ_BASE_URL", "pay.example.com", "must be an http:// or https:// URL"),
        ("PAYREQ_BASE_URL", "ftp://pay.example.com", "must be an http:// or https:// URL"),
        ("PAYREQ_BASE_URL", "https://pay.example.com/?x=1", "must not carry a query or a fragment"),
        ("PAYREQ_SMTP_URL", "mail.example.com", "must look like smtp://user:pass@host:587"),
        (
            "PAYREQ_FORWARDED_ALLOW_IPS",
            "10.0.0.5,10.0.0.x",
            "'10.0.0.x' is neither an IP address nor a network",
        ),
        ("PAYREQ_DATABASE_URL", "mysql://db/payreq", "must look like sqlite:///path/to.db or postgresql://"),
        ("PAYREQ_DATABASE_URL", "postgresql://u:pw@db:5432x/payreq", "is not a valid PostgreSQL URL"),
    ],
)
@pytest.mark.parametrize("command", [["migrate"], ["serve"], ["worker"], ["admin", "verify-audit"]])
def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, command: list[str], name: str, value: str, expected: str
) -> None:
    done = run(*command, cwd=tmp_path, **{name: value})
    assert done.returncode == 2
    line = one_line(done)
    assert line.startswith(f"configuration error: {name}: "), line
    assert expected in line
    if "pw@" in value:
        assert "pw" not in line  # a database URL's password is never repeated


def test_settings_that_contradict_each_other_name_both(tmp_path: Path) -> None:
    done = run("migrate", cwd=tmp_path, PAYREQ_WEBHOOK_LEASE="5", PAYREQ_WEBHOOK_TIMEOUT="10")
    assert done.returncode == 2
    assert one_line(done) == (
        "configuration error: PAYREQ_WEBHOOK_LEASE must be longer than PAYREQ_WEBHOOK_TIMEOUT"
    )


def test_production_refuses_the_development_secret_key(tmp_path: Path) -> None:
    for command in (["serve"], ["worker"], ["migrate"]):
        done = run(*command, cwd=tmp_path, PAYREQ_BASE_URL="https://pay.example.com")
        assert done.returncode == 2
        assert one_line(done) == (
            "configuration error: PAYREQ_SECRET_KEY is the development default, which anyone can read, "
            "while PAYREQ_BASE_URL is https (production): set PAYREQ_SECRET_KEY to a long random value "
            "(openssl rand -hex 32), the same on every process"
        )
    ok = run("migrate", cwd=tmp_path, PAYREQ_BASE_URL="https://pay.example.com", PAYREQ_SECRET_KEY=SECRET_KEY)
    assert ok.returncode == 0, ok.stderr
    local = run("migrate", cwd=tmp_path, PAYREQ_BASE_URL="http://127.0.0.1:8000")  # make run's
    assert local.returncode == 0, local.stderr


def test_migrate_on_a_database_a_newer_payreq_migrated(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "var" / "cli.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    done = run("migrate", cwd=tmp_path)
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith(
        "payreq migrate: the database is at revision 9999_from_the_future, which this payreq does not "
        "know (its newest is "
    ), line
    assert "a newer payreq migrated it. Run that version (or newer), or restore the backup" in line
    with sqlite3.connect(tmp_path / "var" / "cli.db") as conn:  # left as it was
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999_from_the_future",)
        ]


def test_migrate_on_a_database_it_cannot_open_is_one_line(tmp_path: Path) -> None:
    done = run("migrate", cwd=tmp_path, PAYREQ_DATABASE_URL="postgresql://postgres@127.0.0.1:1/payreq")
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith("payreq migrate: the database in PAYREQ_DATABASE_URL could not be opened: "), line
    assert "ConnectionRefusedError" in line
