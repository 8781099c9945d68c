"""The `openai:<model>` path over real HTTP: the real ChatOpenAI client against a local server.

The server (tests/support/openai_server.py) speaks the OpenAI chat-completions API and answers
with the offline brain, so these tests are deterministic while every model call crosses a real
socket as JSON or Server-Sent Events. It also refuses conversations the OpenAI API would refuse,
which is what the housekeeping tests lean on.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from support.openai_server import (
    MODEL_ID,
    OpenAICompatibleServer,
    content_text,
    offered_tool_names,
    validate_chat_request,
)

from agent.errors import ConfigError, Unavailable
from agent.prompts import SUMMARY_PROMPT
from agent.service import SupportDesk, collect
from agent.settings import Settings
from agent.tools import TOOLS
from agent.views import HousekeepingEvent, TokenEvent, ToolCallEvent, TurnEndedEvent

API_KEY = "test-key"
SUMMARY_FIRST_LINE = SUMMARY_PROMPT.splitlines()[0]
# The longest turn the brain makes: customer, assistant tool call, tool result, reply.
LONGEST_TURN = 4

# Tool turns (order status, order list, policy) mixed with chat turns, for one long thread.
LONG_CONVERSATION = [
    "My name is Alice",
    "Where is ORD-1002?",
    "list my orders",
    "What is your return policy?",
    "Thanks!",
    "Where is ORD-1003?",
    "How long does shipping take?",
    "Hello",
    "list my orders",
    "Where is ORD-1001?",
    "What is your warranty policy?",
    "Thank you",
    "Where is ORD-1002?",
    "list my orders",
    "What's my name?",
]


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    """A running OpenAI-compatible server that only accepts the test key."""
    with OpenAICompatibleServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def openai_settings(make_settings: Callable[..., Settings],
                    server: OpenAICompatibleServer) -> Callable[..., Settings]:
    """Build SQLite settings whose model is `openai:support-sim` at the test server."""

    def build(**overrides: Any) -> Settings:
        values = {"model": f"openai:{MODEL_ID}", "openai_api_key": API_KEY,
                  "openai_base_url": server.base_url, **overrides}
        return make_settings("sqlite", **values)

    return build


@pytest.fixture
def desk(openai_settings: Callable[..., Settings]) -> Iterator[SupportDesk]:
    """A SupportDesk on SQLite talking to the test server (overrides the per-saver `desk`)."""
    with SupportDesk.open(openai_settings()) as opened:
        yield opened


def assert_every_request_valid(server: OpenAICompatibleServer) -> None:
    """The server refused nothing, and every body it received passes the validator again."""
    assert server.invalid_requests == []
    assert server.requests, "no chat request reached the server"
    problems = [(index, validate_chat_request(body)) for index, body in enumerate(server.requests)]
    assert [p for p in problems if p[1] is not None] == []


def is_summary_request(body: dict[str, Any]) -> bool:
    """True for the summariser's call: the summary prompt as its system message."""
    first = body["messages"][0]
    return first["role"] == "system" and content_text(first["content"]).startswith(
        SUMMARY_FIRST_LINE)


def body_size(body: dict[str, Any]) -> int:
    """How many non-system messages a request carried."""
    return sum(1 for m in body["messages"] if m["role"] not in ("system", "developer"))


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- conversations over HTTP -------------------------------------------------------------------


def test_tool_calls_round_trip_over_http(server: OpenAICompatibleServer,
                                         desk: SupportDesk) -> None:
    """A tool turn: the tool call comes back over HTTP, runs, and its result goes back out."""
    result = desk.ask("alice", "list my orders")

    assert result.status == "active"
    assert "ORD-1001" in result.reply
    assert [e.name for e in result.events if isinstance(e, ToolCallEvent)] == ["list_orders"]
    asking, answering = server.requests  # one call asks for the tool, one reads its result
    assert "list_orders" in offered_tool_names(asking)
    assert offered_tool_names(asking) == set(TOOLS)
    assert asking["messages"][-1]["role"] == "user"
    call_message, tool_message = answering["messages"][-2:]
    assert tool_message["role"] == "tool"
    assert call_message["role"] == "assistant"
    assert [c["function"]["name"] for c in call_message["tool_calls"]] == ["list_orders"]
    assert tool_message["tool_call_id"] == call_message["tool_calls"][0]["id"]
    assert "ORD-1001" in content_text(tool_message["content"])
    roles = [m.role for m in desk.view_thread("alice", result.thread_id).messages]
    assert roles == ["customer", "assistant", "tool", "assistant"]
    assert_every_request_valid(server)


