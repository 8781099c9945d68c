"""One backend object per saver kind, found by its kind, complete when handed over."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.backends import Backend, open_backend
from agent.backends.base import _OPENERS, backend_kind
from agent.errors import ConfigError
from agent.settings import Settings

LOCKS = {"memory": "in-process", "sqlite": "file lock", "postgres": "PostgreSQL advisory lock"}


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_each_saver_kind_opens_a_complete_backend_and_closes_it(
        kind: str, make_settings: Callable[..., Settings]) -> None:
    """Checkpointer, store, database and locks all there; closing twice is harmless."""
    backend = open_backend(make_settings(kind))
    try:
        assert isinstance(backend, Backend) and backend.kind == kind
        assert backend.dialect == ("postgres" if kind == "postgres" else "sqlite")
        assert backend.locks.kind == LOCKS[kind]
        assert backend.db.fetch_one("SELECT COUNT(*) AS n FROM support_threads")["n"] == 0
        assert backend.store.get(("nobody",), "nothing") is None
    finally:
        backend.close()
    backend.close()


def test_a_saver_kind_is_one_registered_opener(make_settings: Callable[..., Settings]) -> None:
    """open_backend looks the kind up; a kind registered from elsewhere is opened the same way."""
    opened: list[str] = []

    @backend_kind("scratch")
    def open_scratch(settings: Settings) -> Backend:
        opened.append(settings.saver)
        return open_backend(settings.model_copy(update={"saver": "memory"}))

    try:
        settings = make_settings("memory").model_copy(update={"saver": "scratch"})
        backend = open_backend(settings)
        backend.close()
        assert opened == ["scratch"]
    finally:
        _OPENERS.pop("scratch", None)
    with pytest.raises(ConfigError, match="unknown saver 'nowhere'"):
        open_backend(make_settings("memory").model_copy(update={"saver": "nowhere"}))
