"""Task 7 checks: list a thread's checkpoints, replay from one, fork from one.

Every check plays the same three-turn conversation into a checkpoint store the grader owns
(a SQLite file, or a throwaway PostgreSQL schema), then calls one of the learner's functions in
a fresh process. The orchestrator reads the store with its own saver and judges from what is
really there: which checkpoints exist, their parents, and the messages each one holds.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import langgraph.prebuilt  # noqa: F401 - preloaded, like exercises.kit below
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

# Imported once here (never used) so that every scenario's forked process starts with what a
# learner's file imports already loaded: a scenario then takes a fraction of a second.
import exercises.kit  # noqa: F401
from exercises.grader.checks import Check, CheckContext, CheckFailed, excerpt, require_function
from exercises.grader.learner import LearnerError
from exercises.grader.timeline import checkpoint_tuples, timeline
from exercises.tasks import Task

ASK_ORDER = "Where is ORD-1002?"
FORK_TEXT = "Where is ORD-1003?"
THANKS = "Thanks!"
SCENARIO_SECONDS = 20.0  # per scenario on PostgreSQL, so the schema is dropped even on a hang


def _turns(name: str) -> list[str]:
    return [f"Hi, my name is {name}.", ASK_ORDER, THANKS]


# --- the checkpoint stores -------------------------------------------------------------------

def _sqlite_saver(path: str) -> tuple[SqliteSaver, Callable[[], None]]:
    connection = sqlite3.connect(path, check_same_thread=False)
    return SqliteSaver(connection), connection.close


def _postgres_saver(url: str, schema: str) -> tuple[BaseCheckpointSaver, Callable[[], None]]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    connection = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row,
                                 options=f"-c search_path={schema}")
    saver = PostgresSaver(connection)
    saver.setup()
    return saver, connection.close


def _open_saver(store: dict[str, str]) -> tuple[BaseCheckpointSaver, Callable[[], None]]:
    if store["kind"] == "postgres":
        return _postgres_saver(store["url"], store["schema"])
    return _sqlite_saver(store["path"])


@contextmanager
def _reading(store: dict[str, str]) -> Iterator[BaseCheckpointSaver]:
    """The orchestrator's own saver on the learner's store, closed afterwards."""
    saver, close = _open_saver(store)
    try:
        yield saver
    finally:
        close()


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """A throwaway schema for one check, always dropped afterwards."""
    import psycopg

    schema = f"grade_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# --- scenarios: these run the learner's code, each in a fresh process ------------------------

def _agent(learner: ModuleType, store: dict[str, str]) -> Any:
    saver, _ = _open_saver(store)  # closed when the scenario's process ends
    graph = require_function(learner, "build_agent")(saver)
    if not callable(getattr(graph, "invoke", None)):
        raise LearnerError(f"build_agent(checkpointer) returned {type(graph).__name__}, not a "
                           "compiled graph (return builder.compile(checkpointer=checkpointer))")
    return graph


def _play(learner: ModuleType, store: dict[str, str], thread_id: str,
          turns: list[str]) -> list[str]:
    graph = _agent(learner, store)
    config = {"configurable": {"thread_id": thread_id}}
    replies = []
    for text in turns:
        result = graph.invoke({"messages": [HumanMessage(text)]}, config)
        replies.append(str(result["messages"][-1].text))
    return replies


def _history(learner: ModuleType, store: dict[str, str], thread_id: str) -> Any:
    graph = _agent(learner, store)
    listed = require_function(learner, "list_history")(graph, thread_id)
    if not isinstance(listed, list | tuple):
        return {"error": f"list_history() returned {type(listed).__name__}, not a list"}
    rows = []
    for item in listed:
        if not isinstance(item, Mapping):
            return {"error": f"list_history() returned a list holding {type(item).__name__}, "
                             "not dicts"}
        rows.append({key: _plain(item.get(key, "<missing>"))
                     for key in ("checkpoint_id", "step", "next", "messages")})
    return {"rows": rows}


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, int | str) or value is None:
        return value
    return repr(value)


def _replay(learner: ModuleType, store: dict[str, str], thread_id: str,
            checkpoint_id: str) -> dict[str, Any]:
    graph = _agent(learner, store)
    values = require_function(learner, "replay")(graph, thread_id, checkpoint_id)
    return _described_values(values)


def _described_values(values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        return {"error": f"replay() returned {type(values).__name__}; return the final state "
                         "values (what graph.invoke returns)"}
    messages = values.get("messages")
    if not isinstance(messages, list) or not messages:
        return {"error": "replay() returned state values without a list of messages: "
                         f"{excerpt(values)}"}
    return {"messages": [{"type": str(getattr(m, "type", type(m).__name__)),
                          "text": str(getattr(m, "text", m))} for m in messages]}


def _fork(learner: ModuleType, store: dict[str, str], thread_id: str, checkpoint_id: str,
          new_text: str) -> Any:
    graph = _agent(learner, store)
    head = require_function(learner, "fork")(graph, thread_id, checkpoint_id, new_text)
    return head if isinstance(head, str) else {"not_str": f"{head!r:.80} (a {type(head).__name__})"}


# --- what the store holds --------------------------------------------------------------------

def _snapshot(saver: BaseCheckpointSaver, thread_id: str) -> dict[str, dict[str, Any]]:
    """Every checkpoint of the thread by id: parent, source, step, versions, messages."""
    found = {}
    for item in checkpoint_tuples(saver, thread_id):
        values = item.checkpoint.get("channel_values", {})
        found[item.checkpoint["id"]] = {
            "id": item.checkpoint["id"],
            "parent": (item.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
            "source": item.metadata.get("source"),
            "step": item.metadata.get("step"),
            "seen": item.checkpoint.get("versions_seen", {}),
            "messages": [(str(getattr(m, "type", type(m).__name__)), str(getattr(m, "text", m)),
                          getattr(m, "id", None)) for m in values.get("messages", []) or []],
        }
    return found


def _label(checkpoint: dict[str, Any]) -> str:
    return f"step {checkpoint['step']} ({checkpoint['source']}, {checkpoint['id']})"


def _ancestors(found: dict[str, dict[str, Any]], checkpoint_id: str) -> list[str]:
    """The parent chain of a checkpoint, nearest first (the checkpoint itself excluded)."""
    chain, current = [], found[checkpoint_id]["parent"]
    while current and current in found and current not in chain:
        chain.append(current)
        current = found[current]["parent"]
    return chain


def _humans(checkpoint: dict[str, Any]) -> list[str]:
    return [text for kind, text, _ in checkpoint["messages"] if kind == "human"]


class _Played:
    """The conversation as the grader played it: the store, the thread, its checkpoints."""

    def __init__(self, context: CheckContext, store: dict[str, str],
                 run: Callable[..., Any]) -> None:
        (name,) = context.names(1)
        self.store = store
        self.thread_id = f"support-{name.lower()}-{context.rng.randrange(10**6)}"
        self.replies = run(_play, store, self.thread_id, _turns(name))
        with _reading(store) as saver:
            self.before = _snapshot(saver, self.thread_id)
        inputs = [c for c in self.before.values() if c["source"] == "input"]
        if len(inputs) != 3:
            raise CheckFailed(
                f"played three customer messages on a thread; the saver given to build_agent() "
                f"holds {len(self.before)} checkpoints, {len(inputs)} of them for new input",
                timeline=self.timeline(),
                expected="a graph compiled with the checkpointer it is given, checkpointing "
                         "every turn")
        if not self.replies[-1].strip():
            raise CheckFailed(f"the agent's reply to {THANKS!r} was empty",
                              timeline=self.timeline(), expected="a reply from the agent")
        self.turn3_input = inputs[2]
        self.head = self.before[max(self.before)]
        # Where the second customer message has just been received: a fork may edit it.
        self.received = next((c for c in self.before.values() if c["source"] == "loop"
                              and c["messages"] and c["messages"][-1][:2] == ("human", ASK_ORDER)),
                             None)
        if self.received is None:
            raise CheckFailed(f"no checkpoint of the thread ends with the customer message "
                              f"{ASK_ORDER!r}", timeline=self.timeline(),
                              expected="the agent's state holds the customer's messages in "
                                       "`messages`")

    def after(self) -> dict[str, dict[str, Any]]:
        """The thread's checkpoints now."""
        with _reading(self.store) as saver:
            return _snapshot(saver, self.thread_id)

    def timeline(self) -> list[dict[str, Any]]:
        """The thread's timeline now, for a failure report."""
        with _reading(self.store) as saver:
            return timeline(saver, self.thread_id)

    def fail(self, message: str, expected: str) -> CheckFailed:
        """A failure carrying the thread's timeline."""
        return CheckFailed(message, timeline=self.timeline(), expected=expected)


