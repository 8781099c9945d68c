"""A SQLite file the app cannot use gets one clear line naming the file and what is wrong.

Read-only, damaged, foreign and empty files are permanent problems (exit 2, "try again" would
mislead); SQL errors such as "no such table" are bugs, never "the backend is unavailable".
Tests run as root here, where chmod does not stop writes: the read-only cases use
`chattr +i` (immutable) as root and chmod otherwise, and skip if neither is possible.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_cli import Cli, assert_one_error_line

from agent.errors import ConfigError, SupportError, Unavailable
from agent.persistence.db import as_unavailable
from agent.persistence.savers import open_persistence
from agent.service import SupportDesk
from agent.settings import load_settings

PAGE = 4096  # SQLite's default page size, what the app's files use


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Make a file or folder unwritable for this process; undone afterwards."""
    undo: list[Callable[[], None]] = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            mode = path.stat().st_mode
            path.chmod(0o555 if path.is_dir() else 0o444)
            undo.append(lambda: path.chmod(mode))
            return
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("running as root, where chmod does not stop writes, and chattr "
                        "(e2fsprogs) is not installed to make the file immutable")
        done = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"running as root and this file system cannot make {path} immutable "
                        f"({done.stderr.strip()})")
        undo.append(lambda: subprocess.run([chattr, "-i", str(path)], check=True))

    yield make
    for step in reversed(undo):
        step()


def _cli(tmp_path: Path, db: Path) -> Cli:
    return Cli({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(db)}, tmp_path)


def _created(path: Path) -> Path:
    """A database the app created and closed cleanly (no -wal/-shm files left)."""
    open_persistence(load_settings(saver="sqlite", sqlite_path=path)).close()
    assert path.stat().st_size > 0
    return path


def _one_line(cli: Cli, code: int = 2) -> str:
    result = cli.run("ask", "--user", "alice", "hello")
    assert result.returncode == code, result.stderr
    assert_one_error_line(result)
    return result.stderr.strip()


def test_read_only_file_is_named_at_start(tmp_path: Path, read_only) -> None:
    """Not a traceback on the first write: the file is refused as read-only when opened."""
    db = _created(tmp_path / "data" / "support.db")
    read_only(db)
    with pytest.raises(ConfigError, match=rf"{db}.*read-only"):
        open_persistence(load_settings(saver="sqlite", sqlite_path=db))
    line = _one_line(_cli(tmp_path, db))
    assert str(db) in line and "read-only" in line


def test_read_only_folder_of_an_existing_database(tmp_path: Path, read_only) -> None:
    """SQLite must create its -wal file beside the database: the message names the folder."""
    db = _created(tmp_path / "data" / "support.db")
    read_only(db.parent)
    line = _one_line(_cli(tmp_path, db))
    assert str(db.parent) in line and "not writable" in line


def test_new_database_in_a_read_only_folder(tmp_path: Path, read_only) -> None:
    """A new file cannot be created there: one line, not a PermissionError traceback."""
    folder = tmp_path / "data"
    folder.mkdir()
    read_only(folder)
    line = _one_line(_cli(tmp_path, folder / "support.db"))
    assert str(folder) in line and "not writable" in line


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    """Random bytes: permanent, so exit 2 and no "try again"."""
    db = tmp_path / "data" / "support.db"
    db.parent.mkdir()
    db.write_bytes(os.urandom(3 * PAGE))
    line = _one_line(_cli(tmp_path, db))
    assert str(db) in line and "not a SQLite database" in line and "try again" not in line


@pytest.mark.parametrize("damage", [(100, PAGE - 100), (2 * PAGE, None)],
                         ids=["schema-page", "every-page-after-the-second"])
def test_damaged_database(tmp_path: Path, damage: tuple[int, int | None]) -> None:
    """A malformed database image is permanent: exit 2 naming the file, not "try again"."""
    db = _created(tmp_path / "data" / "support.db")
    start, length = damage
    with open(db, "r+b") as handle:
        handle.seek(start)
        handle.write(b"\x5a" * (length or db.stat().st_size - start))
    line = _one_line(_cli(tmp_path, db))
    assert str(db) in line and "damaged" in line and "try again" not in line


def test_empty_file_is_refused_not_seeded(tmp_path: Path) -> None:
    """A 0-byte file is not a database the app created: refused, and left as it was."""
    db = tmp_path / "data" / "support.db"
    db.parent.mkdir()
    db.touch()
    with pytest.raises(ConfigError, match=rf"{db} is empty"):
        open_persistence(load_settings(saver="sqlite", sqlite_path=db))
    line = _one_line(_cli(tmp_path, db))
    assert str(db) in line and "empty" in line
    assert db.stat().st_size == 0, "nothing was written into the empty file"


def test_missing_file_is_created(tmp_path: Path) -> None:
    """A brand-new path (no file yet) is the normal first start: created and ready."""
    db = tmp_path / "data" / "support.db"
    with SupportDesk.open(load_settings(saver="sqlite", sqlite_path=db)) as desk:
        assert desk.ask("alice", "hello").reply
    assert db.stat().st_size > 0


def test_missing_table_is_a_bug_not_an_outage(tmp_path: Path) -> None:
    """"no such table" surfaces as the SQL error it is, never as "unavailable, try again"."""
    db = tmp_path / "data" / "support.db"
    with SupportDesk.open(load_settings(saver="sqlite", sqlite_path=db)) as desk:
        thread = desk.ask("alice", "hello").thread_id
        with sqlite3.connect(db) as other:
            other.execute("DROP TABLE checkpoints")
        with pytest.raises(sqlite3.OperationalError, match="no such table") as raised:
            desk.ask("alice", "hello again", thread_id=thread)
        assert not isinstance(raised.value, SupportError)


def test_sqlite_errors_are_classified_by_what_retrying_could_do() -> None:
    """Busy and I/O trouble may pass (Unavailable); file problems are permanent; SQL is a bug."""

    def error(code: int, name: str, text: str) -> sqlite3.OperationalError:
        exc = sqlite3.OperationalError(text)
        exc.sqlite_errorcode, exc.sqlite_errorname = code, name
        return exc

    assert isinstance(as_unavailable(error(5, "SQLITE_BUSY", "database is locked")),
                      Unavailable)
    assert isinstance(as_unavailable(error(8, "SQLITE_READONLY",
                                           "attempt to write a readonly database")),
                      ConfigError)
    assert isinstance(as_unavailable(error(11, "SQLITE_CORRUPT",
                                           "database disk image is malformed")),
                      ConfigError)
    assert as_unavailable(error(1, "SQLITE_ERROR", "no such table: threads")) is None
