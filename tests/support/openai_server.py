"""A small, real OpenAI-compatible HTTP server for tests, answering with the offline brain.

The project's `openai:<model>` path builds a real `ChatOpenAI` client; pointing it at this
server sends every model call over real HTTP (JSON requests, Server-Sent Events for streamed
replies) while the answers stay deterministic: the server turns the OpenAI messages back into
LangChain messages and asks `agent.model.brain.respond`, the same brain the offline model uses.

It also checks each chat request the way the OpenAI API checks conversation structure (known
roles, every tool call answered, no orphan tool message, a user message first), so a test can
prove the agent's pruning and summarising never send a conversation OpenAI would refuse. It
can be told to fail the next requests, to test how endpoint errors are reported.

Standard library only (plus the project's own brain), bound to 127.0.0.1 on an ephemeral port.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent.model.brain import respond

MODEL_ID = "support-sim"
KNOWN_ROLES = ("system", "developer", "user", "assistant", "tool")
API_PREFIX = "/v1"

# Word pieces, whitespace kept, so the streamed pieces join back to the exact reply.
_PIECE = re.compile(r"\S+\s*|\s+")
# The OpenAI wire format has no tool-message status. These are the texts the agent's tool
# nodes answer with status="error"; reading them back keeps the brain's "that didn't go
# through" wording for declined or refused actions (a shop-rule error reads as a success).
_TOOL_ERROR_PREFIXES = (
    "A supervisor declined",
    "There is no tool called",
    "Invalid arguments for",
)
_TOOL_ERROR_SUFFIXES = ("needs a supervisor's approval first.",)
ARGUMENT_PIECE_CHARS = 12


class InvalidChatRequest(ValueError):
    """The request is one the OpenAI API would refuse with HTTP 400."""

    def __init__(self, message: str, param: str | None = "messages"):
        super().__init__(message)
        self.param = param


@dataclass
class _Fault:
    status: int  # the HTTP status; 200 for an error event inside a streamed reply
    message: str
    remaining: int | None  # None: fail until cleared


# --- request validation ------------------------------------------------------------------------


def validate_chat_request(body: Any) -> str | None:
    """Why OpenAI would refuse this chat-completions body with HTTP 400, or None if it is valid."""
    try:
        check_chat_request(body)
    except InvalidChatRequest as exc:
        return str(exc)
    return None


def check_chat_request(body: Any) -> None:
    """Raise InvalidChatRequest if the body breaks the chat-completions request rules."""
    if not isinstance(body, dict):
        raise InvalidChatRequest("the request body must be a JSON object", None)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidChatRequest("you must provide a model parameter", "model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidChatRequest("'stream' must be a boolean", "stream")
    if body.get("stream_options") is not None and not stream:
        raise InvalidChatRequest("The 'stream_options' parameter is only allowed when 'stream' "
                                 "is enabled.", "stream_options")
    _check_tools(body.get("tools"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidChatRequest("'messages' must be a non-empty array")
    for index, message in enumerate(messages):
        _check_message_shape(index, message)
    _check_structure(messages)


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list) or not tools:
        raise InvalidChatRequest("'tools' must be a non-empty array when given", "tools")
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (not isinstance(tool, dict) or tool.get("type") != "function"
                or not isinstance(function, dict) or not function.get("name")):
            raise InvalidChatRequest(f"tools[{index}] must be {{'type': 'function', "
                                     "'function': {'name': ...}}", f"tools[{index}]")


def _check_message_shape(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidChatRequest(f"{where} must be an object", where)
    role = message.get("role")
    if role not in KNOWN_ROLES:
        raise InvalidChatRequest(f"Invalid value for '{where}.role': {role!r}; supported values "
                                 f"are: {', '.join(KNOWN_ROLES)}", f"{where}.role")
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise InvalidChatRequest(f"{where}.content must be a string or an array of parts",
                                 f"{where}.content")
    if role == "assistant":
        calls = message.get("tool_calls")
        if calls is None and content is None:
            raise InvalidChatRequest(f"{where}: an assistant message needs content or tool_calls",
                                     f"{where}.content")
        if calls is not None:
            _check_tool_calls(where, calls)
    elif content is None:
        raise InvalidChatRequest(f"Invalid value for '{where}.content': expected a string, got "
                                 "null.", f"{where}.content")
    if role == "tool" and not (isinstance(message.get("tool_call_id"), str)
                               and message["tool_call_id"]):
        raise InvalidChatRequest(f"{where}: a tool message needs a 'tool_call_id'",
                                 f"{where}.tool_call_id")


def _check_tool_calls(where: str, calls: Any) -> None:
    if not isinstance(calls, list) or not calls:
        raise InvalidChatRequest(f"{where}.tool_calls must be a non-empty array",
                                 f"{where}.tool_calls")
    seen: set[str] = set()
    for index, call in enumerate(calls):
        spot = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if (not isinstance(call, dict) or not isinstance(call.get("id"), str)
                or call.get("type") != "function" or not isinstance(function, dict)
                or not isinstance(function.get("name"), str)
                or not isinstance(function.get("arguments"), str)):
            raise InvalidChatRequest(f"{spot} must have an id, type 'function' and a function "
                                     "with a name and string arguments", spot)
        if call["id"] in seen:
            raise InvalidChatRequest(f"{spot}: duplicate tool call id {call['id']!r}", spot)
        seen.add(call["id"])
        try:
            arguments = json.loads(function["arguments"])
        except json.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            raise InvalidChatRequest(f"{spot}.function.arguments must be a JSON object",
                                     f"{spot}.function.arguments")


def _check_structure(messages: list[dict[str, Any]]) -> None:
    """The conversation rules: tool answers follow their assistant message, nothing dangles."""
    open_calls: set[str] | None = None  # ids of the assistant message the tool block answers
    answered: set[str] = set()
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            call_id = message["tool_call_id"]
            if open_calls is None:
                raise InvalidChatRequest(
                    f"Invalid parameter: messages[{index}] with role 'tool' must be a response to "
                    "a preceeding message with 'tool_calls'.", f"messages[{index}]")
            if call_id not in open_calls:
                raise InvalidChatRequest(f"messages[{index}]: tool_call_id {call_id!r} does not "
                                         "match any tool call of the preceding assistant message",
                                         f"messages[{index}].tool_call_id")
            if call_id in answered:
                raise InvalidChatRequest(f"messages[{index}]: tool call {call_id!r} is answered "
                                         "twice", f"messages[{index}].tool_call_id")
            answered.add(call_id)
            continue
        _require_answered(open_calls, answered, index)
        open_calls, answered = None, set()
        if role == "assistant" and message.get("tool_calls"):
            open_calls = {call["id"] for call in message["tool_calls"]}
    _require_answered(open_calls, answered, len(messages))
    # Checked last, so a leading orphan tool message is reported as the orphan it is.
    first = next((m for m in messages if m["role"] not in ("system", "developer")), None)
    if first is not None and first["role"] != "user":
        raise InvalidChatRequest("the first message after the system messages must be a user "
                                 f"message, not {first['role']!r}")


def _require_answered(open_calls: set[str] | None, answered: set[str], index: int) -> None:
    missing = sorted((open_calls or set()) - answered)
    if missing:
        raise InvalidChatRequest(
            "An assistant message with 'tool_calls' must be followed by tool messages responding "
            f"to each 'tool_call_id'. The following tool_call_ids did not have response "
            f"messages (before messages[{index}]): {', '.join(missing)}")


# --- wire format <-> LangChain -----------------------------------------------------------------


def content_text(content: Any) -> str:
    """The text of an OpenAI message content: a string, null, or an array of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content
                   if isinstance(part, dict) and part.get("type") == "text")


