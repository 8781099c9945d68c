"""The audit trail: one row per decision and handoff step, read by supervisors of the tenant.

Rows are written by the real graph as supervisors decide through the SupportDesk (approve,
edit, reject, respond) and as customers and supervisors write in a handoff; they are read
back through the desk (`audit_trail`, `audit_csv`) and the `support-agent audit` command.
Everything runs on real databases (SQLite files; the first test on every saver kind).
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from agent import cli
from agent.audit_words import (
    ACTION_WORDS,
    FAILED,
    changes_words,
    day_range,
    parse_day,
    request_words,
    row_words,
)
from agent.domain.audit import ACTIONS, AuditLog, AuditRecord
from agent.errors import InvalidInput, NotAllowed, ThreadBusy
from agent.service import SupportDesk, collect
from agent.service.audit import CSV_COLUMNS
from agent.settings import Settings

REFUND = "Please refund ORD-1001, the boots leak"
PERSON = "Can I talk to a person please?"
DAY = 86400


def ask(desk: SupportDesk, user: str, text: str) -> str:
    """Send a message that must end waiting for a supervisor; return its thread."""
    result = desk.ask(user, text)
    assert result.status == "awaiting_approval", (result.status, result.reply)
    return result.thread_id


def decide(desk: SupportDesk, supervisor: str, thread_id: str, **decision) -> str:
    """Decide the request a thread waits on; return what the assistant then told the customer."""
    return collect(desk.decide_approval(supervisor, thread_id, decision)).reply


@pytest.fixture
def sqlite_settings(make_settings) -> Settings:
    """Settings for a fresh SQLite file of this test's own."""
    return make_settings("sqlite")


@pytest.fixture
def sqlite_desk(sqlite_settings: Settings):
    """A desk on that file, closed afterwards."""
    with SupportDesk.open(sqlite_settings) as opened:
        yield opened


# --- the domain: keys, filters ----------------------------------------------------------------


def test_a_key_is_recorded_once_and_entries_filter_by_tenant_customer_action_and_time(
        sqlite_desk):
    """The log's own contract: a key writes one row; filters combine; newest first."""
    log = AuditLog(sqlite_desk.persistence.db)
    now = time.time()

    def row(key, tenant, customer, action, age_days):
        return AuditRecord(key=key, tenant=tenant, thread_id=None, customer_id=customer,
                           actor_id="sam", action=action, outcome="done",
                           created_at=now - age_days * DAY)

    assert log.record(row("k1", "acme", "alice", "approve", 40))
    assert not log.record(row("k1", "acme", "alice", "reject", 0)), "the same key again"
    assert log.record(row("k2", "acme", "bob", "reject", 2))
    assert log.record(row("k3", "acme", "alice", "handoff", 1))
    assert log.record(row("k4", "globex", "dave", "approve", 1))

    def keys(**filters):
        return [(e.customer_id, e.action) for e in log.entries("acme", **filters)]

    assert keys() == [("alice", "handoff"), ("bob", "reject"), ("alice", "approve")]
    assert keys(customer_id="alice") == [("alice", "handoff"), ("alice", "approve")]
    assert keys(actions=("approve", "reject")) == [("bob", "reject"), ("alice", "approve")]
    assert keys(since=now - 30 * DAY) == [("alice", "handoff"), ("bob", "reject")]
    assert keys(until=now - 30 * DAY) == [("alice", "approve")]
    assert keys(limit=1) == [("alice", "handoff")]
    assert log.for_key("k1").action == "approve", "the first write stands"


def test_every_recorded_action_has_words_and_dates_are_read_strictly():
    """The page and the command word every action; a date is YYYY-MM-DD or an error."""
    assert set(ACTION_WORDS) == set(ACTIONS)
    assert len(set(ACTION_WORDS.values())) == len(ACTIONS)
    assert parse_day("2026-01-31", "--since") == date(2026, 1, 31)
    for bad in ("2026-13-01", "2026-02-30", "31/01/2026", "20260131", "yesterday", ""):
        with pytest.raises(InvalidInput, match="--since must be a date written YYYY-MM-DD"):
            parse_day(bad, "--since")
    since, until = day_range(date(2026, 1, 31), date(2026, 1, 31))
    assert until - since == DAY, "one whole day, both ends included"
    assert datetime.fromtimestamp(since, UTC) == datetime(2026, 1, 31, tzinfo=UTC)
    with pytest.raises(InvalidInput, match=r"ends \(2026-01-30\) before it starts"):
        day_range(date(2026, 1, 31), date(2026, 1, 30))