@pytest.mark.parametrize("text", ["Hello there", "list my orders"], ids=["chat", "after-tool"])
def test_replies_stream_token_by_token(server: OpenAICompatibleServer, desk: SupportDesk,
                                       text: str) -> None:
    """Streamed replies arrive as several tokens that join to exactly the final reply."""
    events = list(desk.send_message("alice", text))

    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    end = events[-1]
    assert isinstance(end, TurnEndedEvent)
    assert len(end.reply.split()) > 1
    assert len(tokens) > 1
    assert "".join(tokens) == end.reply
    # Every model call of a streamed turn streams, and asks for usage in the stream.
    assert server.requests
    assert all(body.get("stream") is True for body in server.requests)
    assert all(body["stream_options"] == {"include_usage": True} for body in server.requests)
    assert_every_request_valid(server)


def test_profile_reaches_a_new_thread_through_the_system_prompt(
        server: OpenAICompatibleServer, desk: SupportDesk) -> None:
    """A name told in one thread is answered in another: the profile travels in the prompt."""
    told = desk.ask("alice", "My name is Alice")
    asked = desk.ask("alice", "What's my name?")

    assert asked.thread_id != told.thread_id
    assert asked.reply == "Your name is Alice."
    assert desk.remembered_profile("alice")["name"] == "Alice"
    system = server.requests[-1]["messages"][0]
    assert system["role"] == "system"
    assert "- name: Alice" in content_text(system["content"])
    # The new thread carried only its own question: the name came from memory, not history.
    assert body_size(server.requests[-1]) == 1
    assert_every_request_valid(server)


def test_refund_waits_for_approval_then_runs_once(server: OpenAICompatibleServer,
                                                  desk: SupportDesk) -> None:
    """A refund pauses for the supervisor; approving it runs it once and the reply explains it."""
    paused = desk.ask("alice", "Please refund ORD-1001, the boots leak")

    assert paused.status == "awaiting_approval"
    pending = desk.pending_approvals("sam")
    assert [(p.action, p.arguments["order_id"]) for p in pending] == [("issue_refund",
                                                                       "ORD-1001")]
    assert desk.ledger("alice") == []
    calls_before = len(server.requests)

    done = collect(desk.decide_approval("sam", paused.thread_id, {"action": "approve"}))

    assert done.status == "active"
    assert done.reply.startswith("Done.")
    refunds = [e for e in desk.ledger("alice") if e["kind"] == "refund"]
    assert [(e["order_id"], e["amount_cents"]) for e in refunds] == [("ORD-1001", 12900)]
    assert desk.pending_approvals("sam") == []
    # Resuming made exactly one more model call, which read the approved refund's result.
    assert len(server.requests) == calls_before + 1
    last = server.requests[-1]["messages"][-1]
    assert last["role"] == "tool"
    assert last["tool_call_id"] == pending[0].tool_call_id
    assert_every_request_valid(server)


def test_rejected_refund_is_explained_and_not_run(server: OpenAICompatibleServer,
                                                  desk: SupportDesk) -> None:
    """A declined refund goes back to the model as a tool answer and nothing is refunded."""
    paused = desk.ask("alice", "Please refund ORD-1001, the boots leak")

    done = collect(desk.decide_approval("sam", paused.thread_id,
                                        {"action": "reject", "reason": "photos needed"}))

    assert done.status == "active"
    # The wire format has no tool status; the server reads "A supervisor declined ..." as an
    # error, so the brain answers as the offline model would.
    assert "didn't go through" in done.reply
    assert "photos needed" in done.reply
    assert desk.ledger("alice") == []
    assert_every_request_valid(server)