def _sqlite_store(context: CheckContext) -> dict[str, str]:
    return {"kind": "sqlite", "path": str(Path(context.workdir) / "threads.db")}


# --- judging ---------------------------------------------------------------------------------

def _judge_history(played: _Played, result: dict[str, Any]) -> None:
    if "error" in result:
        raise played.fail(result["error"], "a list of dicts, newest first")
    rows = result["rows"]
    truth = sorted(played.before.values(), key=lambda c: c["id"], reverse=True)
    want = [{"checkpoint_id": c["id"], "step": c["step"], "next": _next_nodes(c, played.before),
             "messages": len(c["messages"])} for c in truth]
    got_ids = [row["checkpoint_id"] for row in rows]
    want_ids = [row["checkpoint_id"] for row in want]
    expected = (f"{len(want)} dicts, newest first: " +
                ", ".join(f"step {w['step']} next={w['next']}" for w in want[:4]) + ", …")
    if sorted(map(str, got_ids)) != sorted(want_ids):
        missing = [w for w in want if w["checkpoint_id"] not in got_ids]
        extra = [i for i in got_ids if i not in want_ids]
        what = (f"missing {len(missing)}: " + ", ".join(f"step {w['step']}" for w in missing[:6])
                if missing else f"ids that are not checkpoints of the thread: {excerpt(extra)}")
        raise played.fail(f"the thread has {len(want)} checkpoints; list_history() returned "
                          f"{len(rows)} entries ({what})", expected)
    if got_ids != want_ids:
        steps = [row["step"] for row in rows]
        raise played.fail(f"list_history() has every checkpoint but in the wrong order: steps "
                          f"{steps}", expected + " (steps descending)")
    for row, good in zip(rows, want, strict=True):
        for key in ("step", "next", "messages"):
            value = sorted(row[key]) if key == "next" and isinstance(row[key], list) else row[key]
            if value != good[key]:
                raise played.fail(f"for checkpoint {good['checkpoint_id']} (step {good['step']}) "
                                  f"list_history() says {key}={row[key]!r}",
                                  f"{key}={good[key]!r}")