# --- one row per decision, with the right person ----------------------------------------------


def test_each_decision_and_handoff_step_writes_exactly_one_row(desk):
    """approve, edit, reject, respond, handoff, reply, hand_back: who, what, before/after, why."""
    approved = ask(desk, "alice", REFUND)
    assert "Refunded $129.00" in decide(desk, "sam", approved, action="approve")
    edited = ask(desk, "alice", "Please refund ORD-1002, the zip broke")
    assert "$20.00" in decide(desk, "sam", edited, action="edit", arguments={"amount": 20})
    rejected = ask(desk, "alice", "cancel ORD-1003")
    decide(desk, "sam", rejected, action="reject", reason="It has already been packed")
    responded = ask(desk, "bob", "Please refund ORD-1101, it tore")
    decide(desk, "sam", responded, action="respond", message="Could you send us a photo?")
    handoff = desk.ask("carol", PERSON)
    assert handoff.status != "awaiting_approval", handoff.reply
    collect(desk.reply_as_staff("sam", handoff.thread_id, "Hi Carol, Sam here."))
    collect(desk.hand_back("sam", handoff.thread_id))

    rows = desk.audit_trail("sam")
    assert [(r.action, r.thread_id) for r in rows] == [
        ("hand_back", handoff.thread_id), ("reply", handoff.thread_id),
        ("handoff", handoff.thread_id), ("respond", responded), ("reject", rejected),
        ("edit", edited), ("approve", approved)], "one row each, newest first"
    by_action = {r.action: r for r in rows}

    approve = by_action["approve"]
    assert (approve.customer_id, approve.actor_id, approve.actor_name) == \
        ("alice", "sam", "Sam Rivera")
    assert (approve.tool, approve.tool_label) == ("issue_refund", "Refund")
    assert approve.before == {"order_id": "ORD-1001", "reason": "the boots leak"}
    assert approve.after is None
    assert approve.reason == "the boots leak", "the customer's reason, not their message"
    assert approve.outcome.startswith("Refunded $129.00 on ORD-1001") and approve.ok

    edit = by_action["edit"]
    assert "amount" not in edit.before or edit.before["amount"] is None
    assert edit.after["amount"] == 20 and edit.after["order_id"] == "ORD-1002"
    assert changes_words(edit.before, edit.after) == "amount: full amount -> $20.00"
    assert edit.outcome.startswith("Refunded $20.00 on ORD-1002") and edit.ok
    assert request_words(edit) == "Refund · ORD-1002 · full amount"

    reject = by_action["reject"]
    assert (reject.actor_id, reject.tool_label) == ("sam", "Cancellation")
    assert reject.reason == "It has already been packed"
    assert "rejected" in reject.outcome and reject.after is None

    respond = by_action["respond"]
    assert (respond.customer_id, respond.actor_id) == ("bob", "sam")
    assert respond.reason == "Could you send us a photo?"
    assert "not done" in respond.outcome

    request = by_action["handoff"]
    assert (request.customer_id, request.actor_id, request.tool) == ("carol", "carol", None)
    assert request.reason == PERSON
    assert (by_action["reply"].actor_id, by_action["reply"].reason) == \
        ("sam", "Hi Carol, Sam here.")
    assert (by_action["hand_back"].actor_id, by_action["hand_back"].outcome) == \
        ("sam", "handed back to the assistant")

    # Deciding nothing more writes nothing more: reading is not recording.
    desk.view_thread("alice", approved)
    desk.pending_approvals("sam")
    assert len(desk.audit_trail("sam")) == 7
    words = [row_words(r)["Action"] for r in rows]
    assert words == ["Handed back", "Supervisor replied", "Handoff requested",
                     "Replied instead", "Rejected", "Edited then approved", "Approved"]


def test_an_action_that_fails_after_approval_is_recorded_as_failed(sqlite_desk):
    """Two refunds of ORD-1101 wait; the first empties the order, the second then fails."""
    full = ask(sqlite_desk, "bob", "Please refund ORD-1101, the strap tore")
    partial = ask(sqlite_desk, "bob", "refund $20 on ORD-1101")
    decide(sqlite_desk, "sam", full, action="approve")
    told = decide(sqlite_desk, "sam", partial, action="approve")
    assert "refunded in full already" in told

    failed, succeeded = sqlite_desk.audit_trail("sam")
    assert (failed.thread_id, failed.action, failed.ok) == (partial, "approve", False)
    assert "refunded in full already" in failed.outcome
    assert row_words(failed)["Succeeded"] == FAILED
    assert (succeeded.thread_id, succeeded.ok) == (full, True)
    assert [e["amount_cents"] for e in sqlite_desk.ledger("sam")] == [8900], "no second refund"