def test_edited_refund_runs_with_the_supervisors_amount(server: OpenAICompatibleServer,
                                                        desk: SupportDesk) -> None:
    """An edited refund sends the edited tool call to the model, and refunds the edited amount."""
    paused = desk.ask("alice", "Please refund ORD-1001, the boots leak")

    done = collect(desk.decide_approval("sam", paused.thread_id,
                                        {"action": "edit", "arguments": {"amount": 20}}))

    assert done.status == "active"
    assert [e["amount_cents"] for e in desk.ledger("alice")] == [2000]
    call_message = server.requests[-1]["messages"][-2]
    arguments = json.loads(call_message["tool_calls"][0]["function"]["arguments"])
    assert arguments["amount"] == 20
    assert_every_request_valid(server)


# --- housekeeping keeps every request valid ----------------------------------------------------


def run_long_conversation(desk: SupportDesk) -> tuple[str, list[list[Any]], list[int]]:
    """Play LONG_CONVERSATION in one thread: its id, each turn's events, its size after each."""
    thread_id = None
    turns, sizes = [], []
    for text in LONG_CONVERSATION:
        events = list(desk.send_message("alice", text, thread_id=thread_id))
        end = events[-1]
        assert isinstance(end, TurnEndedEvent) and end.status == "active", (text, end)
        # Only the agent's reply streams to the customer, never the summariser's words.
        assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == end.reply, text
        thread_id = end.thread_id
        turns.append(events)
        sizes.append(len(desk.view_thread("alice", thread_id).messages))
    assert thread_id is not None
    return thread_id, turns, sizes


def housekeeping(events: list[Any], kind: str) -> int:
    """How many messages a turn's housekeeping of this kind removed."""
    return sum(e.removed_messages for e in events
               if isinstance(e, HousekeepingEvent) and e.kind == kind)


def test_summarising_keeps_requests_valid_and_the_thread_bounded(
        server: OpenAICompatibleServer, openai_settings: Callable[..., Settings]) -> None:
    """Summarising (pruning stands behind it) never sends OpenAI a broken conversation."""
    settings = openai_settings(summary_trigger_messages=6, summary_keep_messages=4,
                               prune_max_messages=8)
    with SupportDesk.open(settings) as desk:
        thread_id, turns, sizes = run_long_conversation(desk)
        view = desk.view_thread("alice", thread_id)

    assert_every_request_valid(server)
    summaries = [body for body in server.requests if is_summary_request(body)]
    assert summaries, "no summarisation request reached the server"
    # The summariser is a plain completion: no tools, one transcript after the prompt.
    assert all("tools" not in body for body in summaries)
    assert all([m["role"] for m in body["messages"]] == ["system", "user"] for body in summaries)
    first = next(i for i, events in enumerate(turns) if housekeeping(events, "summarize"))
    assert first > 0
    # Summarising starts when a turn begins with more than 6 messages and folds the thread to
    # at most 4 plus the new question; a turn then adds at most LONGEST_TURN - 1 messages.
    # So from the first summary on, the thread never holds more than 6 + 3 messages, and a
    # model call never carries more than 6 + 2.
    bound = settings.summary_trigger_messages + LONGEST_TURN - 1
    assert max(sizes[first:]) <= bound, sizes
    agent_calls = [body for body in server.requests if not is_summary_request(body)]
    assert max(body_size(body) for body in agent_calls) <= bound - 1
    assert view.messages[0].role == "customer"
    assert "The customer asked about ORD-1002." in view.summary
    # A later summary folds the previous one in (the transcript starts with it).
    assert any(content_text(body["messages"][1]["content"]).startswith("Previous summary:")
               for body in summaries)
    assert turns[-1][-1].reply == "Your name is Alice."


