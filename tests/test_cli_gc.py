"""`support-agent gc`, each command a real separate process on a real SQLite file or
PostgreSQL database: the report, the flags, a dry run, and clear errors for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import Cli, assert_one_error_line, sqlite_env

from agent.service import SupportDesk
from agent.settings import load_settings
from agent.turns import thread_config


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def gc_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """A runner on a fresh SQLite file or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return Cli(sqlite_env(tmp_path), tmp_path)
    postgres_url = request.getfixturevalue("postgres_url")
    return Cli({"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": postgres_url}, tmp_path)


def checkpoints(cli: Cli, thread_id: str) -> int:
    """How many checkpoints the thread has, read through the saver."""
    settings = load_settings(**{
        "saver": cli.env["SUPPORT_SAVER"],
        **({"sqlite_path": cli.env["SUPPORT_SQLITE_PATH"]} if "SUPPORT_SQLITE_PATH" in cli.env
           else {"postgres_url": cli.env["SUPPORT_POSTGRES_URL"]})})
    with SupportDesk.open(settings) as desk:
        return len(list(desk.persistence.checkpointer.list(thread_config(thread_id))))


def a_long_thread(cli: Cli) -> str:
    thread_id = cli.ask("alice", "Where is ORD-1002?")["thread_id"]
    for order in ("ORD-1001", "ORD-1003"):
        cli.ask("alice", f"Where is {order}?", "--thread", thread_id)
    return thread_id


def test_off_says_so_and_changes_nothing(gc_cli: Cli) -> None:
    thread_id = a_long_thread(gc_cli)
    before = checkpoints(gc_cli, thread_id)
    result = gc_cli.ok("gc")
    assert "retention is off" in result.stdout
    assert "SUPPORT_RETENTION_KEEP_CHECKPOINTS" in result.stdout
    assert json.loads(gc_cli.ok("gc", "--json").stdout)["retention"] == "off"
    assert checkpoints(gc_cli, thread_id) == before


def test_dry_run_then_keep_prints_the_report(gc_cli: Cli) -> None:
    thread_id = a_long_thread(gc_cli)
    before = checkpoints(gc_cli, thread_id)

    dry = gc_cli.ok("gc", "--keep", "3", "--dry-run")
    assert "dry run: nothing was changed" in dry.stdout
    assert "Checkpoints would be deleted" in dry.stdout
    assert checkpoints(gc_cli, thread_id) == before

    report = gc_cli.ok("gc", "--keep", "3", "--json")
    data = json.loads(report.stdout)
    assert data["checkpoints_deleted"] == before - 3 and data["threads_trimmed"] == 1
    assert data["dry_run"] is False
    assert checkpoints(gc_cli, thread_id) == 3
    table = gc_cli.ok("gc", "--keep", "3")
    assert "Retention sweep" in table.stdout and "Threads scanned" in table.stdout
    again = gc_cli.ask("alice", "Where is ORD-1002?", "--thread", thread_id)
    assert again["status"] == "active"


def test_settings_drive_it_and_flags_override(gc_cli: Cli) -> None:
    thread_id = a_long_thread(gc_cli)
    data = json.loads(gc_cli.ok("gc", "--json",
                                env={"SUPPORT_RETENTION_KEEP_CHECKPOINTS": "5"}).stdout)
    assert data["policy"] == "keep the newest 5 checkpoints"
    assert checkpoints(gc_cli, thread_id) == 5
    data = json.loads(gc_cli.ok("gc", "--json", "--keep", "2",
                                env={"SUPPORT_RETENTION_KEEP_CHECKPOINTS": "5"}).stdout)
    assert data["policy"] == "keep the newest 2 checkpoints"
    assert checkpoints(gc_cli, thread_id) == 2


def test_idle_days_with_delete(gc_cli: Cli) -> None:
    """A thread touched just now is not idle for a day: nothing goes."""
    thread_id = a_long_thread(gc_cli)
    data = json.loads(gc_cli.ok("gc", "--idle-days", "1", "--strategy", "delete",
                                "--json").stdout)
    assert data["threads_deleted"] == 0 and data["policy"].endswith("idle over 1 days")
    assert checkpoints(gc_cli, thread_id) > 0


def test_vacuum_on_sqlite(tmp_path: Path) -> None:
    cli = Cli(sqlite_env(tmp_path), tmp_path)
    a_long_thread(cli)
    result = cli.ok("gc", "--vacuum", "--keep", "1")
    assert "full VACUUM" in result.stdout


@pytest.mark.parametrize(("flags", "words"), [
    (("--keep", "0"), "--keep must be at least 1"),
    (("--keep", "two"), "--keep must be a whole number"),
    (("--idle-days", "0"), "--idle-days must be a number of days above 0"),
    (("--idle-days", "soon"), "--idle-days must be a number of days above 0"),
    (("--idle-days", "nan"), "--idle-days must be a number of days above 0"),
    (("--keep", "2", "--strategy", "shred"), "--strategy must be keep_latest or delete"),
])
def test_bad_values_are_one_clear_error(tmp_path: Path, flags: tuple[str, ...],
                                        words: str) -> None:
    cli = Cli(sqlite_env(tmp_path), tmp_path)
    message = cli.fails("gc", *flags)
    assert words in message


def test_a_bad_setting_is_one_clear_error(tmp_path: Path) -> None:
    cli = Cli(sqlite_env(tmp_path), tmp_path)
    result = cli.run("gc", env={"SUPPORT_RETENTION_KEEP_CHECKPOINTS": "0"})
    assert result.returncode == 2
    assert_one_error_line(result)
    assert "SUPPORT_RETENTION_KEEP_CHECKPOINTS" in result.stderr
