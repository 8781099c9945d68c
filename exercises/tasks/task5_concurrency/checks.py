"""Task 5 checks: many customers at once, each (user, session) on its own, stable thread."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

import langgraph.graph  # imported once here, so that forked scenarios start warm
import langgraph.prebuilt  # noqa: F401
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

import exercises
import exercises.kit  # what every solution imports: warm, as above
from exercises.grader.checks import (
    Check,
    CheckContext,
    CheckFailed,
    excerpt,
    require_function,
    unwrap,
)
from exercises.grader.forking import Forked
from exercises.grader.learner import LearnerError, describe, load_module
from exercises.grader.timeline import checkpoint_tuples, timeline
from exercises.tasks import Task

ASK = "What's my name?"
# Separators a learner might join the two ids with; each gets a pair of ids that a plain
# join with it would turn into the same thread id.
SEPARATORS = ("-", ":", "/", "|", "_", ".", " ", "#", "@", "+", ",", ";", "=", "&", "\\",
              "::", "--", "__", "\n", "\t")


def _tell(name: str) -> str:
    return f"Hi, my name is {name}."


def _email(name: str) -> str:
    return f"{name.lower()}@example.com"


# ----------------------------------------------------------------- inside the learner's process


def _thread_id(config: Any, user: str, session: str) -> str:
    """The thread id in a config from session_config, or a LearnerError saying what is wrong."""
    configurable = config.get("configurable") if isinstance(config, dict) else None
    thread = configurable.get("thread_id") if isinstance(configurable, dict) else None
    if thread is None or thread == "":
        raise LearnerError(f"session_config({user!r}, {session!r}) returned {excerpt(config)}; "
                           "it must return {'configurable': {'thread_id': ...}}")
    return str(thread)


def _configure(learner: ModuleType, user: str, session: str) -> tuple[dict, str]:
    """session_config(user, session) and the thread id it names."""
    config = require_function(learner, "session_config")(user, session)
    return config, _thread_id(config, user, session)


def _say(graph: Any, config: dict, text: str, message_id: str) -> str:
    """Invoke the learner's graph with one customer message the way an app would; the reply."""
    # The message id says which customer wrote it, wherever the learner's graph stores it.
    result = graph.invoke({"messages": [HumanMessage(text, id=message_id)]}, config)
    try:
        return str(result["messages"][-1].text)
    except (TypeError, KeyError, IndexError, AttributeError) as exc:
        raise LearnerError("graph.invoke(...) did not return a state whose 'messages' end with "
                           f"the reply; it returned {excerpt(result)}") from exc


def _human_messages(graph: Any, config: dict) -> list[dict[str, str]]:
    """The customer messages in the thread's latest state, as the learner's graph reports it."""
    values = getattr(graph.get_state(config), "values", None)
    messages = values.get("messages", []) if isinstance(values, dict) else []
    return [{"id": str(m.id), "text": str(m.text)} for m in messages or []
            if isinstance(m, HumanMessage)]


def _timeline_of(graph: Any, thread: str) -> list[dict[str, Any]] | None:
    """The thread's checkpoint timeline, if the graph has a saver the grader can read."""
    saver = getattr(graph, "checkpointer", None)
    if not isinstance(saver, BaseCheckpointSaver):
        return None
    try:
        return timeline(saver, thread)
    except Exception:  # a timeline is a courtesy, never the reason to fail
        return None