@pytest.mark.parametrize("limits", [
    {"prune_max_messages": 8},
    {"prune_max_chars": 1_000},
], ids=["by-count", "by-size"])
def test_pruning_alone_keeps_requests_valid(server: OpenAICompatibleServer,
                                            openai_settings: Callable[..., Settings],
                                            limits: dict[str, int]) -> None:
    """With summarising off, pruning whole turns bounds the thread and sends nothing invalid."""
    settings = openai_settings(summary_trigger_messages=0, **limits)
    with SupportDesk.open(settings) as desk:
        thread_id, turns, sizes = run_long_conversation(desk)
        view = desk.view_thread("alice", thread_id)

    assert_every_request_valid(server)
    assert not any(is_summary_request(body) for body in server.requests)
    assert not any(housekeeping(events, "summarize") for events in turns)
    assert view.summary == ""
    first = next(i for i, events in enumerate(turns) if housekeeping(events, "prune"))
    # Pruning cuts only where a customer message starts a turn, so one always comes first.
    assert view.messages[0].role == "customer"
    if "prune_max_messages" in limits:
        # Pruned to at most 8 when a turn starts, plus the rest of that turn.
        bound = settings.prune_max_messages + LONGEST_TURN - 1
        assert max(sizes[first:]) <= bound, sizes
        assert max(body_size(body) for body in server.requests) <= bound - 1
    else:
        # What came before the newest question fitted the size limit when the turn began.
        latest = max(i for i, m in enumerate(view.messages) if m.role == "customer")
        older = sum(len(m.text) + sum(len(c["name"]) + len(str(c["args"])) for c in m.tool_calls)
                    for m in view.messages[:latest])
        assert older <= settings.prune_max_chars
    # The profile still answers, whatever was pruned.
    assert turns[-1][-1].reply == "Your name is Alice."


# --- the validator and the server themselves ---------------------------------------------------


ASSISTANT_CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function",
     "function": {"name": "list_orders", "arguments": "{}"}}]}


def test_server_refuses_broken_conversations(server: OpenAICompatibleServer) -> None:
    """An orphan tool message and an unanswered tool call both get HTTP 400 and are recorded."""
    orphan = {"model": MODEL_ID, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_1", "content": "ORD-1001 delivered"},
    ]}
    unanswered = {"model": MODEL_ID, "messages": [
        {"role": "user", "content": "list my orders"},
        ASSISTANT_CALL,
        {"role": "user", "content": "hello?"},
    ]}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=5) as client:
        responses = [client.post("/chat/completions", json=body) for body in (orphan, unanswered)]

    assert [r.status_code for r in responses] == [400, 400]
    errors = [r.json()["error"] for r in responses]
    assert {e["type"] for e in errors} == {"invalid_request_error"}
    assert "must be a response to a preceeding message with 'tool_calls'" in errors[0]["message"]
    assert "call_1" in errors[1]["message"]
    assert [body for body, _ in server.invalid_requests] == [orphan, unanswered]
    assert [reason for _, reason in server.invalid_requests] == [e["message"] for e in errors]


@pytest.mark.parametrize(("messages", "problem"), [
    ([{"role": "user", "content": "hi"}, ASSISTANT_CALL], "did not have response messages"),
    ([{"role": "user", "content": "hi"}, ASSISTANT_CALL, {"role": "user", "content": "?"},
      {"role": "tool", "tool_call_id": "call_1", "content": "late"}], "did not have response"),
    ([{"role": "user", "content": "hi"}, ASSISTANT_CALL,
      {"role": "tool", "tool_call_id": "call_2", "content": "x"}], "does not match"),
    ([{"role": "user", "content": "hi"}, ASSISTANT_CALL,
      {"role": "tool", "tool_call_id": "call_1", "content": "x"},
      {"role": "tool", "tool_call_id": "call_1", "content": "x"}], "answered twice"),
    ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "hi"}],
     "must be a user message"),
    ([{"role": "robot", "content": "hi"}], "supported values"),
    ([{"role": "user", "content": None}], "got null"),
], ids=["dangling-at-end", "answer-after-user", "wrong-id", "answered-twice", "assistant-first",
        "unknown-role", "null-content"])
