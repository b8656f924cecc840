"""The operator CLI, run as a real subprocess against a real SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

PAYREQ = str(Path(sys.executable).with_name("payreq"))
BOOTSTRAP_KEYS = {
    "account_id",
    "environment",
    "client_id",
    "client_secret",
    "application_client_id",
    "client_token",
    "webhook_secret",
    "dashboard_email",
    "dashboard_password",
}


def run(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYREQ_DATABASE_URL": url, "PAYREQ_LOG_LEVEL": "WARNING"}
    return subprocess.run([PAYREQ, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'var' / 'cli.db'}"
    assert run("migrate", cwd=tmp_path, url=url).returncode == 0
    return url


def test_bootstrap_json_prints_the_documented_keys(tmp_path: Path, database: str) -> None:
    done = run("bootstrap", "--json", "--email", "Shop@Example.com", cwd=tmp_path, url=database)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= BOOTSTRAP_KEYS
    assert result["environment"] == "sandbox"
    assert result["dashboard_email"] == "shop@example.com"
    assert result["client_secret"].startswith("prq_cs_sbx_")
    assert result["client_token"].startswith("prq_ct_sbx_")
    assert result["webhook_secret"].startswith("whsec_")
    assert len(result["application_client_id"]) == 32


def test_bootstrap_production_and_duplicate_email(tmp_path: Path, database: str) -> None:
    done = run(
        "bootstrap",
        "--json",
        "--email",
        "a@b.example",
        "--environment",
        "production",
        cwd=tmp_path,
        url=database,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["client_secret"].startswith("prq_cs_live_")
    again = run("bootstrap", "--json", "--email", "a@b.example", cwd=tmp_path, url=database)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    wrong = run("bootstrap", "--environment", "staging", cwd=tmp_path, url=database)
    assert wrong.returncode == 2


def test_secrets_are_stored_only_as_digests(tmp_path: Path, database: str) -> None:
    result = json.loads(run("bootstrap", "--json", cwd=tmp_path, url=database).stdout)
    raw = Path(database.removeprefix("sqlite:///")).read_bytes()
    for name in ("client_secret", "client_token", "dashboard_password"):
        assert result[name].encode() not in raw, name


def test_demo_creates_once_and_prints_the_same_credentials(tmp_path: Path, database: str) -> None:
    first = run("demo", cwd=tmp_path, url=database)
    second = run("demo", cwd=tmp_path, url=database)
    assert first.returncode == second.returncode == 0
    saved = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())
    assert saved["client_secret"] in first.stdout
    assert saved["client_secret"] in second.stdout
    path = Path(database.removeprefix("sqlite:///"))
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM accounts").fetchone() == (1,)
    assert oct((tmp_path / "var" / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"


def test_admin_rate_limit_sets_and_resets(tmp_path: Path, database: str) -> None:
    client_id = json.loads(run("bootstrap", "--json", cwd=tmp_path, url=database).stdout)["client_id"]
    done = run("admin", "rate-limit", client_id, "50", cwd=tmp_path, url=database)
    assert done.returncode == 0, done.stderr
    path = Path(database.removeprefix("sqlite:///"))
    row = (
        sqlite3.connect(path)
        .execute("SELECT rate_limit FROM api_keys WHERE client_id = ?", (client_id,))
        .fetchone()
    )
    assert row == (50,)
    assert run("admin", "rate-limit", client_id, "0", cwd=tmp_path, url=database).returncode == 0
    row = (
        sqlite3.connect(path)
        .execute("SELECT rate_limit FROM api_keys WHERE client_id = ?", (client_id,))
        .fetchone()
    )
    assert row == (None,)
    unknown = run("admin", "rate-limit", "prq_id_sbx_nope", "5", cwd=tmp_path, url=database)
    assert unknown.returncode == 1


def test_migrate_refuses_an_unknown_database_scheme(tmp_path: Path) -> None:
    done = run("migrate", cwd=tmp_path, url="mysql://x@y/z")
    assert done.returncode != 0
    assert "sqlite:///" in done.stderr


def test_the_default_applications_offer_the_methods_of_their_environment(
    tmp_path: Path, database: str
) -> None:
    run("bootstrap", "--json", cwd=tmp_path, url=database)
    path = Path(database.removeprefix("sqlite:///"))
    rows = dict(sqlite3.connect(path).execute("SELECT environment, methods FROM applications").fetchall())
    assert rows == {"sandbox": '["sandbox"]', "production": '["bank_transfer"]'}


def test_admin_rate_limit_sets_a_client_tokens_own_limit(tmp_path: Path, database: str) -> None:
    run("bootstrap", "--json", cwd=tmp_path, url=database)
    path = Path(database.removeprefix("sqlite:///"))
    (token_id,) = sqlite3.connect(path).execute("SELECT id FROM client_tokens").fetchone()
    done = run("admin", "rate-limit", token_id, "20", cwd=tmp_path, url=database)
    assert done.returncode == 0, done.stderr
    row = (
        sqlite3.connect(path)
        .execute("SELECT rate_limit FROM client_tokens WHERE id = ?", (token_id,))
        .fetchone()
    )
    assert row == (20,)
    unknown = run(
        "admin", "rate-limit", "00000000-0000-4000-8000-000000000000", "5", cwd=tmp_path, url=database
    )
    assert unknown.returncode == 1
    assert "no client token" in unknown.stderr


def test_admin_rate_limit_account_raises_one_accounts_budget(tmp_path: Path, database: str) -> None:
    account_id = json.loads(run("bootstrap", "--json", cwd=tmp_path, url=database).stdout)["account_id"]
    done = run("admin", "rate-limit", "--account", account_id, "200", cwd=tmp_path, url=database)
    assert done.returncode == 0, done.stderr
    path = Path(database.removeprefix("sqlite:///"))
    row = (
        sqlite3.connect(path)
        .execute("SELECT rate_limit FROM accounts WHERE id = ?", (account_id,))
        .fetchone()
    )
    assert row == (200,)
    assert (
        run("admin", "rate-limit", "--account", account_id, "0", cwd=tmp_path, url=database).returncode == 0
    )
    row = (
        sqlite3.connect(path)
        .execute("SELECT rate_limit FROM accounts WHERE id = ?", (account_id,))
        .fetchone()
    )
    assert row == (None,)
    not_a_uuid = run("admin", "rate-limit", "--account", "shop", "5", cwd=tmp_path, url=database)
    assert not_a_uuid.returncode == 2
    unknown = run(
        "admin",
        "rate-limit",
        "--account",
        "00000000-0000-4000-8000-000000000000",
        "5",
        cwd=tmp_path,
        url=database,
    )
    assert unknown.returncode == 1
    assert "no account with id" in unknown.stderr


def test_admin_rate_limit_is_in_the_targets_audit_log(tmp_path: Path, database: str) -> None:
    """An operator's change to a key's, a token's or an account's limit is a change to
    them: each is in the account's audit log, by the CLI, and the chain still verifies."""
    result = json.loads(run("bootstrap", "--json", cwd=tmp_path, url=database).stdout)
    path = Path(database.removeprefix("sqlite:///"))
    (token_id,) = sqlite3.connect(path).execute("SELECT id FROM client_tokens").fetchone()
    for target in ([result["client_id"], "50"], [token_id, "20"], ["--account", result["account_id"], "0"]):
        done = run("admin", "rate-limit", *target, cwd=tmp_path, url=database)
        assert done.returncode == 0, done.stderr
    rows = (
        sqlite3.connect(path)
        .execute(
            "SELECT action, actor_kind, actor_label, environment, changes FROM audit_entries "
            "WHERE action LIKE '%.rate_limit_set' ORDER BY seq"
        )
        .fetchall()
    )
    assert rows == [
        ("api_key.rate_limit_set", "cli", "payreq admin rate-limit", "sandbox", '{"rate_limit":50}'),
        ("client_token.rate_limit_set", "cli", "payreq admin rate-limit", "sandbox", '{"rate_limit":20}'),
        ("account.rate_limit_set", "cli", "payreq admin rate-limit", None, '{"rate_limit":null}'),
    ]
    verified = run("admin", "verify-audit", cwd=tmp_path, url=database)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Shop\u2028Other", "name must not contain control, format or line-break characters (found U+2028)."),
        ("Shop\u202epohS", "name must not contain bidirectional control characters (such as U+202E)."),
        ("   ", "Enter your business name (1 to 200 characters)."),
        ("x" * 201, "Enter your business name (1 to 200 characters)."),
    ],
)
def test_bootstrap_refuses_a_name_payers_could_not_read_honestly(
    tmp_path: Path, database: str, name: str, message: str
) -> None:
    done = run("bootstrap", "--json", "--name", name, cwd=tmp_path, url=database)
    assert (done.returncode, done.stdout, done.stderr.strip()) == (1, "", message)
    with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (0,)


def test_bootstrap_keeps_a_name_with_a_zwj_sequence_trimmed(tmp_path: Path, database: str) -> None:
    name = "\U0001f469\u200d\U0001f373 Kitchen"
    done = run("bootstrap", "--json", "--name", f" {name} ", cwd=tmp_path, url=database)
    assert done.returncode == 0, done.stderr
    account_id = json.loads(done.stdout)["account_id"]
    with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
        stored = conn.execute("SELECT name FROM accounts WHERE id = ?", (account_id,)).fetchone()
    assert stored == (name,)
