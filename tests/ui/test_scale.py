"""The UI stays bounded at scale: 1,000 threads for one user, 1,000 checkpoints in one thread.

Each page must render one page of data (15 threads in the chat sidebar, 20 checkpoints in
the history timeline, at most 50 threads to choose from) with a pager, whatever the totals.
These are assertions on how much is rendered, not on time; bench/ui_scale.py measures time.

The database is built once for the module (about 250 real turns take a few seconds) and
only read by the tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk
from agent.settings import load_settings

THREADS = 1_000
CHECKPOINTS = 1_000
THREAD_PAGE = 15  # ui/views/chat.py PAGE_SIZE
TIMELINE_PAGE = 20  # ui/views/history.py PAGE_SIZE
THREAD_CHOICES = 50  # ui/views/history.py THREAD_CHOICES
# A short, mixed script: chat turns write 4 checkpoints, tool turns 6.
SCRIPT = ("Where is ORD-1002?", "hello", "My name is Alice", "Thanks!", "list my orders")
BUILD_BUDGET_SECONDS = 240  # generous: the build takes a few seconds on an idle machine


class Scale:
    """What the module's database holds."""

    def __init__(self, path: Path, long_thread: str, checkpoints: int, build_seconds: float):
        self.path = path
        self.long_thread = long_thread
        self.checkpoints = checkpoints
        self.build_seconds = build_seconds


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scale]:
    """alice with 1,000 threads; the newest has over 1,000 checkpoints."""
    folder = tmp_path_factory.mktemp("ui-scale")
    path = folder / "support.db"
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        # Module fixtures run before the per-test isolation: keep the same isolation here.
        for name in list(os.environ):
            if name.startswith(("SUPPORT_", "OPENAI_")):
                patch.delenv(name)
        patch.chdir(folder)
        with SupportDesk.open(load_settings(saver="sqlite", sqlite_path=path)) as desk:
            alice = desk.user("alice")
            # The thread list reads only the registry, so empty registered threads are real
            # list entries; a few real conversations sit among them.
            for number in range(THREADS - 4):
                desk.threads.create(alice.tenant, alice.user_id, f"Old question {number:04d}")
            for text in SCRIPT[:3]:
                desk.ask("alice", text)
            long_thread = desk.create_thread("alice", "The long one").thread_id
            turn = 0
            while True:
                for _ in range(50):
                    desk.ask("alice", SCRIPT[turn % len(SCRIPT)], thread_id=long_thread)
                    turn += 1
                checkpoints = len(desk.export_thread("alice", long_thread)["checkpoints"])
                if checkpoints >= CHECKPOINTS:
                    break
            assert desk.list_threads("alice").total == THREADS
    elapsed = time.perf_counter() - started
    assert elapsed < BUILD_BUDGET_SECONDS, f"building the scale database took {elapsed:.0f}s"
    yield Scale(path, long_thread, checkpoints, elapsed)


