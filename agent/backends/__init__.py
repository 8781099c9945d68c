"""One backend object per saver kind: `open_backend(settings)` finds the module named after it.

Each module (`memory`, `sqlite`, `postgres`) opens its checkpointer, store, app database and
locks, hands over a complete `Backend`, and registers itself with `@backend_kind`. Adding a
saver kind is one module here: settings accept every module of this package as a kind.
"""

from agent.backends.base import Backend, open_backend

__all__ = ["Backend", "open_backend"]
