"""The app's own secret keys, made once per database and shared by every app instance on it."""

from __future__ import annotations

import secrets
import time

from agent.core.db import Database


def app_secret(db: Database, name: str) -> bytes:
    """The named key (32 random bytes), created on first use; concurrent first uses agree."""
    db.execute("INSERT INTO support_secrets (name, secret, created_at) VALUES (?, ?, ?)"
               " ON CONFLICT (name) DO NOTHING", (name, secrets.token_hex(32), time.time()))
    row = db.fetch_one("SELECT secret FROM support_secrets WHERE name = ?", (name,))
    return bytes.fromhex(row["secret"])