# --- who may read what ------------------------------------------------------------------------


def test_supervisors_read_only_their_own_tenant(sqlite_desk):
    """gina (globex) sees none of acme's rows, nor sam globex's; customers see none at all."""
    decide(sqlite_desk, "sam", ask(sqlite_desk, "alice", REFUND), action="approve")
    dave = ask(sqlite_desk, "dave", "Please cancel ORD-2002, ordered twice")
    decide(sqlite_desk, "gina", dave, action="reject", reason="Already shipped")

    assert [(r.customer_id, r.action) for r in sqlite_desk.audit_trail("sam")] == \
        [("alice", "approve")]
    assert [(r.customer_id, r.action) for r in sqlite_desk.audit_trail("gina")] == \
        [("dave", "reject")]
    assert sqlite_desk.audit_trail("sam", customer_id="dave") == []
    assert sqlite_desk.audit_trail("gina", customer_id="alice") == []
    assert "alice" not in sqlite_desk.audit_csv("gina")
    for customer in ("alice", "dave"):
        with pytest.raises(NotAllowed, match="not a supervisor"):
            sqlite_desk.audit_trail(customer)
        with pytest.raises(NotAllowed):
            sqlite_desk.audit_csv(customer)
        with pytest.raises(NotAllowed):
            sqlite_desk.feedback(customer)


def test_filters_by_customer_action_and_time(sqlite_desk):
    """Customer, actions and a time range narrow the trail; bad filters are clear errors."""
    decide(sqlite_desk, "sam", ask(sqlite_desk, "alice", REFUND), action="approve")
    decide(sqlite_desk, "sam", ask(sqlite_desk, "bob", "Please refund ORD-1101, it tore"),
           action="reject", reason="Send it back first")
    carol = sqlite_desk.ask("carol", PERSON).thread_id
    # A decision from 40 days ago, recorded as the approval step records one.
    AuditLog(sqlite_desk.persistence.db).record(AuditRecord(
        key="old-decision", tenant="acme", thread_id=None, customer_id="alice",
        actor_id="sam", action="reject", outcome="rejected", reason="too late",
        created_at=time.time() - 40 * DAY))

    def shown(**filters):
        return [(r.customer_id, r.action) for r in sqlite_desk.audit_trail("sam", **filters)]

    assert shown() == [("carol", "handoff"), ("bob", "reject"), ("alice", "approve"),
                       ("alice", "reject")]
    assert shown(customer_id="alice") == [("alice", "approve"), ("alice", "reject")]
    assert shown(customer_id=" Alice ") == shown(customer_id="alice"), "as people type ids"
    assert shown(actions=("reject",)) == [("bob", "reject"), ("alice", "reject")]
    assert shown(actions=("handoff", "approve")) == [("carol", "handoff"), ("alice", "approve")]
    today = datetime.now(UTC).date()
    since, until = day_range(today - timedelta(days=30), today)
    assert shown(since=since, until=until) == shown()[:3], "the page's default: 30 days"
    since, until = day_range(today - timedelta(days=41), today - timedelta(days=39))
    assert shown(since=since, until=until) == [("alice", "reject")]
    assert shown(since=time.time() + 3600) == []
    assert sqlite_desk.audit_trail("sam", limit=2)[0].thread_id == carol

    with pytest.raises(InvalidInput, match="unknown action 'delete'"):
        sqlite_desk.audit_trail("sam", actions=("delete",))
    with pytest.raises(InvalidInput, match="before its end"):
        sqlite_desk.audit_trail("sam", since=until, until=since)


# --- CSV --------------------------------------------------------------------------------------


def parse_csv(text: str) -> list[dict[str, str]]:
    """CSV text as dicts, checking its header first."""
    reader = csv.reader(io.StringIO(text))
    assert tuple(next(reader)) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, line, strict=True)) for line in reader]


