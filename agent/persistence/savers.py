"""Open the persistence layer for a saver kind: a lookup of its backend in `agent/backends/`."""

from __future__ import annotations

from agent.backends.base import Backend, open_backend
from agent.settings import Settings

# The name the rest of the app has used for a backend since before `agent/backends/`.
Persistence = Backend


def open_persistence(settings: Settings) -> Backend:
    """Open (and migrate) the backend chosen by `settings.saver`, with its locks."""
    return open_backend(settings)