def _users_in_threads(learner: ModuleType, db_path: str, users: list[str], names: list[str],
                      session: str, token: str) -> list[dict[str, Any]]:
    """Every user talks at once, each in a Python thread, all through one compiled graph."""
    graph = require_function(learner, "build_agent")(db_path)
    # All introductions happen before any question, so a shared thread cannot hide.
    barrier = threading.Barrier(len(users), timeout=20)
    results: list[dict[str, Any]] = [{} for _ in users]
    configs: list[dict] = [{} for _ in users]
    errors: list[BaseException] = []

    def customer(index: int) -> None:
        try:
            config, thread = _configure(learner, users[index], session)
            configs[index], results[index]["thread"] = config, thread
            _say(graph, config, _tell(names[index]), f"{token}-{index}-tell")
            barrier.wait()
            config, _ = _configure(learner, users[index], session)
            results[index]["asked"] = _say(graph, config, ASK, f"{token}-{index}-ask")
        except threading.BrokenBarrierError:
            pass  # another customer's run failed; that error is the one reported
        except BaseException as exc:  # re-raised below, in the main thread
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=customer, args=(i,)) for i in range(len(users))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    unfinished = [users[i] for i, result in enumerate(results) if "asked" not in result]
    if unfinished:
        raise LearnerError(f"the conversations of {', '.join(unfinished)} did not finish: "
                           "their first message took more than 20 s")
    for config, result in zip(configs, results, strict=True):
        try:
            result["humans"] = _human_messages(graph, config)
        except Exception as exc:  # judged by the check, after the replies
            result["state_error"] = describe(exc, Path(learner.__file__))
        result["timeline"] = _timeline_of(graph, result["thread"])
    return results


def _user_in_process(learner: ModuleType, db_path: str, user: str, name: str, session: str,
                     message_id: str, gate: str, count: int) -> dict[str, str]:
    """One user in this process: introduce, wait for the other processes, then ask."""
    graph = require_function(learner, "build_agent")(db_path)
    config, thread = _configure(learner, user, session)
    _arrive(Path(gate), "ready", message_id, count)
    _say(graph, config, _tell(name), f"{message_id}-tell")
    _arrive(Path(gate), "told", message_id, count)
    config, _ = _configure(learner, user, session)
    return {"thread": thread, "asked": _say(graph, config, ASK, f"{message_id}-ask")}


def _arrive(gate: Path, stage: str, who: str, count: int, limit: float = 15.0) -> None:
    """A barrier between processes: mark this one as at `stage`, wait (a while) for the rest."""
    (gate / f"{stage}-{who}").touch()
    deadline = time.monotonic() + limit
    while len(list(gate.glob(f"{stage}-*"))) < count and time.monotonic() < deadline:
        time.sleep(0.002)  # short, so the processes set off together


def _two_sessions(learner: ModuleType, db_path: str, user: str, name: str,
                  sessions: list[str], token: str) -> dict[str, Any]:
    """Introduce yourself in one session, then ask in the other session and in the first."""
    graph = require_function(learner, "build_agent")(db_path)
    first, first_thread = _configure(learner, user, sessions[0])
    second, second_thread = _configure(learner, user, sessions[1])
    _say(graph, first, _tell(name), f"{token}-tell")
    other = _say(graph, second, ASK, f"{token}-ask-other")
    same = _say(graph, _configure(learner, user, sessions[0])[0], ASK, f"{token}-ask-same")
    return {"threads": [first_thread, second_thread], "other": other, "same": same,
            "timeline": _timeline_of(graph, second_thread)}


def _introduce(learner: ModuleType, db_path: str, user: str, session: str, name: str,
               message_id: str) -> dict[str, str]:
    """The first visit: build the agent, introduce yourself on (user, session)."""
    graph = require_function(learner, "build_agent")(db_path)
    config, thread = _configure(learner, user, session)
    return {"thread": thread, "told": _say(graph, config, _tell(name), message_id)}


def _ask_once(learner: ModuleType, db_path: str, user: str, session: str,
              message_id: str) -> dict[str, str]:
    """A later visit: build the agent again, ask on the same (user, session)."""
    graph = require_function(learner, "build_agent")(db_path)
    config, thread = _configure(learner, user, session)
    return {"thread": thread, "asked": _say(graph, config, ASK, message_id)}


