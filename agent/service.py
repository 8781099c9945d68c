"""SupportDesk: the one façade the CLI, the UI, the grader and the demos use.

Every method takes the acting user's id and checks, against the thread registry, that the
user may touch the thread; a thread that is not theirs is reported as not found. Roles and
tenants come from the user record, never from the caller. Turns run one at a time per thread
(agent/turns.py); a turn left unfinished by a crash is resumed before anything else runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    messages_to_dict,
)
from langgraph.types import Command, StateSnapshot
from pydantic import ValidationError

from agent.core.approval import ApprovalDecision
from agent.core.memory import PROFILE_KEY, profile_namespace
from agent.domain.seed import SeedReport, seed_demo_shop
from agent.domain.shop import Customer, Shop, User, reference
from agent.domain.users import UserDirectory
from agent.errors import AccountDisabled, InvalidInput, NotAllowed, NotFound
from agent.graph import build_graph
from agent.nodes.tools import describe_validation_error
from agent.persistence.savers import Persistence, open_persistence
from agent.persistence.threads import ThreadRecord, ThreadRegistry, is_thread_id
from agent.settings import Settings, load_settings
from agent.text import storable_text
from agent.tools import registry
from agent.turns import (
    Plan,
    TurnRunner,
    TurnStream,
    checkpoint_id_of,
    guarded,
    has_pending_work,
    thread_config,
)
from agent.views import (
    ChatEvent,
    ChatMessage,
    Check,
    CheckpointInfo,
    CheckpointState,
    PendingApproval,
    ThreadPage,
    ThreadView,
    TurnEndedEvent,
    TurnResult,
)

DEFAULT_TITLE = "New conversation"
MAX_TITLE_CHARS = 80
MAX_PAGE = 200


class SupportDesk:
    """Threads, chat, approvals, history and recovery for the support agent."""

    def __init__(self, settings: Settings, persistence: Persistence, *, model: Any = None):
        self.settings = settings
        self.persistence = persistence
        self.shop = Shop(persistence.db)
        self.accounts = UserDirectory(persistence.db)
        self.threads = ThreadRegistry(persistence.db)
        self.graph = build_graph(checkpointer=persistence.checkpointer, store=persistence.store,
                                 settings=settings, shop=self.shop, model=model)
        self.turns = TurnRunner(self.graph, self.threads, persistence.locks, settings,
                                self._approval)

    @classmethod
    def open(cls, settings: Settings | None = None, **overrides: Any) -> SupportDesk:
        """Open the desk on the configured saver (overrides as in `load_settings`)."""
        settings = settings or load_settings(**overrides)
        if not settings.model_is_offline:
            from agent.model.factory import make_chat_model

            make_chat_model(settings)  # a missing key is reported before touching the database
        persistence = open_persistence(settings)
        try:
            return cls(settings, persistence)
        except BaseException:
            persistence.close()
            raise

    def close(self) -> None:
        """Stop unfinished turns, then release connections and locks."""
        # A caller may abandon a turn mid-stream (an exception, Ctrl-C, a page rerun). Its
        # worker threads still use the connections, so they are stopped first.
        self.turns.close_all()
        self.persistence.close()

    def __enter__(self) -> SupportDesk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def diagnose(settings: Settings) -> list[Check]:
        """Check configuration, database, Redis and model; never raises."""
        from agent.doctor import run_checks

        return run_checks(settings)

    # --- people ------------------------------------------------------------------------------

    def user(self, user_id: str) -> User:
        """The user record; an unknown id or a disabled account is a clear error.

        Every entry point acting for a user comes through here (or `user_by_email`), so a
        disabled account can do nothing.
        """
        user = self.shop.get_user(storable_text(user_id or "", "the user id").strip().lower())
        if user is None:
            raise NotFound(f"unknown user {user_id!r}; sign in as an existing user (see "
                           "`support-agent users list`)")
        return _enabled(user)

    def users(self) -> list[User]:
        """Everyone who can sign in (local mode)."""
        return self.shop.list_users()

    def user_by_email(self, email: str) -> User:
        """The user an identity provider's e-mail address belongs to."""
        user = self.shop.get_user_by_email(storable_text(email or "", "the e-mail address"))
        if user is None:
            raise NotFound(f"no support-agent account for {email!r}; ask an administrator to "
                           "add one")
        return _enabled(user)

    def add_user(self, user_id: str, *, display_name: str, email: str, role: str,
                 tenant: str) -> User:
        """Add a real user (an administrator's action); InvalidInput names any bad field."""
        return self.accounts.add(user_id, display_name=display_name, email=email, role=role,
                                 tenant=tenant)

    def set_user_role(self, user_id: str, role: str) -> User:
        """Make a user a customer or a supervisor (an administrator's action)."""
        return self.accounts.set_role(user_id, role)

    def disable_user(self, user_id: str) -> User:
        """Disable an account: from now on every action of that user is refused."""
        return self.accounts.set_disabled(user_id, True)

    def enable_user(self, user_id: str) -> User:
        """Enable a disabled account again."""
        return self.accounts.set_disabled(user_id, False)

    def seed_demo(self) -> SeedReport:
        """Add whatever of the demo shop is missing (idempotent); report what was added."""
        with self.persistence.db.transaction() as session:
            return seed_demo_shop(session)

    def describe(self) -> dict[str, str]:
        """What this instance runs on (saver, database, Redis, locks, model), secrets masked."""
        return {**self.settings.describe(), "locks": self.persistence.locks.kind}

    def remembered_profile(self, user_id: str) -> dict[str, Any]:
        """What the agent remembers about a customer across threads."""
        user = self.user(user_id)
        item = self.persistence.store.get(profile_namespace(user.tenant, user.user_id),
                                          PROFILE_KEY)
        return dict(item.value) if item else {}

    # --- threads -----------------------------------------------------------------------------

    def create_thread(self, user_id: str, title: str | None = None) -> ThreadRecord:
        """Start an empty thread owned by the user."""
        user = self._customer(user_id)
        clean = _clean_title(storable_text(title or "", "the title"))
        return self.threads.create(user.tenant, user.user_id, clean or DEFAULT_TITLE)

    def list_threads(self, user_id: str, *, limit: int = 20, offset: int = 0) -> ThreadPage:
        """A page of the user's own threads, most recent activity first."""
        user = self.user(user_id)
        limit, offset = _page(limit, offset)
        page = self.threads.list_for_user(user.tenant, user.user_id, limit=limit, offset=offset)
        return ThreadPage([self.turns.reconcile(record) for record in page],
                          self.threads.count_for_user(user.tenant, user.user_id), offset, limit)

    def tenant_threads(self, supervisor_id: str, *, limit: int = 20,
                       offset: int = 0) -> ThreadPage:
        """A page of every thread in the supervisor's tenant, most recent activity first."""
        supervisor = self._supervisor(supervisor_id)
        limit, offset = _page(limit, offset)
        page = self.threads.list_for_tenant(supervisor.tenant, limit=limit, offset=offset)
        return ThreadPage([self.turns.reconcile(record) for record in page],
                          self.threads.count_for_tenant(supervisor.tenant), offset, limit)

    def rename_thread(self, user_id: str, thread_id: str, title: str) -> ThreadRecord:
        """Give a thread a new title."""
        record = self._owned_thread(self.user(user_id), thread_id)
        clean = _clean_title(storable_text(title or "", "the title"))
        if not clean:
            raise InvalidInput("the new title is empty")
        self.threads.set_title(record.thread_id, clean)
        return self._owned_thread(self.user(user_id), thread_id)

    def close_thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        """Mark a thread closed; a new message reopens it."""
        record = self._owned_thread(self.user(user_id), thread_id)
        # Under the thread's lock, like a turn: a close waits for (or, with the "fail" policy,
        # is refused by) a running turn, and a turn starting now cannot run beside it.
        with self.turns.holding(record) as current:
            if current.status == "awaiting_approval":
                raise InvalidInput("this thread waits for a supervisor to decide on a requested "
                                   "action; close it after that")
            self.threads.set_status(current.thread_id, "closed")
        return self._owned_thread(self.user(user_id), thread_id)

    def delete_thread(self, user_id: str, thread_id: str) -> None:
        """Delete a thread: its registry row first (it vanishes at once), then its checkpoints."""
        record = self._owned_thread(self.user(user_id), thread_id)
        with self.persistence.locks.hold(record.thread_id, self.turns.wait_seconds):
            self.threads.delete(record.thread_id)
            self.persistence.checkpointer.delete_thread(record.thread_id)

    def view_thread(self, user_id: str, thread_id: str) -> ThreadView:
        """The thread's current messages, summary and any approval it waits for."""
        record = self.turns.reconcile(self._readable_thread(self.user(user_id), thread_id))
        snapshot = self.turns.state(record.thread_id)
        values = snapshot.values or {}
        return ThreadView(
            thread=record,
            messages=[to_chat_message(m) for m in values.get("messages", [])],
            summary=values.get("summary", ""),
            pending_approvals=self._approvals_in(record, snapshot),
            next_nodes=tuple(task.name for task in snapshot.tasks),
            checkpoint_id=checkpoint_id_of(snapshot),
        )

    # --- chat --------------------------------------------------------------------------------

    def send_message(self, user_id: str, text: str, *,
                     thread_id: str | None = None) -> TurnStream:
        """Send a customer message and stream the turn (a new thread if `thread_id` is None).

        A turn a crash left unfinished on this thread is completed first, in the same stream.
        """
        user = self._customer(user_id)
        text = self._valid_message(text)
        created = thread_id is None
        if created:
            record = self.threads.create(user.tenant, user.user_id, _clean_title(text))
        else:
            record = self._owned_thread(user, thread_id)

        def prepare(head: StateSnapshot) -> Plan:
            if head.interrupts:
                raise InvalidInput("this thread is waiting for a supervisor to decide on a "
                                   "requested action; you can write again once it is decided")
            if record.title == DEFAULT_TITLE:
                self.threads.set_title(record.thread_id, _clean_title(text))
            message = ({"messages": [HumanMessage(text)]}, None)
            return [(None, None), message] if has_pending_work(head) else [message]

        try:
            return self.turns.start(record, prepare, discard_if_empty=created)
        except BaseException:
            if created:
                self.threads.delete(record.thread_id)
            raise

    def ask(self, user_id: str, text: str, *, thread_id: str | None = None) -> TurnResult:
        """Send a message and wait for the whole turn."""
        return collect(self.send_message(user_id, text, thread_id=thread_id))

    def resume(self, user_id: str, thread_id: str) -> TurnStream:
        """Finish the work a crash left pending on a thread (owner or a tenant supervisor)."""
        record = self._readable_thread(self.user(user_id), thread_id)

        def prepare(head: StateSnapshot) -> Plan:
            if head.interrupts:
                self.turns.record_status(record, head)
                raise InvalidInput("this thread waits for a supervisor's decision, not for a "
                                   "resume; approve or reject the request")
            if not has_pending_work(head):
                self.turns.record_status(record, head)
                raise InvalidInput("nothing to resume: the thread's last turn finished")
            return [(None, None)]

        return self.turns.start(record, prepare)

    def interrupted_threads(self, supervisor_id: str, *, limit: int = 100) -> list[ThreadRecord]:
        """Threads of the supervisor's tenant that a crash left with unfinished work."""
        supervisor = self._supervisor(supervisor_id)
        self._reconcile_tenant(supervisor.tenant)
        return self.threads.list_by_status(supervisor.tenant, "interrupted",
                                           limit=_page(limit, 0)[0])

    # --- approvals ---------------------------------------------------------------------------

    def pending_approvals(self, supervisor_id: str, *, limit: int = 50) -> list[PendingApproval]:
        """Everything waiting for a decision in the supervisor's tenant, longest waiting first."""
        supervisor = self._supervisor(supervisor_id)
        self._reconcile_tenant(supervisor.tenant)
        pending = []
        for record in self.threads.list_by_status(supervisor.tenant, "awaiting_approval",
                                                  limit=_page(limit, 0)[0]):
            pending += self._approvals_in(record, self.turns.state(record.thread_id))
        return sorted(pending, key=lambda p: p.requested_at)

    def decide_approval(self, supervisor_id: str, thread_id: str, decision: dict[str, Any], *,
                        interrupt_id: str | None = None) -> TurnStream:
        """Approve, edit or reject the action a thread waits on, and stream the rest of the turn.

        `decision` is {"action": "approve"} | {"action": "edit", "arguments": {...}} |
        {"action": "reject", "reason": "..."}. A malformed decision raises InvalidInput and the
        thread keeps waiting. Decisions are checked under the thread's lock, so of two
        supervisors deciding at once, the second is told it was decided already.
        """
        supervisor = self._supervisor(supervisor_id)
        record = self._registered(thread_id)
        if record is None or record.tenant != supervisor.tenant:
            raise NotFound("thread not found")

        def prepare(head: StateSnapshot) -> Plan:
            waiting = self._approvals_in(record, head)
            if interrupt_id is not None:
                waiting = [p for p in waiting if p.interrupt_id == interrupt_id]
                if not waiting:
                    raise InvalidInput(f"no request {interrupt_id} is waiting in this thread; it "
                                       "was probably decided already (by someone else, or in "
                                       "another window)")
            if not waiting:
                raise InvalidInput("nothing in this thread is waiting for approval; it may have "
                                   "been decided already")
            target = waiting[0]
            checked = self._valid_decision(decision, target, supervisor)
            return [(Command(resume={target.interrupt_id: checked}), None)]

        return self.turns.start(record, prepare)

    # --- history and time travel -----------------------------------------------------------

    def history(self, user_id: str, thread_id: str, *, limit: int = 20,
                before: str | None = None) -> list[CheckpointInfo]:
        """A page of checkpoints, newest first; pass the last id as `before` for the next page."""
        record = self._readable_thread(self.user(user_id), thread_id)
        return [self._checkpoint_info(snapshot, parent)
                for snapshot, parent in self._history_page(record, limit, before)]

    def state_at(self, user_id: str, thread_id: str, checkpoint_id: str) -> CheckpointState:
        """The full state at one checkpoint and what changed from its parent."""
        record = self._readable_thread(self.user(user_id), thread_id)
        snapshot = self._snapshot(record, checkpoint_id)
        parent_id = _parent_id(snapshot)
        parent = self._snapshot(record, parent_id) if parent_id else None
        values = snapshot.values or {}
        parent_values = (parent.values or {}) if parent else {}
        ids = [m.id for m in values.get("messages", [])]
        parent_ids = [m.id for m in parent_values.get("messages", [])]
        return CheckpointState(
            info=self._checkpoint_info(snapshot, parent),
            messages=[to_chat_message(m) for m in values.get("messages", [])],
            summary=values.get("summary", ""),
            customer=values.get("customer", {}),
            values=json_values(values),
            added_message_ids=[i for i in ids if i not in parent_ids],
            removed_message_ids=[i for i in parent_ids if i not in ids],
            summary_changed=values.get("summary", "") != parent_values.get("summary", ""),
        )

    def replay(self, user_id: str, thread_id: str, checkpoint_id: str) -> TurnStream:
        """Run again from a checkpoint; the new steps form a branch from it."""
        record = self._owned_thread(self._customer(user_id), thread_id)
        snapshot = self._snapshot(record, checkpoint_id)
        if not snapshot.next:
            raise InvalidInput(f"checkpoint {checkpoint_id} ends a turn, so there is nothing to "
                               "replay; pick one that shows what runs next")
        return self.turns.start(record, lambda head: [(None, snapshot.config)])

    def fork(self, user_id: str, thread_id: str, checkpoint_id: str, text: str) -> TurnStream:
        """Edit the customer message at a checkpoint and continue on a new branch."""
        record = self._owned_thread(self._customer(user_id), thread_id)
        text = self._valid_message(text)
        snapshot = self._snapshot(record, checkpoint_id)
        messages = (snapshot.values or {}).get("messages", [])
        if not messages or not isinstance(messages[-1], HumanMessage) or \
                snapshot.metadata.get("source") == "input":
            raise InvalidInput(f"checkpoint {checkpoint_id} does not end with a customer "
                               "message; fork from a checkpoint where one was just received")
        edited = HumanMessage(text, id=messages[-1].id)

        def prepare(head: StateSnapshot) -> Plan:
            branch = guarded(lambda: self.graph.update_state(
                snapshot.config, {"messages": [edited]}, as_node="__start__"))
            return [(None, branch)]

        return self.turns.start(record, prepare)

    def export_thread(self, user_id: str, thread_id: str) -> dict[str, Any]:
        """The thread and every checkpoint (oldest first) as JSON-ready data."""
        record = self._readable_thread(self.user(user_id), thread_id)
        checkpoints = []
        before: str | None = None
        while True:
            page = self._history_page(record, MAX_PAGE, before)
            checkpoints += [{**asdict(self._checkpoint_info(snapshot, parent)),
                             "values": json_values(snapshot.values or {})}
                            for snapshot, parent in page]
            if len(page) < MAX_PAGE:
                break
            before = checkpoint_id_of(page[-1][0])
        checkpoints.reverse()
        return {"format": "support-agent/thread-export@1", "exported_at": time.time(),
                "thread": asdict(record), "checkpoints": checkpoints}

    def ledger(self, user_id: str) -> list[dict[str, Any]]:
        """Ledger entries visible to the user: their own, or their tenant's for a supervisor."""
        user = self.user(user_id)
        entries = self.shop.ledger(tenant=user.tenant)
        if not user.is_supervisor:
            entries = [e for e in entries if e.customer_id == user.user_id]
        return [{"reference": reference(e.idempotency_key), **asdict(e)} for e in entries]

    # --- helpers -----------------------------------------------------------------------------

    def _reconcile_tenant(self, tenant: str) -> None:
        for record in self.threads.list_by_status(tenant, "running"):
            self.turns.reconcile(record)

    def _customer(self, user_id: str) -> User:
        user = self.user(user_id)
        if user.is_supervisor:
            raise NotAllowed(f"{user.user_id} is a supervisor; only customers chat. Supervisors "
                             "review approvals and read history.")
        return user

    def _supervisor(self, user_id: str) -> User:
        user = self.user(user_id)
        if not user.is_supervisor:
            raise NotAllowed(f"{user.user_id} is not a supervisor, so cannot list or decide "
                             "approvals")
        return user

    def _registered(self, thread_id: str | None) -> ThreadRecord | None:
        """The registry row for a thread id someone gave; a malformed id never reaches a query."""
        if not thread_id:
            return None
        storable_text(thread_id, "the thread id")
        if not is_thread_id(thread_id):
            raise NotFound("thread not found (thread ids look like t_ and 32 hex digits)")
        return self.threads.get(thread_id)

    def _owned_thread(self, user: User, thread_id: str | None) -> ThreadRecord:
        record = self._registered(thread_id)
        if record is None or record.tenant != user.tenant or record.user_id != user.user_id:
            raise NotFound("thread not found")
        return record

    def _readable_thread(self, user: User, thread_id: str | None) -> ThreadRecord:
        """The owner reads their thread; a supervisor reads any thread of their tenant."""
        if not user.is_supervisor:
            return self._owned_thread(user, thread_id)
        record = self._registered(thread_id)
        if record is None or record.tenant != user.tenant:
            raise NotFound("thread not found")
        return record

    def _valid_message(self, text: str) -> str:
        text = storable_text(text or "", "the message").strip()
        if not text:
            raise InvalidInput("the message is empty")
        limit = self.settings.max_message_chars
        if len(text) > limit:
            raise InvalidInput(f"the message is {len(text):,} characters long; the limit is "
                               f"{limit:,} (SUPPORT_MAX_MESSAGE_CHARS)")
        return text

    def _valid_decision(self, decision: Any, pending: PendingApproval,
                        supervisor: User) -> dict[str, Any]:
        if not isinstance(decision, dict):
            raise InvalidInput("a decision must be an object such as {\"action\": \"approve\"}")
        # The reason reaches the customer and edited arguments the shop's tables (PostgreSQL
        # refuses NUL), so their text is checked like a message.
        edits = decision.get("arguments")
        texts = [("the reason", decision.get("reason")),
                 *((f"the {name}", value) for name, value in
                   (edits.items() if isinstance(edits, dict) else ()))]
        for what, value in texts:
            if isinstance(value, str):
                storable_text(value, what)
        try:
            checked = ApprovalDecision.model_validate({**decision,
                                                       "decided_by": supervisor.user_id})
        except ValidationError as exc:
            raise InvalidInput(f"malformed decision: {describe_validation_error(exc)}; the "
                               "request is still waiting") from None
        if checked.action == "edit":
            tool = registry.get(pending.action)
            if tool is None:
                raise InvalidInput(f"there is no tool called {pending.action!r} any more; "
                                   "approve or reject the request as it stands")
            try:
                valid = tool.args.model_validate({**pending.arguments, **(checked.arguments or {})})
            except ValidationError as exc:
                raise InvalidInput(f"the edited arguments for {pending.action} are invalid: "
                                   f"{describe_validation_error(exc)}; the request is still "
                                   "waiting") from None
            # Typed as the tool declares them ("20" from a command line becomes 20.0).
            typed = valid.model_dump()
            checked.arguments = {key: typed[key] for key in checked.arguments or {}}
        return checked.model_dump(exclude_none=True)

    def _snapshot(self, record: ThreadRecord, checkpoint_id: str | None) -> StateSnapshot:
        storable_text(checkpoint_id or "", "the checkpoint id")
        snapshot = self.turns.state(record.thread_id, checkpoint_id)
        if snapshot.metadata is None or checkpoint_id_of(snapshot) != checkpoint_id:
            raise NotFound(f"checkpoint {checkpoint_id} not found in this thread")
        return snapshot

    def _history_page(self, record: ThreadRecord, limit: int,
                      before: str | None) -> list[tuple[StateSnapshot, StateSnapshot | None]]:
        """Up to `limit` snapshots, newest first, each with its parent (to name its writer)."""
        limit, _ = _page(limit, 0)
        storable_text(before or "", "the checkpoint id")
        config = thread_config(record.thread_id)
        before_config = thread_config(record.thread_id, before) if before else None
        snapshots = guarded(lambda: list(
            self.graph.get_state_history(config, limit=limit + 1, before=before_config)))
        by_id = {checkpoint_id_of(s): s for s in snapshots}
        page = []
        for snapshot in snapshots[:limit]:
            parent_id = _parent_id(snapshot)
            parent = by_id.get(parent_id) if parent_id else None
            if parent_id and parent is None:  # on another branch: one more read
                parent = self.turns.state(record.thread_id, parent_id)
            page.append((snapshot, parent))
        return page

    def _approvals_in(self, record: ThreadRecord,
                      snapshot: StateSnapshot) -> list[PendingApproval]:
        return [self._approval(record, i.id, i.value) for i in snapshot.interrupts
                if isinstance(i.value, dict) and i.value.get("kind") == "approval"]

    def _approval(self, record: ThreadRecord, interrupt_id: str,
                  value: dict[str, Any]) -> PendingApproval:
        customer = self.shop.get_user(record.user_id)
        tool = registry.get(value["action"])
        summary, ineligible = tool.describe_request(
            self.shop, Customer(record.tenant, record.user_id), dict(value["arguments"])
        ) if tool else (value["action"], "")
        return PendingApproval(
            thread_id=record.thread_id,
            thread_title=record.title,
            interrupt_id=interrupt_id,
            action=value["action"],
            arguments=dict(value["arguments"]),
            tool_call_id=value["tool_call_id"],
            tenant=record.tenant,
            customer_id=record.user_id,
            customer_name=customer.display_name if customer else record.user_id,
            reason=value.get("reason", ""),
            excerpt=list(value.get("excerpt", [])),
            requested_at=float(value.get("requested_at", 0.0)),
            editable_arguments=tuple(tool.args.model_fields) if tool
            else tuple(value["arguments"]),
            label=tool.title if tool else value["action"],
            summary=summary,
            ineligible=ineligible,
        )

    def _checkpoint_info(self, snapshot: StateSnapshot,
                         parent: StateSnapshot | None) -> CheckpointInfo:
        values = snapshot.values or {}
        messages = values.get("messages", [])
        source = snapshot.metadata.get("source", "loop")
        if source == "input":
            written_by: tuple[str, ...] = ("input",)
        elif source in ("update", "fork"):
            written_by = (source,)
        else:
            written_by = tuple(parent.next) if parent else ()
        return CheckpointInfo(
            checkpoint_id=checkpoint_id_of(snapshot) or "",
            parent_id=_parent_id(snapshot),
            step=int(snapshot.metadata.get("step", 0)),
            source=source,
            written_by=written_by,
            next_nodes=tuple(snapshot.next),
            created_at=snapshot.created_at or "",
            message_count=len(messages),
            size_bytes=len(self.persistence.checkpointer.serde.dumps_typed(values)[1]),
            can_fork=bool(messages) and isinstance(messages[-1], HumanMessage)
            and source != "input",
            awaiting_approval=bool(snapshot.interrupts),
        )