def test_validator_names_each_rule(messages: list[dict[str, Any]], problem: str) -> None:
    """Each conversation rule the OpenAI API enforces is caught, with a reason that says which."""
    reason = validate_chat_request({"model": MODEL_ID, "messages": messages})
    assert reason is not None and problem in reason


def test_validator_accepts_a_well_formed_tool_conversation() -> None:
    """System, user, tool call, its answer and a reply is a valid conversation."""
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},
                ASSISTANT_CALL, {"role": "tool", "tool_call_id": "call_1", "content": "x"},
                {"role": "assistant", "content": "Here you go."},
                {"role": "user", "content": [{"type": "text", "text": "thanks"}]}]
    assert validate_chat_request({"model": MODEL_ID, "messages": messages}) is None


def test_server_requires_a_bearer_key(server: OpenAICompatibleServer) -> None:
    """Requests without the key get HTTP 401 in OpenAI's error shape; with it, the model list."""
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        missing = client.get("/models")
        wrong = client.get("/models", headers={"Authorization": "Bearer nope"})
        listed = client.get("/models", headers={"Authorization": f"Bearer {API_KEY}"})

    assert (missing.status_code, wrong.status_code, listed.status_code) == (401, 401, 200)
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert [m["id"] for m in listed.json()["data"]] == [MODEL_ID]


def test_server_answers_unstreamed_calls(server: OpenAICompatibleServer) -> None:
    """The real client's non-streaming call gets a proper chat.completion with a tool call."""
    # The desk always streams (LangGraph's message stream), so this path is checked directly.
    model = ChatOpenAI(model=MODEL_ID, api_key=API_KEY, base_url=server.base_url,
                       max_retries=0, timeout=5)
    reply = model.bind_tools([tool.spec() for tool in TOOLS.values()]).invoke(
        [HumanMessage("Where is ORD-1002?")])

    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("get_order_status", {"order_id": "ORD-1002"})]
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert reply.usage_metadata and reply.usage_metadata["total_tokens"] > 0
    assert server.chat_requests(stream=True) == []
    assert_every_request_valid(server)


# --- failures ----------------------------------------------------------------------------------


def test_failing_endpoint_raises_unavailable_and_leaves_a_consistent_thread(
        server: OpenAICompatibleServer, desk: SupportDesk) -> None:
    """A persistent HTTP 503 becomes Unavailable naming it; the thread can be continued after."""
    threads_before = desk.list_threads("alice").total
    # Persistent: ChatOpenAI retries twice, so a single failure would be retried away.
    server.fail_next(None, status=503, message="The model server is overloaded (injected).")

    with pytest.raises(Unavailable) as caught:
        desk.ask("alice", "list my orders")

    message = str(caught.value)
    assert "HTTP 503" in message
    assert "overloaded (injected)" in message
    assert "Traceback" not in message
    # One try and ChatOpenAI's two retries, then the error surfaces.
    assert [status for _, _, status in server.calls] == [503, 503, 503]
    page = desk.list_threads("alice")
    assert page.total in (threads_before, threads_before + 1)
    if page.total == threads_before:
        return  # the empty thread was discarded: nothing left to check
    # The thread was kept: it holds the unanswered question and says the turn did not finish.
    record = page.threads[0]
    assert record.status == "interrupted"
    view = desk.view_thread("alice", record.thread_id)
    assert [m.role for m in view.messages] == ["customer"]
    assert view.next_nodes == ("agent",)
    # Once the endpoint is back, the same thread carries on with a valid conversation.
    server.clear_faults()
    result = desk.ask("alice", "list my orders", thread_id=record.thread_id)
    assert result.status == "active"
    assert "ORD-1001" in result.reply
    assert desk.list_threads("alice").threads[0].status == "active"
    assert_every_request_valid(server)