def _ask_in_new_interpreter(learner: ModuleType, learner_path: str, db_path: str, user: str,
                            session: str, message_id: str, hash_seed: int) -> dict[str, str]:
    """Run _ask_once in a brand-new Python (not a fork): a restarted server, as it were."""
    # A fork shares its parent's string-hash seed; a new interpreter, like a restarted app,
    # gets a different one, which is what unmasks a thread id built with hash().
    folder = Path(db_path).parent
    args = {"learner_path": learner_path, "db_path": db_path, "user": user, "session": session,
            "message_id": message_id, "result_path": str(folder / "fresh-result.json")}
    args_path = folder / "fresh-args.json"
    args_path.write_text(json.dumps(args))
    code = ("import sys; from exercises.tasks.task5_concurrency.checks import _fresh_main; "
            "_fresh_main(sys.argv[1])")
    # The grader's own package must be importable there, however this grader was started.
    package_root = str(Path(exercises.__file__).resolve().parent.parent)
    python_path = os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": python_path}
    try:
        done = subprocess.run([sys.executable, "-c", code, str(args_path)], env=env,
                              capture_output=True, text=True, timeout=25, check=False)
    except subprocess.TimeoutExpired:
        raise LearnerError("your code did not finish within 25 s in a new Python process",
                           timed_out=True) from None
    try:
        payload = json.loads(Path(args["result_path"]).read_text())
    except (OSError, ValueError):
        raise LearnerError("a new Python process loading your file ended without an answer: "
                           f"{excerpt(done.stderr[-600:], 600)}") from None
    if payload["status"] != "ok":
        raise LearnerError(payload["error"])
    return payload["value"]


def _fresh_main(args_path: str) -> None:
    """The new interpreter's entry point: load the learner's file, ask once, write the result."""
    args = json.loads(Path(args_path).read_text())
    path = Path(args["learner_path"])
    try:
        value = _ask_once(load_module(path), args["db_path"], args["user"], args["session"],
                          args["message_id"])
        payload = {"status": "ok", "value": value}
    except BaseException as exc:  # reported as the learner's error
        payload = {"status": "error", "error": describe(exc, path)}
    Path(args["result_path"]).write_text(json.dumps(payload, default=str))


def _lookalike_pairs(learner: ModuleType, db_path: str, name: str,
                     token: str) -> list[dict[str, Any]]:
    """For each separator, two (user, session) pairs that a plain join would merge: tell, ask."""
    graph = require_function(learner, "build_agent")(db_path)
    results = []
    for index, sep in enumerate(SEPARATORS):
        left = (f"acct{index}{sep}7", "web")
        right = (f"acct{index}", f"7{sep}web")
        left_config, left_thread = _configure(learner, *left)
        right_config, right_thread = _configure(learner, *right)
        result = {"left": left, "right": right, "threads": [left_thread, right_thread]}
        # Different thread ids are different threads; only the first pair (to show the test
        # itself works) and pairs given one thread id need a conversation to judge them.
        if index == 0 or left_thread == right_thread:
            _say(graph, left_config, _tell(name), f"{token}-{index}-tell")
            result["other"] = _say(graph, right_config, ASK, f"{token}-{index}-other")
            result["same"] = _say(graph, _configure(learner, *left)[0], ASK,
                                  f"{token}-{index}-same")
        results.append(result)
    return results


# ------------------------------------------------------------------------ the grader's side


def _owners(humans: list[dict[str, str]], token: str, names: list[str]) -> set[int]:
    """Which of the check's customers wrote these messages (by message id, else by name)."""
    found = set()
    for message in humans:
        parts = message["id"].split("-")
        if message["id"].startswith(f"{token}-") and len(parts) > 1 and parts[1].isdigit():
            found.add(int(parts[1]))
            continue
        found.update(i for i, name in enumerate(names) if _tell(name) in message["text"])
    return found


