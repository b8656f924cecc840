"""Column types that mean the same on both engines.

PostgreSQL gets native ``uuid`` and ``timestamptz``. SQLite gets text columns whose
declared names (``UUIDTEXT``, ``TIMESTAMPTEXT``) tell ``payreq.db.sqlite`` how to
convert values back; timestamps are stored as fixed-width UTC text so that they
compare correctly as strings.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import UserDefinedType


class _SQLiteDeclared(UserDefinedType[Any]):
    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **kw: Any) -> str:
        return self.name


UUID = sa.Uuid(as_uuid=True).with_variant(_SQLiteDeclared("UUIDTEXT"), "sqlite")
Timestamp = sa.DateTime(timezone=True).with_variant(_SQLiteDeclared("TIMESTAMPTEXT"), "sqlite")