def _next_nodes(checkpoint: dict[str, Any], found: dict[str, dict[str, Any]]) -> list[str]:
    """What ran after a checkpoint: the nodes whose versions_seen moved in its loop child."""
    child = next((c for c in found.values() if c["parent"] == checkpoint["id"]
                  and c["source"] == "loop"), None)
    if child is None:  # the end of a turn (or of the thread): nothing is due to run
        return []
    before = checkpoint["seen"]
    return sorted(node for node, versions in child["seen"].items()
                  if node != "__interrupt__" and before.get(node) != versions)


def _judge_replay(played: _Played, result: dict[str, Any], *, where: str = "") -> None:
    start = played.turn3_input
    reply = played.replies[-1]
    asked = f"{where}replay() from {_label(start)}, the input checkpoint of {THANKS!r}"
    if "error" in result:
        raise played.fail(f"{asked}: {result['error']}", "the final state values")
    after = played.after()
    new = sorted(set(after) - set(played.before))
    if not new:
        raise played.fail(f"{asked} added no checkpoints: nothing ran",
                          "graph.invoke(None, config naming the thread and the checkpoint_id)")
    for checkpoint_id in new:
        for ancestor in _ancestors(after, checkpoint_id):
            if ancestor == start["id"]:
                break
            if ancestor not in new:
                raise played.fail(
                    f"{asked}: the new checkpoints continue from {_label(after[ancestor])}, "
                    "not from the checkpoint given", f"new checkpoints whose parent chain leads "
                    f"straight back to {start['id']}")
        else:
            raise played.fail(f"{asked}: new checkpoint {checkpoint_id} does not descend from "
                              "the checkpoint given", f"a branch from {start['id']}")
    sent = [after[i] for i in new if after[i]["source"] == "input"]
    head = after[new[-1]]
    humans, original = _humans(head), _humans(played.head)
    if sent or humans != original:
        raise played.fail(f"{asked} sent new input: the replayed conversation's customer "
                          f"messages are {excerpt(humans)}",
                          f"no new input (pass None), so the customer messages stay "
                          f"{excerpt(original)}")
    returned = result["messages"][-1]["text"]
    stored = head["messages"][-1][1] if head["messages"] else ""
    if stored != reply or returned != reply:
        raise played.fail(f"{asked}: the first run replied {excerpt(reply)}; the replay's last "
                          f"checkpoint ends with {excerpt(stored)} and replay() returned "
                          f"{excerpt(returned)}", f"the same reply, {excerpt(reply)}")