def test_csv_holds_exactly_the_filtered_rows_and_cannot_run_formulas(sqlite_desk):
    """The export: a header, then the filtered rows; a cell starting with '=' stays text."""
    formula = "=HYPERLINK(\"http://evil.example\",\"click\")"
    bob = ask(sqlite_desk, "bob", "Please refund ORD-1101, =SUM(A1:A9) it tore")
    decide(sqlite_desk, "sam", bob, action="approve")
    alice = ask(sqlite_desk, "alice", "cancel ORD-1003")
    decide(sqlite_desk, "sam", alice, action="reject", reason=formula)
    edited = ask(sqlite_desk, "alice", "refund $20 on ORD-1002")
    decide(sqlite_desk, "sam", edited, action="edit", arguments={"amount": 5})

    rows = parse_csv(sqlite_desk.audit_csv("sam"))
    assert [(r["customer"], r["action"], r["thread"]) for r in rows] == [
        ("Alice Martin (alice)", "edit", edited), ("Alice Martin (alice)", "reject", alice),
        ("Bob Chen (bob)", "approve", bob)]
    edit, reject, approve = rows
    assert approve["reason"] == "'=SUM(A1:A9) it tore", "the customer's formula is text"
    assert reject["reason"] == "'" + formula, "so is a supervisor's"
    assert (approve["request"], approve["decided by"], approve["ok"]) == \
        ("Refund", "Sam Rivera (sam)", "yes")
    assert approve["outcome"].startswith("Refunded $89.00 on ORD-1101")
    assert '"amount": 20.0' in edit["before"] and '"amount": 5.0' in edit["after"]
    assert datetime.strptime(approve["time (UTC)"], "%Y-%m-%d %H:%M:%S")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values()), row

    # Exactly the filtered rows: the same filters as the table, nothing more.
    filtered = parse_csv(sqlite_desk.audit_csv("sam", customer_id="alice",
                                               actions=("reject", "approve")))
    assert [(r["action"], r["thread"]) for r in filtered] == [("reject", alice)]
    assert parse_csv(sqlite_desk.audit_csv("gina")) == [], "a header and nothing else"


# --- concurrency and crashes ------------------------------------------------------------------


@pytest.mark.parametrize("busy_policy", ["wait", "fail"])
def test_two_supervisors_deciding_at_once_leave_exactly_one_row(make_settings, busy_policy):
    """Two desks (two app instances) on one SQLite file decide the same request at once."""
    settings = make_settings("sqlite", busy_policy=busy_policy)
    with SupportDesk.open(settings) as first:
        first.add_user("sue", display_name="Sue Park", email="sue@acme.example.com",
                       role="supervisor", tenant="acme")
        thread_id = ask(first, "alice", REFUND)
        with SupportDesk.open(settings) as second:
            start = threading.Barrier(2)
            outcomes: dict[str, object] = {}

            def decide_as(desk: SupportDesk, supervisor: str, decision: dict) -> None:
                start.wait()
                try:
                    outcomes[supervisor] = collect(desk.decide_approval(supervisor, thread_id,
                                                                        decision)).reply
                except (InvalidInput, ThreadBusy) as exc:
                    outcomes[supervisor] = exc

            racers = [threading.Thread(target=decide_as, args=(first, "sam",
                                                               {"action": "approve"})),
                      threading.Thread(target=decide_as, args=(second, "sue",
                                                               {"action": "reject",
                                                                "reason": "No"}))]
            for racer in racers:
                racer.start()
            for racer in racers:
                racer.join(timeout=120)
            assert not any(racer.is_alive() for racer in racers)

        winners = [who for who, result in outcomes.items() if isinstance(result, str)]
        assert len(winners) == 1, outcomes
        loser = ({"sam", "sue"} - set(winners)).pop()
        assert isinstance(outcomes[loser], InvalidInput | ThreadBusy), outcomes
        rows = first.audit_trail("sam")
        assert len(rows) == 1, rows
        assert rows[0].actor_id == winners[0]
        assert rows[0].action == ("approve" if winners[0] == "sam" else "reject")
        refunds = [e for e in first.ledger("sam") if e["thread_id"] == thread_id]
        assert len(refunds) == (1 if winners[0] == "sam" else 0)


def _cli_env(settings: Settings, crash_at: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(SUPPORT_SAVER="sqlite", SUPPORT_SQLITE_PATH=str(settings.sqlite_path),
               SUPPORT_CRASH_AT=crash_at)
    return env


def _killed_while_deciding(settings: Settings, cwd: Path, crash_at: str, *decision: str) -> str:
    """Alice's refund request, decided by `support-agent` in a child killed at `crash_at`."""
    with SupportDesk.open(settings) as desk:
        thread_id = ask(desk, "alice", REFUND)
    child = subprocess.run(
        [sys.executable, "-m", "agent.cli", decision[0], "--user", "sam", thread_id,
         *decision[1:]], env=_cli_env(settings, crash_at), cwd=cwd, capture_output=True,
        text=True, timeout=120, check=False)
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr[-2000:])
    return thread_id


