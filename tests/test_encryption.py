"""Encryption at rest: with SUPPORT_ENCRYPTION_KEY, no customer phrase lies in clear on disk.

A conversation with a summary (forced early), remembered facts and an approved refund runs on
a real SQLite file and a real PostgreSQL database; then every byte of the SQLite files (WAL
included) and every text, bytea and json(b) column of every PostgreSQL table are searched for
the customer's distinctive words. The shop's own business records (the ledger's details, the
audit trail's arguments and reason) keep the refund's reason in clear by design (README,
"Compression and encryption"): the test allows the phrase there and nowhere else.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from test_cli import Cli, assert_one_error_line

from agent.errors import ConfigError
from agent.persistence.encryption import SEALED_TEXT_PREFIX
from agent.service import SupportDesk, collect
from agent.settings import Settings

KEY = "k" * 16 + "0123456789abcdef"  # 32 bytes: AES-256
OTHER_KEY = "0123456789abcdef"
SETTINGS = {"summary_trigger_messages": 4, "summary_keep_messages": 2,
            "compress_checkpoints": True}
# Said in the conversation only: must be nowhere in clear.
CONVERSATION_PHRASES = ("Zephyrine", "colander", "Quixotic")
# The refund's reason: the shop's business records keep it (documented), nothing else may.
REASON_PHRASE = "squeaky marmalade"
BUSINESS_RECORDS = {("support_ledger", "details"), ("support_audit", "before_args"),
                    ("support_audit", "after_args"), ("support_audit", "reason")}


def _conversation(desk: SupportDesk) -> str:
    """A thread with a title, summaries, remembered facts and an approved refund."""
    thread = desk.ask("alice", "My name is Zephyrine and my boots leak like a colander").thread_id
    desk.ask("alice", "Please keep your answers short", thread_id=thread)
    desk.ask("alice", "Where is ORD-1002? I need it for the Quixotic festival", thread_id=thread)
    result = desk.ask("alice", f"Please refund ORD-1001, {REASON_PHRASE}", thread_id=thread)
    assert result.status == "awaiting_approval"
    collect(desk.decide_approval("sam", thread, {"action": "approve"}))
    return thread


def _assert_reads_back(desk: SupportDesk, thread: str) -> None:
    view = desk.view_thread("alice", thread)
    assert "Zephyrine" in view.summary
    assert view.thread.title.startswith("My name is Zephyrine")
    assert desk.list_threads("alice").threads[0].title == view.thread.title
    assert desk.remembered_profile("alice") == {"name": "Zephyrine",
                                                "preferences": ["short answers"]}
    assert desk.ask("alice", "What's my name?", thread_id=thread).reply == \
        "Your name is Zephyrine."


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    """The persistent saver kinds."""
    return request.param


@pytest.fixture
def keyed(kind: str, make_settings) -> Settings:
    """Settings with a key, on a fresh SQLite file or PostgreSQL database."""
    return make_settings(kind, encryption_key=KEY, **SETTINGS)


def test_an_encrypted_sqlite_file_holds_no_customer_phrase_in_clear(make_settings):
    """Every file beside the database (WAL included) searched byte for byte."""
    settings = make_settings("sqlite", encryption_key=KEY, **SETTINGS)
    desk = SupportDesk.open(settings)
    try:
        thread = _conversation(desk)
        _assert_reads_back(desk, thread)
        # Searched while open, so the WAL still holds the newest pages.
        files = [p for p in settings.sqlite_path.parent.rglob("*") if p.is_file()]
        assert any(p.name.endswith("-wal") for p in files)
        raw = b"".join(p.read_bytes() for p in files)
    finally:
        desk.close()
    raw += b"".join(p.read_bytes() for p in settings.sqlite_path.parent.rglob("*")
                    if p.is_file())
    for phrase in CONVERSATION_PHRASES:
        assert phrase.encode() not in raw, phrase
    with sqlite3.connect(settings.sqlite_path) as conn:
        found = set()
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}"'):
                    data = value if isinstance(value, bytes) else str(value).encode()
                    if REASON_PHRASE.encode() in data:
                        found.add((table, column))
    assert found and found <= BUSINESS_RECORDS, found


@pytest.mark.postgres
def test_an_encrypted_postgres_database_holds_no_customer_phrase_in_clear(make_settings):
    """Every text, bytea and json(b) column of every table, decoded and searched."""
    settings = make_settings("postgres", encryption_key=KEY, **SETTINGS)
    with SupportDesk.open(settings) as desk:
        thread = _conversation(desk)
        _assert_reads_back(desk, thread)
    found: dict[str, set[tuple[str, str]]] = {}
    with psycopg.connect(settings.postgres_url) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type"
            " FROM information_schema.columns JOIN information_schema.tables"
            " USING (table_catalog, table_schema, table_name)"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND data_type IN ('text', 'character varying', 'bytea', 'json', 'jsonb',"
            " 'ARRAY', 'USER-DEFINED')").fetchall()
        assert len(columns) > 20
        for schema, table, column, data_type in columns:
            select = (f'"{column}"' if data_type == "bytea" else f'"{column}"::text')
            for (value,) in conn.execute(f'SELECT {select} FROM "{schema}"."{table}"'):
                data = bytes(value) if isinstance(value, (bytes, memoryview)) else \
                    str(value).encode()
                for phrase in (*CONVERSATION_PHRASES, REASON_PHRASE):
                    if phrase.encode() in data:
                        found.setdefault(phrase, set()).add((table, column))
        # The summary goes through the (encrypting) serializer, not inline JSON.
        inline = conn.execute("SELECT count(*) FROM checkpoints"
                              " WHERE checkpoint -> 'channel_values' ? 'summary'").fetchone()
        assert inline[0] == 0
    assert set(found) == {REASON_PHRASE}, found
    assert found[REASON_PHRASE] <= BUSINESS_RECORDS, found


def test_a_database_written_without_a_key_keeps_working_with_one(kind, make_settings):
    """Old plain rows (checkpoints, inline summary, facts, titles) read; new ones are sealed."""
    plain = make_settings(kind, **SETTINGS)
    with SupportDesk.open(plain) as desk:
        thread = desk.ask("alice", "My name is Zephyrine, my boots leak").thread_id
        desk.ask("alice", "Please keep your answers short", thread_id=thread)
        desk.ask("alice", "Where is ORD-1002?", thread_id=thread)
        summary = desk.view_thread("alice", thread).summary
        assert "Zephyrine" in summary
    keyed = plain.model_copy(update={"encryption_key": _secret(KEY)})
    with SupportDesk.open(keyed) as desk:
        view = desk.view_thread("alice", thread)
        assert view.summary == summary
        assert view.thread.title.startswith("My name is Zephyrine")
        assert desk.remembered_profile("alice")["name"] == "Zephyrine"
        desk.ask("alice", "What is your return policy?", thread_id=thread)
        # Every checkpoint written with the key carries the summary (also those of steps that
        # left it unchanged since the plain rows).
        for info in desk.history("alice", thread, limit=6):
            assert desk.state_at("alice", thread, info.checkpoint_id).summary, info
        desk.rename_thread("alice", thread, "Zephyrine's boots")
        assert desk.list_threads("alice").threads[0].title == "Zephyrine's boots"
    if kind == "sqlite":
        with sqlite3.connect(plain.sqlite_path) as conn:
            (title,) = conn.execute("SELECT title FROM support_threads").fetchone()
            types = {row[0] for row in conn.execute("SELECT type FROM checkpoints")}
        assert title.startswith(SEALED_TEXT_PREFIX)
        assert {"msgpack", "zmsgpack+aes"} <= types


def test_a_missing_key_is_a_clear_error_naming_the_setting(keyed):
    """Checkpoints, titles and facts written with a key refuse to open without one."""
    with SupportDesk.open(keyed) as desk:
        thread = _conversation(desk)
    without = keyed.model_copy(update={"encryption_key": None})
    with SupportDesk.open(without) as desk:
        with pytest.raises(ConfigError, match="SUPPORT_ENCRYPTION_KEY") as caught:
            desk.view_thread("alice", thread)
        assert "no key is set" in str(caught.value)
        with pytest.raises(ConfigError, match=r"thread title.*SUPPORT_ENCRYPTION_KEY"):
            desk.list_threads("alice")
        with pytest.raises(ConfigError, match="SUPPORT_ENCRYPTION_KEY"):
            desk.remembered_profile("alice")


def test_a_wrong_key_is_a_clear_error_naming_the_setting(keyed):
    """Another key opens nothing and says so, instead of a MAC traceback."""
    with SupportDesk.open(keyed) as desk:
        thread = _conversation(desk)
    other = keyed.model_copy(update={"encryption_key": _secret(OTHER_KEY)})
    with SupportDesk.open(other) as desk:
        with pytest.raises(ConfigError, match="key differs") as caught:
            desk.view_thread("alice", thread)
        assert "SUPPORT_ENCRYPTION_KEY" in str(caught.value)
        with pytest.raises(ConfigError, match="SUPPORT_ENCRYPTION_KEY"):
            desk.list_threads("alice")
        with pytest.raises(ConfigError, match="SUPPORT_ENCRYPTION_KEY"):
            desk.ask("alice", "hello", thread_id=thread)


def test_the_cli_reports_a_missing_key_in_one_line(make_settings, tmp_path: Path):
    """No traceback: one `error:` line naming the setting."""
    settings = make_settings("sqlite", encryption_key=KEY, **SETTINGS)
    with SupportDesk.open(settings) as desk:
        thread = _conversation(desk)
    cli = Cli({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(settings.sqlite_path)},
              tmp_path)
    result = cli.run("show", "--user", "alice", thread)
    assert_one_error_line(result)
    assert "SUPPORT_ENCRYPTION_KEY" in result.stderr
    result = cli.run("show", "--user", "alice", thread,
                     env={"SUPPORT_ENCRYPTION_KEY": OTHER_KEY})
    assert_one_error_line(result)
    assert "SUPPORT_ENCRYPTION_KEY" in result.stderr
    assert cli.run("show", "--user", "alice", thread,
                   env={"SUPPORT_ENCRYPTION_KEY": KEY}).returncode == 0


def _secret(text: str):
    from pydantic import SecretStr

    return SecretStr(text)