@pytest.fixture
def db_path(scale: Scale, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app (and the `desk` fixture) open the module's scale database."""
    monkeypatch.setenv("SUPPORT_SAVER", "sqlite")
    monkeypatch.setenv("SUPPORT_SQLITE_PATH", str(scale.path))
    return scale.path


def thread_buttons(at: AppTest) -> list:
    """The sidebar's thread buttons."""
    return [b for b in at.sidebar.button if (b.key or "").startswith("thread-")]


def older(at: AppTest):
    """The history timeline's Older button."""
    [found] = [b for b in at.button if b.label == "Older"]
    return found


def no_exception(at: AppTest) -> None:
    """Fail with the exception's text if the app showed one."""
    assert not at.exception, [e.value for e in at.exception]


def test_scale_database_is_as_described(scale: Scale, desk: SupportDesk) -> None:
    """1,000 threads for alice; the long thread has at least 1,000 checkpoints."""
    assert desk.list_threads("alice", limit=1).total == THREADS
    assert scale.checkpoints >= CHECKPOINTS
    print(f"\nbuilt in {scale.build_seconds:.1f}s: {THREADS} threads, "
          f"{scale.checkpoints} checkpoints in the long thread")


def test_chat_sidebar_renders_one_page_of_threads(open_app, desk: SupportDesk) -> None:
    """15 thread buttons and a pager that shows the total, of 1,000 threads."""
    at = open_app("alice")
    no_exception(at)
    buttons = thread_buttons(at)
    assert len(buttons) == THREAD_PAGE
    newest = desk.list_threads("alice", limit=THREAD_PAGE).threads
    assert [b.key for b in buttons] == [f"thread-{t.thread_id}" for t in newest]
    assert f"1-{THREAD_PAGE} of {THREADS}" in [c.value for c in at.sidebar.caption]
    assert at.button(key="threads-newer").disabled
    assert not at.button(key="threads-older").disabled


def test_chat_sidebar_pages_through_threads(open_app, desk: SupportDesk) -> None:
    """Older shows the next 15 (still 15 buttons); Newer goes back."""
    at = open_app("alice")
    first = [b.key for b in thread_buttons(at)]
    at.button(key="threads-older").click().run()
    no_exception(at)
    second = [b.key for b in thread_buttons(at)]
    assert len(second) == THREAD_PAGE and not set(first) & set(second)
    expected = desk.list_threads("alice", limit=THREAD_PAGE, offset=THREAD_PAGE).threads
    assert second == [f"thread-{t.thread_id}" for t in expected]
    assert f"{THREAD_PAGE + 1}-{2 * THREAD_PAGE} of {THREADS}" in \
        [c.value for c in at.sidebar.caption]
    at.button(key="threads-newer").click().run()
    assert [b.key for b in thread_buttons(at)] == first


def test_chat_opens_the_long_thread(open_app, scale: Scale) -> None:
    """Opening the 1,000-checkpoint thread shows its current messages (pruned, bounded)."""
    at = open_app("alice")
    at.button(key=f"thread-{scale.long_thread}").click().run()
    no_exception(at)
    assert [s.value for s in at.subheader] == ["The long one"]
    # The state is kept short by summarising and pruning (40 messages at most).
    assert 0 < len(at.main.chat_message) <= 40
    assert any(e.label == "Summary of earlier messages" for e in at.expander)


def test_history_timeline_renders_one_page(open_app, desk: SupportDesk, scale: Scale) -> None:
    """20 timeline rows of 1,000+ checkpoints, at most 50 threads to choose from."""
    at = open_app("alice").switch_page("views/history.py").run()
    no_exception(at)
    picker = at.selectbox(key="history_pick")
    assert picker.value == scale.long_thread  # the newest thread
    assert len(picker.options) == THREAD_CHOICES
    [table] = at.dataframe
    rows = table.value
    assert len(rows) == TIMELINE_PAGE
    newest = desk.history("alice", scale.long_thread, limit=TIMELINE_PAGE)
    assert list(rows["checkpoint"]) == [c.checkpoint_id for c in newest]
    assert not older(at).disabled


def test_history_pages_deep_into_the_long_thread(open_app, desk: SupportDesk,
                                                 scale: Scale) -> None:
    """Each Older click loads the next 20 rows, never more."""
    at = open_app("alice").switch_page("views/history.py").run()
    seen: list[str] = []
    for page in range(1, 6):
        [table] = at.dataframe
        rows = list(table.value["checkpoint"])
        assert len(rows) == TIMELINE_PAGE
        assert any(f"page {page} " in c.value for c in at.caption)
        seen += rows
        older(at).click().run()
        no_exception(at)
    expected = []
    before = None
    while len(expected) < len(seen):  # the same pages, straight from the façade
        page_infos = desk.history("alice", scale.long_thread, limit=TIMELINE_PAGE, before=before)
        expected += [c.checkpoint_id for c in page_infos]
        before = page_infos[-1].checkpoint_id
    assert seen == expected
    assert len(set(seen)) == len(seen)


def test_history_state_of_a_checkpoint_at_scale(open_app, scale: Scale) -> None:
    """Selecting a checkpoint of the long thread shows its (bounded) state."""
    at = open_app("alice").switch_page("views/history.py").run()
    [table] = at.dataframe
    at.session_state[table.key] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    no_exception(at)
    assert [t.label for t in at.tabs] == ["Messages", "Summary", "Changes"]  # raw: supervisors
    assert 0 < len(at.tabs[0].chat_message) <= 40


def test_supervisor_history_offers_at_most_fifty_threads(open_app) -> None:
    """sam's tenant has 1,000+ threads; the picker offers the 50 most recent."""
    at = open_app("sam").switch_page("views/history.py").run()
    no_exception(at)
    assert len(at.selectbox(key="history_pick").options) == THREAD_CHOICES
    assert len(at.dataframe[0].value) == TIMELINE_PAGE