def to_langchain_messages(messages: list[dict[str, Any]]) -> list[BaseMessage]:
    """OpenAI chat messages (already validated) as the LangChain messages the brain reads."""
    converted: list[BaseMessage] = []
    names_by_call_id: dict[str, str] = {}
    for message in messages:
        role, text = message["role"], content_text(message.get("content"))
        if role in ("system", "developer"):
            converted.append(SystemMessage(text))
        elif role == "user":
            converted.append(HumanMessage(text))
        elif role == "assistant":
            calls = [{"name": call["function"]["name"],
                      "args": json.loads(call["function"]["arguments"]),
                      "id": call["id"], "type": "tool_call"}
                     for call in message.get("tool_calls") or []]
            names_by_call_id.update({call["id"]: call["name"] for call in calls})
            converted.append(AIMessage(content=text, tool_calls=calls))
        else:
            call_id = message["tool_call_id"]
            converted.append(ToolMessage(text, tool_call_id=call_id,
                                         name=names_by_call_id.get(call_id),
                                         status=_tool_status(text)))
    return converted


def _tool_status(text: str) -> str:
    stripped = text.strip()
    failed = stripped.startswith(_TOOL_ERROR_PREFIXES) or stripped.endswith(_TOOL_ERROR_SUFFIXES)
    return "error" if failed else "success"


def offered_tool_names(body: dict[str, Any]) -> set[str]:
    """The function names in the request's `tools` (empty when none are offered)."""
    return {tool["function"]["name"] for tool in body.get("tools") or []}