def _wrong_replies(users: list[str], names: list[str],
                   replies: list[str]) -> list[tuple[int, str]]:
    """(customer, why) for each reply to "What's my name?" that is not that customer's name."""
    wrong = []
    for i, reply in enumerate(replies):
        others = [n for j, n in enumerate(names) if j != i and n in reply]
        if names[i] not in reply or others:
            wrong.append((i, f"{users[i]} (told {_tell(names[i])!r}) asked {ASK!r} and got "
                             f"{excerpt(reply)}"))
    return wrong


def _file_threads(db_path: Path) -> dict[str, list[dict[str, str]]]:
    """Every thread in the learner's SQLite file and the customer messages it ever held."""
    if not db_path.exists():
        return {}
    with closing(sqlite3.connect(db_path, timeout=30)) as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "checkpoints" not in tables:
            return {}
        ids = [row[0] for row in connection.execute(
            "SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id")]
        saver = SqliteSaver(connection)
        threads = {}
        for thread in ids:
            seen: dict[str, dict[str, str]] = {}
            # Every checkpoint, not only the latest: concurrent writers may have branched it.
            for item in checkpoint_tuples(saver, thread):
                for m in item.checkpoint.get("channel_values", {}).get("messages", []) or []:
                    if isinstance(m, HumanMessage):
                        seen.setdefault(str(m.id), {"id": str(m.id), "text": str(m.text)})
            threads[thread] = list(seen.values())
        return threads


def _file_timeline(db_path: Path, thread: str) -> list[dict[str, Any]] | None:
    """A thread's timeline read from the learner's SQLite file."""
    if not db_path.exists():
        return None
    try:
        with closing(sqlite3.connect(db_path, timeout=30)) as connection:
            return timeline(SqliteSaver(connection), thread)
    except Exception:  # a timeline is a courtesy, never the reason to fail
        return None


def _gather(running: list[Forked], limit: float) -> list[Any]:
    """Every forked user's value; the first error or time-out ends the others at once."""
    values: dict[int, Any] = {}
    try:
        while len(values) < len(running):
            for index, forked in enumerate(running):
                if index in values:
                    continue
                late = time.monotonic() - forked.started >= limit
                outcome = forked.wait(limit) if late else forked.poll()
                if outcome is not None:
                    values[index] = unwrap(outcome)  # raises the learner's error
            time.sleep(0.01)
    finally:
        for index, forked in enumerate(running):
            if index not in values and forked.poll() is None:
                forked.kill()
    return [values[index] for index in range(len(running))]


def _token(context: CheckContext) -> str:
    return f"m{context.rng.randrange(10**6)}"


def check_threads(context: CheckContext) -> None:
    """Six users at once in Python threads, one graph: each gets their own conversation."""
    names = context.names(6)
    users = [_email(name) for name in names]
    token = _token(context)
    results = context.scenario(_users_in_threads, str(context.workdir / "threads.sqlite"),
                               users, names, "s1", token)
    wrong = _wrong_replies(users, names, [r["asked"] for r in results])
    if wrong:
        raise CheckFailed(f"{len(users)} users talked at once, all with session id 's1'; "
                          f"{len(wrong)} got the wrong answer: "
                          + "; ".join(why for _, why in wrong[:3]),
                          timeline=results[wrong[0][0]]["timeline"],
                          expected="each user's reply names that user, and only that user")
    for i, result in enumerate(results):
        if "state_error" in result:
            raise CheckFailed(f"graph.get_state(session_config({users[i]!r}, 's1')) failed: "
                              f"{result['state_error']}",
                              expected="the thread's state, with the user's messages")
        owners = _owners(result["humans"], token, names)
        if i not in owners:
            raise CheckFailed(f"the state of {users[i]}'s thread {excerpt(result['thread'])} "
                              "does not hold their own messages "
                              f"({excerpt([h['text'] for h in result['humans']])})",
                              timeline=result["timeline"],
                              expected=f"the thread holds {users[i]}'s two messages")
        if owners != {i}:
            strangers = ", ".join(users[j] for j in sorted(owners - {i}))
            raise CheckFailed(f"the state of {users[i]}'s thread {excerpt(result['thread'])} "
                              f"also holds messages from {strangers}",
                              timeline=result["timeline"],
                              expected="each thread holds one user's messages only")