def test_unreachable_endpoint_raises_unavailable(make_settings: Callable[..., Settings]) -> None:
    """Nothing listening on the port: Unavailable says the endpoint cannot be reached."""
    settings = make_settings("sqlite", model=f"openai:{MODEL_ID}", openai_api_key=API_KEY,
                             openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    with SupportDesk.open(settings) as desk:
        before = desk.list_threads("alice").total
        with pytest.raises(Unavailable, match="cannot be reached"):
            desk.ask("alice", "Hello")
        page = desk.list_threads("alice")
        assert page.total in (before, before + 1)
        assert all(t.status in ("active", "interrupted") for t in page.threads)


def test_wrong_key_is_reported_without_retrying(server: OpenAICompatibleServer,
                                                openai_settings: Callable[..., Settings]) -> None:
    """HTTP 401 is not worth retrying: one call, and a ConfigError names the status and key."""
    with SupportDesk.open(openai_settings(openai_api_key="wrong-key")) as desk, \
            pytest.raises(ConfigError, match=r"HTTP 401: .*Incorrect API key.*OPENAI_API_KEY"):
        desk.ask("alice", "Hello")
    assert [status for _, _, status in server.calls] == [401]


def test_model_the_endpoint_does_not_serve_is_reported(
        server: OpenAICompatibleServer, openai_settings: Callable[..., Settings]) -> None:
    """A model name the endpoint does not know: a ConfigError naming HTTP 404 and the setting."""
    with SupportDesk.open(openai_settings(model="openai:gpt-nope")) as desk, \
            pytest.raises(ConfigError, match=r"HTTP 404: .*gpt-nope.*SUPPORT_MODEL"):
        desk.ask("alice", "Hello")
    assert [reason for _, reason in server.invalid_requests] == [
        "The model `gpt-nope` does not exist or you do not have access to it."]


def test_error_inside_a_streamed_reply_raises_unavailable(server: OpenAICompatibleServer,
                                                          desk: SupportDesk) -> None:
    """An endpoint that fails after answering HTTP 200 is reported as Unavailable too."""
    server.break_next_streams(None, message="The model server failed mid-stream (injected).")

    with pytest.raises(Unavailable, match="failed mid-stream"):
        desk.ask("alice", "Hello there")


def test_error_inside_a_streamed_reply_leaves_a_consistent_thread(
        server: OpenAICompatibleServer, desk: SupportDesk) -> None:
    """Whatever error type escapes, the failed turn leaves the thread usable afterwards."""
    server.break_next_streams(1)

    with pytest.raises(Unavailable, match="failed mid-stream"):
        desk.ask("alice", "Hello there")

    page = desk.list_threads("alice")
    assert [t.status for t in page.threads] in ([], ["interrupted"])
    if page.threads:
        result = desk.ask("alice", "list my orders", thread_id=page.threads[0].thread_id)
        assert result.status == "active"
        assert "ORD-1001" in result.reply
    assert_every_request_valid(server)


# --- doctor ------------------------------------------------------------------------------------


def test_doctor_checks_the_model_endpoint(server: OpenAICompatibleServer,
                                          openai_settings: Callable[..., Settings]) -> None:
    """Doctor finds the model listed at the endpoint, and fails clearly when it is not."""
    good = {c.name: c for c in SupportDesk.diagnose(openai_settings())}
    unknown = {c.name: c for c in SupportDesk.diagnose(openai_settings(model="openai:gpt-nope"))}
    server.fail_next(1, status=500, message="boom")
    failing = {c.name: c for c in SupportDesk.diagnose(openai_settings())}

    assert good["model"].ok, good["model"].detail
    assert server.base_url in good["model"].detail
    assert not unknown["model"].ok
    assert "does not list model 'gpt-nope'" in unknown["model"].detail
    assert not failing["model"].ok
    assert "HTTP 500" in failing["model"].detail
    # Doctor asks the model list only; it never spends a chat completion.
    assert {path for _, path, _ in server.calls} == {"/v1/models"}
    assert good["database"].ok and unknown["database"].ok