def wire_tool_calls(message: AIMessage) -> list[dict[str, Any]]:
    """The AI message's tool calls in OpenAI format (arguments as a JSON string)."""
    return [{"id": call["id"], "type": "function",
             "function": {"name": call["name"], "arguments": json.dumps(call["args"])}}
            for call in message.tool_calls]


def _count_tokens(text: str) -> int:
    # Words stand in for tokens: deterministic, and enough to show usage flows through.
    return len(text.split())


def _usage(body: dict[str, Any], reply: AIMessage) -> dict[str, int]:
    prompt = sum(_count_tokens(content_text(m.get("content"))) for m in body["messages"])
    completion = _count_tokens(reply.text) + sum(
        _count_tokens(json.dumps(call["args"])) + 1 for call in reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def completion_object(body: dict[str, Any], reply: AIMessage) -> dict[str, Any]:
    """A non-streamed `chat.completion` for the brain's reply."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None,
                               "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = wire_tool_calls(reply)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        "usage": _usage(body, reply),
    }


def completion_chunks(body: dict[str, Any], reply: AIMessage) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects that stream the brain's reply, in order."""
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish_reason}]}

    yield chunk({"role": "assistant", "content": "" if not reply.tool_calls else None})
    for piece in _PIECE.findall(reply.text):
        yield chunk({"content": piece})
    for index, call in enumerate(wire_tool_calls(reply)):
        # Name and id first, then the arguments in fragments, as OpenAI streams them: the
        # client has to stitch the JSON back together.
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"],
                                                  "arguments": ""}}]})
        arguments = call["function"]["arguments"]
        for start in range(0, len(arguments), ARGUMENT_PIECE_CHARS):
            yield chunk({"tool_calls": [{"index": index, "function": {
                "arguments": arguments[start:start + ARGUMENT_PIECE_CHARS]}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {"id": completion_id, "object": "chat.completion.chunk", "created": created,
               "model": body["model"], "choices": [], "usage": _usage(body, reply)}


def _error_body(message: str, kind: str, param: str | None = None,
                code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# --- the server --------------------------------------------------------------------------------


class OpenAICompatibleServer:
    """A real HTTP server speaking the OpenAI chat-completions API; use it as a context manager.

    `requests` holds every chat-completions JSON body received (after authentication),
    `invalid_requests` the (body, reason) of each one refused, and `calls` a (method, path,
    HTTP status) line per request, in order.
    """

    def __init__(self, models: Collection[str] = (MODEL_ID,), *, api_key: str | None = None,
                 retry_after_ms: int = 1):
        self.models = tuple(models)
        self.api_key = api_key  # None: any non-empty bearer token is accepted
        # Sent with injected 5xx faults: the openai client honours it, so its retries are quick.
        self.retry_after_ms = retry_after_ms
        # Seconds each chat completion waits before answering (0: at once), so a test can make
        # a model call slow enough for two senders to overlap. See slow_down().
        self.delay_seconds = 0.0
        self.requests: list[dict[str, Any]] = []
        self.invalid_requests: list[tuple[Any, str]] = []
        self.calls: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._fault: _Fault | None = None  # answer with an HTTP error status
        self._stream_fault: _Fault | None = None  # start a streamed reply, then an error event
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    @property
    def port(self) -> int:
        """The ephemeral port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The API base URL to give the OpenAI client, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    def start(self) -> OpenAICompatibleServer:
        """Bind to an ephemeral port and serve from a background thread."""
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"openai-sim-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close kept-alive connections and join every server thread."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        # Clients keep connections alive; closing them ends the handler threads waiting for a
        # next request, so server_close() can join them instead of leaking threads.
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- fault injection ---

    def fail_next(self, count: int | None = 1, *, status: int = 503,
                  message: str = "The model server is overloaded (injected fault).") -> None:
        """Answer the next `count` API requests (all of them if None) with this HTTP error."""
        with self._lock:
            self._fault = _Fault(status, message, count)

    def break_next_streams(self, count: int | None = 1, *,
                           message: str = "The model server failed mid-stream (injected).",
                           ) -> None:
        """Start the next `count` streamed replies (all if None), then send an error event.

        That is how the OpenAI API reports a failure after it has answered HTTP 200.
        """
        with self._lock:
            self._stream_fault = _Fault(200, message, count)

    def slow_down(self, seconds: float) -> None:
        """Make every chat completion wait `seconds` before answering (0 answers at once)."""
        self.delay_seconds = max(float(seconds), 0.0)

    def clear_faults(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._fault = self._stream_fault = None

    # --- views for tests ---

    def chat_requests(self, *, stream: bool | None = None) -> list[dict[str, Any]]:
        """The chat-completions bodies received, optionally only streamed (or unstreamed) ones."""
        with self._lock:
            bodies = list(self.requests)
        if stream is None:
            return bodies
        return [body for body in bodies if bool(body.get("stream")) is stream]

    # --- used by the handler ---

    def _take_fault(self, *, mid_stream: bool = False) -> _Fault | None:
        attribute = "_stream_fault" if mid_stream else "_fault"
        with self._lock:
            fault = getattr(self, attribute)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    setattr(self, attribute, None)
            return fault

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.calls.append((method, path, status))

    def _record_body(self, body: Any) -> None:
        with self._lock:
            self.requests.append(body)

    def _record_invalid(self, body: Any, reason: str) -> None:
        with self._lock:
            self.invalid_requests.append((body, reason))


class _Server(ThreadingHTTPServer):
    # Joined in server_close() (after close_connections), so stop() leaves no thread behind.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 owner: OpenAICompatibleServer):
        self.owner = owner
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is not worth a traceback; anything else is."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as real endpoints do
    timeout = 30  # an idle kept-alive connection cannot hold a thread for ever
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client went away; nothing to flush to
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; `calls` records what happened."""

    # --- routing ---

    def do_GET(self) -> None:
        """GET /v1/models."""
        self._body()  # a GET has none, but keep the connection in step if one was sent
        if not self._authorised() or self._faulted():
            return
        if self.path.rstrip("/") == f"{API_PREFIX}/models":
            data = [{"id": model, "object": "model", "created": 0, "owned_by": "support-tests"}
                    for model in self.server.owner.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, _error_body(f"Unknown request URL: GET {self.path}",
                                        "invalid_request_error", code="unknown_url"))

    def do_POST(self) -> None:
        """POST /v1/chat/completions."""
        raw = self._body()
        if not self._authorised():
            return
        if self.path.rstrip("/") != f"{API_PREFIX}/chat/completions":
            self._json(404, _error_body(f"Unknown request URL: POST {self.path}",
                                        "invalid_request_error", code="unknown_url"))
            return
        owner = self.server.owner
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            owner._record_invalid(raw, f"not JSON: {exc}")
            self._json(400, _error_body(f"We could not parse the JSON body of your request "
                                        f"({exc}).", "invalid_request_error"))
            return
        owner._record_body(body)
        if self._faulted():
            return
        try:
            check_chat_request(body)
        except InvalidChatRequest as exc:
            owner._record_invalid(body, str(exc))
            self._json(400, _error_body(str(exc), "invalid_request_error", exc.param))
            return
        if body["model"] not in owner.models:
            reason = f"The model `{body['model']}` does not exist or you do not have access to it."
            owner._record_invalid(body, reason)
            self._json(404, _error_body(reason, "invalid_request_error", code="model_not_found"))
            return
        if owner.delay_seconds > 0:
            time.sleep(owner.delay_seconds)  # a slow model: lets concurrent turns overlap
        reply = respond(to_langchain_messages(body["messages"]), offered_tool_names(body))
        if body.get("stream"):
            chunks = completion_chunks(body, reply)
            broken = owner._take_fault(mid_stream=True)
            if broken is not None:
                # A chunk or two goes out, then the error: the client has already seen HTTP 200.
                chunks = iter([*itertools.islice(chunks, 2),
                               _error_body(broken.message, "server_error")])
            self._stream(chunks)
        else:
            self._json(200, completion_object(body, reply))

    # --- helpers ---

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        expected = self.server.owner.api_key
        if scheme.lower() == "bearer" and token.strip() and expected in (None, token.strip()):
            return True
        message = ("Incorrect API key provided." if token.strip() else
                   "You didn't provide an API key. You need to provide your API key in an "
                   "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        self._json(401, _error_body(message, "invalid_request_error", code="invalid_api_key"))
        return False

    def _faulted(self) -> bool:
        fault = self.server.owner._take_fault()
        if fault is None:
            return False
        kind = "server_error" if fault.status >= 500 else "invalid_request_error"
        headers = {"retry-after-ms": str(self.server.owner.retry_after_ms)}
        self._json(fault.status, _error_body(fault.message, kind), headers)
        return True

    def _json(self, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.server.owner._record(self.command, self.path, status)

    def _stream(self, chunks: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # the zero-length chunk ends the chunked body
        self.server.owner._record(self.command, self.path, 200)

    def _write_chunk(self, data: bytes) -> None:
        # HTTP/1.1 chunked transfer coding; flushed so each event reaches the client at once.
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