def _judge_fork(played: _Played, head_id: Any, new_text: str, *, where: str = "") -> None:
    given = played.received
    asked = (f"{where}fork() at {_label(given)} (it ends with {ASK_ORDER!r}) with "
             f"new_text={new_text!r}")
    after = played.after()
    if not isinstance(head_id, str) or head_id not in after:
        shown = head_id["not_str"] if isinstance(head_id, dict) else excerpt(head_id)
        raise played.fail(f"{asked} returned {shown}, which is not a checkpoint id of the "
                          "thread", "the id of the new branch's last checkpoint (a str)")
    if head_id in played.before:
        raise played.fail(f"{asked} returned {_label(after[head_id])}, which existed before "
                          "the fork", "the id of a checkpoint the fork created")
    head = after[head_id]
    if given["id"] not in _ancestors(after, head_id):
        gone = "" if given["id"] in after else " (that checkpoint no longer exists)"
        raise played.fail(f"{asked} returned {_label(head)}, which does not descend from the "
                          f"checkpoint given{gone}",
                          f"a branch whose parent chain reaches {given['id']}")
    position = len(given["messages"]) - 1
    humans = _humans(head)
    edited = head["messages"][position][:2] if len(head["messages"]) > position else None
    if edited != ("human", new_text) or ASK_ORDER in humans or len(humans) != len(_humans(given)):
        raise played.fail(f"{asked}: the fork's customer messages are {excerpt(humans)}",
                          f"{new_text!r} in place of {ASK_ORDER!r} (a HumanMessage with the "
                          "same id replaces it; a new id appends a second one)")
    last_kind, last_text, _ = head["messages"][-1]
    if last_kind != "ai" or "ORD-1003" not in last_text or "ORD-1002" in last_text:
        raise played.fail(f"{asked}: the fork's last message is {last_kind} "
                          f"{excerpt(last_text)}", "a reply about ORD-1003: run the graph from "
                          "the edited checkpoint (graph.invoke(None, its config))")


def _judge_original(played: _Played, head_id: Any, *, where: str = "") -> None:
    asked = f"{where}after fork() at {_label(played.received)}"
    after = played.after()
    new = set(after) - set(played.before)
    if not new:
        raise played.fail(f"{asked} the thread has no new checkpoints: the fork did not run",
                          "a new branch of checkpoints next to the original ones")
    for checkpoint_id, old in sorted(played.before.items()):
        now = after.get(checkpoint_id)
        if now is None:
            gone = len(set(played.before) - set(after))
            raise played.fail(f"{asked} {_label(old)} is gone (the original conversation "
                              f"had {len(played.before)} checkpoints, {gone} are missing)",
                              "every earlier checkpoint kept as it was")
        if now["messages"] != old["messages"] or now["parent"] != old["parent"]:
            raise played.fail(f"{asked} {_label(old)} changed: its customer messages were "
                              f"{excerpt(_humans(old))}, now {excerpt(_humans(now))}",
                              "earlier checkpoints never change")
    head = played.head
    continuing = sorted(i for i in new if head["id"] in _ancestors(after, i))
    if continuing:
        raise played.fail(f"{asked} the new checkpoints continue the original conversation "
                          f"from its last checkpoint, {_label(head)}, so its thread now reads "
                          f"{excerpt(_humans(after[continuing[-1]]))}",
                          "a new branch from the checkpoint given, leaving the original branch "
                          f"ending at {head['id']} with {excerpt(_humans(head))}")