@pytest.mark.parametrize(("crash_at", "decision", "action"), [
    ("tool:issue_refund", ["approve"], "approve"),  # the refund committed, not its checkpoint
    ("after:actions", ["approve", "--set", "amount=20"], "edit"),  # the row too
])
def test_a_decision_killed_midway_and_resumed_is_recorded_once(sqlite_settings, tmp_path,
                                                               crash_at, decision, action):
    """The deciding process dies by SIGKILL; a new one resumes: one row, one refund."""
    thread_id = _killed_while_deciding(sqlite_settings, tmp_path, crash_at, *decision)
    with SupportDesk.open(sqlite_settings) as desk:
        collect(desk.resume("sam", thread_id))
        with pytest.raises(InvalidInput, match="nothing to resume"):
            collect(desk.resume("sam", thread_id))  # and the work is really done
        rows = desk.audit_trail("sam")
        assert [(r.action, r.actor_id, r.thread_id, r.ok) for r in rows] == \
            [(action, "sam", thread_id, True)], rows
        assert len([e for e in desk.ledger("sam") if e["thread_id"] == thread_id]) == 1


def test_a_decision_lost_in_a_crash_leaves_no_row_behind(sqlite_settings, tmp_path):
    """Killed before the rejection was checkpointed: it was not taken, so not recorded."""
    thread_id = _killed_while_deciding(sqlite_settings, tmp_path, "after:approval",
                                       "reject", "--reason", "Out of policy")
    with SupportDesk.open(sqlite_settings) as desk:
        assert [p.thread_id for p in desk.pending_approvals("sam")] == [thread_id], \
            "a decision whose step never reached a checkpoint was not taken"
        assert "Refunded $129.00" in decide(desk, "sam", thread_id, action="approve")
        assert len([e for e in desk.ledger("sam") if e["thread_id"] == thread_id]) == 1
        rows = desk.audit_trail("sam")
        assert [(r.action, r.thread_id, r.ok) for r in rows] == \
            [("approve", thread_id, True)], [(r.action, r.outcome) for r in rows]


# --- `support-agent audit` --------------------------------------------------------------------


@pytest.fixture
def decided(sqlite_desk) -> dict[str, str]:
    """A trail to print: an approval (alice), a failed approval and a rejection (bob)."""
    alice = ask(sqlite_desk, "alice", REFUND)
    decide(sqlite_desk, "sam", alice, action="approve")
    full = ask(sqlite_desk, "bob", "Please refund ORD-1101, the strap tore")
    partial = ask(sqlite_desk, "bob", "refund $20 on ORD-1101")
    decide(sqlite_desk, "sam", full, action="approve")
    decide(sqlite_desk, "sam", partial, action="approve")
    cancel = ask(sqlite_desk, "alice", "cancel ORD-1003")
    decide(sqlite_desk, "sam", cancel, action="reject", reason="=1+1 packed already")
    return {"alice": alice, "full": full, "partial": partial, "cancel": cancel}