def collect(events: Iterator[ChatEvent]) -> TurnResult:
    """Drain a stream of events into one TurnResult."""
    seen = list(events)
    end = next((e for e in reversed(seen) if isinstance(e, TurnEndedEvent)), None)
    if end is None:  # pragma: no cover - _run always ends with TurnEndedEvent
        raise RuntimeError("the turn ended without a TurnEndedEvent")
    return TurnResult(end.thread_id, end.status, end.reply, seen)


def to_chat_message(message: AnyMessage) -> ChatMessage:
    """A LangChain message as a person reads it."""
    if isinstance(message, HumanMessage):
        return ChatMessage(message.id, "customer", message.text)
    if isinstance(message, AIMessage):
        calls = [{"name": c["name"], "args": c["args"], "id": c["id"]} for c in message.tool_calls]
        return ChatMessage(message.id, "assistant", message.text, tool_calls=calls)
    if isinstance(message, ToolMessage):
        return ChatMessage(message.id, "tool", message.text, tool_name=message.name,
                           ok=message.status != "error")
    if isinstance(message, SystemMessage):
        return ChatMessage(message.id, "system", message.text)
    return ChatMessage(message.id, "system", str(message.content))


def json_values(values: dict[str, Any]) -> dict[str, Any]:
    """State values in a JSON-friendly shape."""
    return {
        "messages": messages_to_dict(values.get("messages", [])),
        "summary": values.get("summary", ""),
        "customer": values.get("customer", {}),
    }


def _enabled(user: User) -> User:
    if user.disabled:
        raise AccountDisabled(f"account {user.user_id} is disabled: this account can do nothing "
                              "until an administrator enables it again")
    return user


def _parent_id(snapshot: StateSnapshot) -> str | None:
    return (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")


def _clean_title(text: str | None) -> str:
    words = " ".join((text or "").split())
    return words if len(words) <= MAX_TITLE_CHARS else words[:MAX_TITLE_CHARS - 1] + "…"


def _page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or offset < 0:
        raise InvalidInput("page size must be at least 1 and the offset not negative")
    return min(limit, MAX_PAGE), offset