# --- the checks ------------------------------------------------------------------------------

def check_history(context: CheckContext) -> None:
    """list_history() lists every checkpoint of the thread, newest first, correctly."""
    store = _sqlite_store(context)
    played = _Played(context, store, context.scenario)
    _judge_history(played, context.scenario(_history, store, played.thread_id))


def check_replay(context: CheckContext) -> None:
    """replay() from turn 3's input checkpoint branches from it with the same reply."""
    store = _sqlite_store(context)
    played = _Played(context, store, context.scenario)
    result = context.scenario(_replay, store, played.thread_id, played.turn3_input["id"])
    _judge_replay(played, result)


def check_fork(context: CheckContext) -> None:
    """fork() replaces the customer message and runs a branch from the checkpoint."""
    store = _sqlite_store(context)
    played = _Played(context, store, context.scenario)
    head = context.scenario(_fork, store, played.thread_id, played.received["id"], FORK_TEXT)
    _judge_fork(played, head, FORK_TEXT)


def check_original(context: CheckContext) -> None:
    """After fork(), every earlier checkpoint is as it was and the original head still ends."""
    store = _sqlite_store(context)
    played = _Played(context, store, context.scenario)
    head = context.scenario(_fork, store, played.thread_id, played.received["id"], FORK_TEXT)
    _judge_original(played, head)


def check_postgres(context: CheckContext) -> None:
    """replay() and fork() work the same on a PostgresSaver."""
    assert context.postgres_url  # the runner only runs this check with a URL

    def run(scenario: Callable[..., Any], *args: Any) -> Any:
        return context.result(context.start(scenario, *args), SCENARIO_SECONDS)

    with _postgres_schema(context.postgres_url) as schema:
        store = {"kind": "postgres", "url": context.postgres_url, "schema": schema}
        played = _Played(context, store, run)
        where = "on PostgreSQL, "
        replayed = run(_replay, store, played.thread_id, played.turn3_input["id"])
        _judge_replay(played, replayed, where=where)
        played.before = played.after()  # the replay's branch is now part of what was there
        head = run(_fork, store, played.thread_id, played.received["id"], FORK_TEXT)
        _judge_fork(played, head, FORK_TEXT, where=where)
        _judge_original(played, head, where=where)


TASK = Task(
    number=7, slug="task7_time_travel", title="Time travel: history, replay, fork", minutes=40,
    checks=(
        Check("history-complete", "list_history() lists every checkpoint, newest first", 3,
              "use graph.get_state_history(config): one StateSnapshot per checkpoint, newest "
              "first; the id is in snapshot.config['configurable'], the step in "
              "snapshot.metadata, next in snapshot.next", check_history),
        Check("replay-from-checkpoint", "replay() runs again from a checkpoint, no new input", 3,
              "invoke with None as the input and a config holding thread_id and "
              "checkpoint_id: LangGraph re-runs what was next there, on a new branch",
              check_replay),
        Check("fork-edits-message", "fork() edits the customer message and runs a new branch", 2,
              "update_state at the checkpoint (a config with thread_id, checkpoint_ns '' and "
              "checkpoint_id) with a HumanMessage carrying the old message's id, then "
              "invoke(None, the config update_state returns)", check_fork),
        Check("original-branch-unchanged", "fork() leaves the original branch as it was", 2,
              "fork from the checkpoint you are given, not the thread's latest one; never "
              "delete or rewrite checkpoints", check_original),
        Check("postgres", "replay() and fork() work on PostgreSQL (PostgresSaver)", 3,
              "use only the graph's API (get_state, get_state_history, update_state, invoke), "
              "nothing that depends on which saver stores the checkpoints", check_postgres,
              timeout=60, needs_postgres=True),
    ),
)