@pytest.fixture
def run_cli(sqlite_settings, monkeypatch, capsys):
    """`support-agent audit ...` in this process: (exit code, stdout, stderr)."""
    # Wide enough that no cell wraps, so the output reads as one line per fact.
    monkeypatch.setattr(cli.out, "width", 200)

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["audit", "--saver", "sqlite", "--sqlite-path",
                         str(sqlite_settings.sqlite_path), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_the_command_prints_the_trail_as_the_page_words_it(decided, run_cli):
    """Newest first, actions in words, a failed action marked, the tenant's rows only."""
    code, out, err = run_cli("--user", "sam")
    assert (code, err) == (0, "")
    for words in ("When (UTC)", "Customer", "Action", "Details", "Rejected", "Approved",
                  "by Sam Rivera", "Alice Martin", "Bob Chen", "Cancellation · ORD-1003",
                  "Refund · ORD-1001 · full amount", "Reason: the boots leak",
                  "Reason: =1+1 packed already", "Outcome: Refunded $129.00 on ORD-1001"):
        assert words in out, words
    assert out.count("FAILED") == 1
    assert out.index("Rejected") < out.index("FAILED") < out.index("Refunded $129.00"), \
        "newest first"
    assert "refunded in full already" in out

    code, out, err = run_cli("--user", "gina")
    assert (code, out.strip(), err) == (0, "no decisions match these filters", "")


def test_the_command_filters_like_the_page(decided, run_cli):
    """--customer, --action (several), --since/--until and --limit narrow the rows."""
    _, out, _ = run_cli("--user", "sam", "--customer", "bob")
    assert "Bob Chen" in out and "Alice Martin" not in out
    _, out, _ = run_cli("--user", "sam", "--action", "reject")
    assert "Rejected" in out and "Approved" not in out
    _, out, _ = run_cli("--user", "sam", "--action", "reject", "--action", "approve",
                        "--customer", "alice")
    assert "Rejected" in out and "ORD-1001" in out and "Bob Chen" not in out
    today = datetime.now(UTC).date()
    _, out, _ = run_cli("--user", "sam", "--since", today.isoformat(), "--until",
                        today.isoformat())
    assert out.count("by Sam Rivera") == 4
    _, out, _ = run_cli("--user", "sam", "--until", (today - timedelta(days=1)).isoformat())
    assert out.strip() == "no decisions match these filters"
    _, out, _ = run_cli("--user", "sam", "--limit", "1")
    assert out.count("by Sam Rivera") == 1 and "Rejected" in out
    assert "showing the newest 1; --limit N shows more" in out


def test_the_command_exports_the_same_csv_as_the_page(decided, run_cli, sqlite_desk, tmp_path):
    """--csv - prints the desk's CSV for the same filters; --csv FILE writes it."""
    code, out, err = run_cli("--user", "sam", "--customer", "alice", "--csv", "-")
    assert (code, err) == (0, "")
    assert out == sqlite_desk.audit_csv("sam", customer_id="alice")
    rows = parse_csv(out)
    assert [r["action"] for r in rows] == ["reject", "approve"]
    assert rows[0]["reason"] == "'=1+1 packed already"

    target = tmp_path / "audit.csv"
    code, out, err = run_cli("--user", "sam", "--csv", str(target))
    assert code == 0 and out == ""
    assert "wrote 4 rows to" in err
    assert target.read_bytes().decode("utf-8") == sqlite_desk.audit_csv("sam")


@pytest.mark.parametrize(("args", "message"), [
    (["--user", "alice"], "alice is not a supervisor"),
    (["--user", "sam", "--since", "2026-02-30"], "--since must be a date written YYYY-MM-DD"),
    (["--user", "sam", "--until", "tomorrow"], "--until must be a date written YYYY-MM-DD"),
    (["--user", "sam", "--since", "2026-03-02", "--until", "2026-03-01"],
     "the time range ends (2026-03-01) before it starts (2026-03-02)"),
    (["--user", "sam", "--action", "approve", "refund"], "unknown action 'refund'"),
    (["--user", "sam", "--limit", "0"], "--limit must be at least 1"),
    (["--user", "mallory"], "unknown user 'mallory'"),
    (["--user", "sam", "--csv", "no/such/folder/audit.csv"], "cannot write"),
])
def test_the_command_refuses_bad_input_in_one_line(decided, run_cli, args, message):
    """A user's mistake: one `error:` line, exit 2, no traceback, nothing on stdout."""
    code, out, err = run_cli(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err, err
    assert "Traceback" not in err


def test_the_command_never_prints_terminal_escapes(sqlite_desk, run_cli):
    """A stored reason carrying escape sequences reaches the terminal as text without them."""
    AuditLog(sqlite_desk.persistence.db).record(AuditRecord(
        key="escapes", tenant="acme", thread_id=None, customer_id="alice", actor_id="sam",
        action="reject", outcome="rejected",
        reason="\x1b]0;owned\x07\x1b[2Jclean [bold]words[/bold]"))
    code, out, _ = run_cli("--user", "sam")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "clean [bold]words[/bold]" in out, "rich markup in stored text is shown as typed"


def test_the_command_is_listed_in_help(capsys):
    """`support-agent --help` names the audit command."""
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "audit" in capsys.readouterr().out


def test_the_audit_command_module_imports_on_its_own():
    """The audit module is importable on its own (no import cycle with agent.cli)."""
    done = subprocess.run([sys.executable, "-c", "import agent.cli_audit"], capture_output=True,
                          text=True, check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
