"""Alembic, driven from code: ``payreq migrate`` and the readiness check use this."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from payreq.db.base import Connection, DatabaseUnavailable, sqlalchemy_url, sqlite_path

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def prepare_sqlite_directory(database_url: str) -> None:
    """An SQLite database's directory is made if missing (``var/`` on a fresh checkout)."""
    if database_url.startswith("sqlite:"):
        path = sqlite_path(database_url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database_url: str, revision: str = "head") -> None:
    prepare_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


class NewerDatabase(Exception):
    """The database is at a revision this code has no migration for."""


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head_revision() -> str | None:
    return _scripts().get_current_head()


def schema_state(revision: str | None) -> str:
    """Where a database at ``revision`` stands against this code's migrations: ``ok``
    (at head), ``ahead`` (at a revision this code does not know: a newer release's
    ``payreq migrate`` ran first, as in a rolling upgrade; migrations are additive
    within a release, so this code still works on it), ``behind`` (at an older
    revision of this code's) or ``not migrated``."""
    if revision is None:
        return "not migrated"
    if revision == head_revision():
        return "ok"
    try:
        _scripts().get_revision(revision)
    except CommandError:
        return "ahead"
    return "behind"


def known_revision(revision: str) -> bool:
    """Whether this code has the migration ``revision`` (a newer payreq may have made it)."""
    return revision in {script.revision for script in _scripts().walk_revisions()}


def check_not_newer(revision: str | None) -> None:
    """Raise ``NewerDatabase`` when the database was migrated past what this code knows
    (Alembic would say only "Can't locate revision identified by ...")."""
    if revision is not None and not known_revision(revision):
        raise NewerDatabase(
            f"the database is at revision {revision}, which this payreq does not know (its newest is "
            f"{head_revision()}): a newer payreq migrated it. Run that version (or newer), or restore "
            "the backup taken before the upgrade; this version must not serve or migrate it"
        )


async def current_revision(conn: Connection) -> str | None:
    try:
        row = await conn.fetch_one("SELECT version_num FROM alembic_version")
    except DatabaseUnavailable:  # a time-out is not an unmigrated database
        raise
    except Exception:  # no table yet: an unmigrated database
        return None
    return None if row is None else str(row["version_num"])
