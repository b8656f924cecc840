"""Column types that mean the same on both engines.

PostgreSQL gets native ``uuid`` and ``timestamptz``. SQLite gets text columns whose
declared names (``UUIDTEXT``, ``TIMESTAMPTEXT``) tell ``payreq.db.sqlite`` how to
convert values back; timestamps are stored as fixed-width UTC text so that they
compare correctly as strings.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import base as sqlite_base
from sqlalchemy.types import UserDefinedType


class _SQLiteDeclared(UserDefinedType[Any]):
    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **kw: Any) -> str:
        return self.name


UUID = sa.Uuid(as_uuid=True).with_variant(_SQLiteDeclared("UUIDTEXT"), "sqlite")
Timestamp = sa.DateTime(timezone=True).with_variant(_SQLiteDeclared("TIMESTAMPTEXT"), "sqlite")


class _UUIDText(_SQLiteDeclared):
    cache_ok = True

    def __init__(self) -> None:
        super().__init__("UUIDTEXT")


class _TimestampText(_SQLiteDeclared):
    cache_ok = True

    def __init__(self) -> None:
        super().__init__("TIMESTAMPTEXT")


# Reflection must read the declared names back as themselves: Alembic's batch mode
# rebuilds a SQLite table from its reflection (a downgrade that drops a column does),
# and a column reflected without its name would lose its converter (ids read as str).
sqlite_base.ischema_names.setdefault("UUIDTEXT", _UUIDText)
sqlite_base.ischema_names.setdefault("TIMESTAMPTEXT", _TimestampText)