def check_processes(context: CheckContext) -> None:
    """Four users at once in separate processes on one SQLite file stay apart."""
    names = context.names(4)
    users = [_email(name) for name in names]
    token = _token(context)
    db_path = context.workdir / "processes.sqlite"
    gate = context.workdir / "gate"
    gate.mkdir()
    # LangGraph's tables exist before the users arrive: four first-time setups racing on a new
    # file can fail at once with "database is locked" whatever the timeout, which is SQLite's
    # start-up, not the learner's thread isolation that this check is about.
    with closing(sqlite3.connect(db_path)) as connection:
        SqliteSaver(connection).setup()
    running = [context.start(_user_in_process, str(db_path), users[i], names[i], "s1",
                             f"{token}-{i}", str(gate), len(users)) for i in range(len(users))]
    results = _gather(running, limit=30)
    wrong = _wrong_replies(users, names, [r["asked"] for r in results])
    if wrong:
        raise CheckFailed(f"{len(users)} users talked at once from {len(users)} processes, all "
                          f"with session id 's1'; {len(wrong)} got the wrong answer: "
                          + "; ".join(why for _, why in wrong[:3]),
                          timeline=_file_timeline(db_path, results[wrong[0][0]]["thread"]),
                          expected="each user's reply names that user, and only that user")
    threads = _file_threads(db_path)
    owners = {thread: _owners(humans, token, names) for thread, humans in threads.items()}
    for i in range(len(users)):
        if not any(i in found for found in owners.values()):
            raise CheckFailed(f"{users[i]}'s messages are not in the SQLite file given to "
                              f"build_agent(db_path) (threads there: {excerpt(list(threads))})",
                              expected="every process checkpoints into the one file at "
                                       "db_path (a SqliteSaver on it)")
    for thread, found in owners.items():
        if len(found) > 1:
            mixed = ", ".join(users[j] for j in sorted(found))
            raise CheckFailed(f"thread {excerpt(thread)} in the SQLite file holds messages "
                              f"from {len(found)} users: {mixed}",
                              timeline=_file_timeline(db_path, thread),
                              expected="each thread holds one user's messages only")


def check_sessions(context: CheckContext) -> None:
    """Two sessions of one user are two conversations."""
    (name,) = context.names(1)
    user = _email(name)
    sessions = ["chat-1", "chat-2"]
    result = context.scenario(_two_sessions, str(context.workdir / "sessions.sqlite"), user,
                              name, sessions, _token(context))
    said = f"{user} said {_tell(name)!r} in session 'chat-1'"
    if name not in result["same"]:
        raise CheckFailed(f"{said}, then asked {ASK!r} in the same session and got "
                          f"{excerpt(result['same'])} (thread {excerpt(result['threads'][0])})",
                          expected=f"session 'chat-1' remembers {name}")
    if not result["other"].strip():
        raise CheckFailed(f"{said}; asking {ASK!r} in session 'chat-2' got an empty reply")
    if name in result["other"]:
        raise CheckFailed(f"{said}; asking {ASK!r} in session 'chat-2' got "
                          f"{excerpt(result['other'])}: session_config gave thread ids "
                          f"{excerpt(result['threads'][0])} and {excerpt(result['threads'][1])}",
                          timeline=result["timeline"],
                          expected="session 'chat-2' starts empty: it does not know the name")


