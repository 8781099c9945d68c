"""API tokens for LangGraph Server: `support-agent users token USER [--revoke]`.

A token is printed once, alone on stdout; the database keeps only its SHA-256. The CLI runs as
a real process on a real SQLite file (tests/test_cli.py's `Cli`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_cli import Cli

from agent.domain.users import TOKEN_PREFIX, UserDirectory
from agent.persistence.db import SqliteDatabase


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI on a fresh SQLite file with the demo shop."""
    return Cli({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(tmp_path / "app.db")},
               tmp_path)


@pytest.fixture
def accounts(cli: Cli, tmp_path: Path):
    """The user records of that file, read directly (after the CLI created it)."""
    cli.ok("users")
    db = SqliteDatabase(tmp_path / "app.db")
    yield UserDirectory(db)
    db.close()


def test_a_token_is_printed_once_and_only_its_hash_is_kept(cli: Cli, accounts: UserDirectory):
    """Each call prints a new token alone on stdout; the database holds hashes, not tokens."""
    first = cli.ok("users", "token", "alice")
    second = cli.ok("users", "token", "ALICE")  # ids are found whatever their case
    tokens = [first.stdout.strip(), second.stdout.strip()]
    assert all(token.startswith(TOKEN_PREFIX) and len(token) > 40 for token in tokens)
    assert first.stdout == tokens[0] + "\n" and tokens[0] != tokens[1]
    assert "shown only this once" in first.stderr
    stored = {row["token_hash"] for row in accounts.db.fetch_all(
        "SELECT token_hash FROM support_api_tokens WHERE user_id = 'alice'")}
    assert stored == {hashlib.sha256(token.encode()).hexdigest() for token in tokens}
    assert [accounts.by_token(token).user_id for token in tokens] == ["alice", "alice"]
    assert accounts.by_token(tokens[0] + "x") is None
    assert accounts.by_token("not-one-of-ours") is None


def test_revoking_ends_every_token_of_that_user_only(cli: Cli, accounts: UserDirectory):
    """`--revoke` ends alice's tokens (saying how many) and leaves bob's working."""
    alices = [cli.ok("users", "token", "alice").stdout.strip() for _ in range(2)]
    bobs = cli.ok("users", "token", "bob").stdout.strip()
    assert "revoked 2 API tokens of alice" in cli.ok("users", "token", "alice", "--revoke").stdout
    assert [accounts.by_token(token) for token in alices] == [None, None]
    assert accounts.by_token(bobs).user_id == "bob"


def test_no_token_for_an_unknown_or_disabled_account(cli: Cli, accounts: UserDirectory):
    """An unknown id or a disabled account gets no token; a disabled one's old token still
    names them, disabled, so that LangGraph Server refuses it with that reason."""
    assert "unknown user 'nobody'" in cli.fails("users", "token", "nobody")
    earlier = cli.ok("users", "token", "bob").stdout.strip()
    cli.ok("users", "disable", "bob")
    assert "account bob is disabled" in cli.fails("users", "token", "bob")
    assert accounts.by_token(earlier).disabled
