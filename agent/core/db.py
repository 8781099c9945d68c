"""The database interface the domain is written against: sessions, transactions and rows.

The implementations (SQLite and PostgreSQL) live with the backends; nothing here loads a driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgres"]
Row = dict[str, Any]


class Session(Protocol):
    """Runs statements on one connection (inside a transaction when from `transaction()`)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the affected row count."""

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query; return every row as a dict."""

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run a query; return the first row as a dict, or None."""


class Database(Session, Protocol):
    """A Session that can also open transactions and be closed."""

    dialect: Dialect

    def transaction(self) -> Iterator[Session]:
        """A context manager: a Session whose statements commit together or not at all."""

    def close(self) -> None:
        """Release the connection(s)."""