def check_continues(context: CheckContext) -> None:
    """The same (user, session) continues its conversation in a later, fresh process."""
    (name,) = context.names(1)
    user, session = _email(name), f"order-help-{context.rng.randrange(100, 1000)}"
    db_path = str(context.workdir / "continue.sqlite")
    token = _token(context)
    first = context.scenario(_introduce, db_path, user, session, name, f"{token}-tell")
    later = context.scenario(_ask_in_new_interpreter, str(context.learner_path), db_path, user,
                             session, f"{token}-ask", context.rng.randrange(1, 2**31))
    if name in later["asked"]:
        return
    story = (f"{user} said {_tell(name)!r} in session {session!r} (thread "
             f"{excerpt(first['thread'])}); a new Python process called build_agent and "
             f"session_config({user!r}, {session!r}) again and asked {ASK!r}: the reply was "
             f"{excerpt(later['asked'])}")
    if later["thread"] != first["thread"]:
        raise CheckFailed(f"{story}, on another thread: {excerpt(later['thread'])}",
                          expected="the same thread id for the same ids, in every process")
    raise CheckFailed(f"{story}, on the same thread id, so the new process did not find the "
                      "conversation's checkpoints",
                      timeline=_file_timeline(Path(db_path), later["thread"]),
                      expected=f"the conversation is in the SQLite file at db_path, and the "
                               f"reply names {name}")


def check_collisions(context: CheckContext) -> None:
    """Ids containing separator characters never make two pairs share a thread."""
    (name,) = context.names(1)
    results = context.scenario(_lookalike_pairs, str(context.workdir / "ids.sqlite"), name,
                               _token(context))
    first = results[0]
    if name not in first["same"]:
        raise CheckFailed(f"user {first['left'][0]!r} / session {first['left'][1]!r} said "
                          f"{_tell(name)!r}, then asked {ASK!r} with the same ids and got "
                          f"{excerpt(first['same'])}", expected=f"a reply naming {name}")
    judged = [r for r in results if "other" in r]
    if any(not r["other"].strip() for r in judged):
        raise CheckFailed(f"asking {ASK!r} on a new conversation got an empty reply")
    merged = [r for r in judged if name in r["other"]]
    if merged:
        pairs = "; ".join(f"user {r['left'][0]!r} / session {r['left'][1]!r} and user "
                          f"{r['right'][0]!r} / session {r['right'][1]!r} (thread ids "
                          f"{excerpt(r['threads'][0])} and {excerpt(r['threads'][1])})"
                          for r in merged[:3])
        raise CheckFailed(f"{len(merged)} of {len(results)} look-alike pairs shared a "
                          f"conversation (the second knew the name told to the first): {pairs}",
                          expected="different (user, session) pairs never share a thread, "
                                   "whatever characters the ids contain")


TASK = Task(
    number=5, slug="task5_concurrency", title="Concurrent users: one thread per conversation",
    minutes=35,
    checks=(
        Check("threads-isolated", "users in parallel threads keep their own conversations", 3,
              "build the thread id from both ids in session_config, and open the SQLite "
              "connection with check_same_thread=False so every thread can use the saver",
              check_threads),
        Check("processes-isolated", "users in parallel processes keep their own conversations",
              3, "every process must checkpoint into the same file at db_path, on a thread id "
                 "made from both the user id and the session id; give sqlite3.connect a timeout "
                 "so writers wait for each other", check_processes, timeout=45),
        Check("sessions-separate", "two sessions of one user are separate conversations", 2,
              "the session id must be part of the thread id, not only the user id",
              check_sessions),
        Check("session-continues", "the same ids continue the conversation in a new process", 2,
              "derive the thread id from the ids alone, the same way in every process (no "
              "uuid4(), no built-in hash(): it changes from one process to the next), and "
              "checkpoint into the SQLite file at db_path",
              check_continues, timeout=45),
        Check("no-id-collisions", "ids containing separators never share a thread", 2,
              "ids may contain any character, your separator too: encode the pair, e.g. "
              "json.dumps([user_id, session_id]), or escape the ids before joining them",
              check_collisions),
    ),
)
