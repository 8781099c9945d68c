"""Supervisor inbox: actions waiting for approval, and conversations asking for a person."""

from __future__ import annotations

import streamlit as st

from agent.errors import SupportError
from agent.views import PendingApproval
from ui.components.approvals import (
    approval_card,
    close_card_forms,
    decision_outcome,
    discard_unsent_decisions,
    forget_cards_except,
    report_problem,
)
from ui.components.attachments import attachment_list, loader_for
from ui.components.handoffs import handoff_queue
from ui.components.live import follow_updates, live_since, poll_every
from ui.components.text import plain
from ui.session import desk, require_user

REFRESH_SECONDS = 5
OUTCOMES_SHOWN = 3  # the newest outcomes of this session's decisions stay on the page

supervisor = require_user()
support = desk()
st.title("Approvals")
# Taken before anything is read: a change made meanwhile still reruns the page.
since = live_since(support, supervisor.tenant)


def _outcome(kind: str, text: str) -> None:
    """Remember a notice for the top of the inbox (newest first)."""
    outcomes = st.session_state.setdefault("approval_outcomes", [])
    outcomes.insert(0, (kind, text))
    del outcomes[OUTCOMES_SHOWN:]


def _request_words(request: PendingApproval) -> str:
    order = request.order.order_id if request.order else request.arguments.get("order_id")
    what = (request.label or request.action.replace("_", " ")).lower()
    return f"{request.customer_name}'s {what}" + (f" on {order}" if order else "")


def report_decided_elsewhere(pending: list[PendingApproval]) -> None:
    """Say which requests shown before are gone without a decision from this page.

    Someone else (another supervisor, another window) decided them in the meantime. A click on
    such a card finds nothing to decide: this notice is what the supervisor sees instead.
    """
    shown = st.session_state.setdefault("shown_requests", {})
    decided_here = st.session_state.setdefault("decided_here", set())
    now = {request.interrupt_id: _request_words(request) for request in pending}
    gone = [what for interrupt_id, what in shown.items()
            if interrupt_id not in now and interrupt_id not in decided_here]
    if gone:
        _outcome("info", f"Decided elsewhere in the meantime: {plain(', '.join(gone))}. "
                         "Nothing was decided twice.")
    st.session_state.shown_requests = now


def customer_files(request: PendingApproval) -> None:
    """The photos and PDFs the customer sent in the request's conversation, on its card."""
    try:
        refs = support.thread_attachments(supervisor.user_id, request.thread_id)
    except SupportError as exc:
        st.caption(f"The customer's files cannot be shown: {plain(str(exc))}")
        return
    if refs:
        st.caption("Files from the customer")
        attachment_list(refs, loader_for(support, supervisor.user_id, request.thread_id),
                        key=f"card-file-{request.interrupt_id}")


def decide(request: PendingApproval, decision: dict) -> None:
    """Send one card's decision for that card's request, and remember what came of it."""
    try:
        with st.spinner("Applying the decision..."):
            events = list(support.decide_approval(supervisor.user_id, request.thread_id,
                                                  decision, interrupt_id=request.interrupt_id))
    except SupportError as exc:
        # Shown in the request's own card; if the request is gone (decided elsewhere), the
        # card is too, and the inbox says it was decided elsewhere instead.
        report_problem(request.interrupt_id, str(exc))
        return
    st.session_state.decided_here.add(request.interrupt_id)
    close_card_forms(request.interrupt_id)
    _outcome(*decision_outcome(request, decision, events))


@st.fragment(run_every=poll_every(since, REFRESH_SECONDS))
def inbox() -> None:
    """The pending requests, longest waiting first, each with its decision controls."""
    try:
        pending = support.pending_approvals(supervisor.user_id)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        discard_unsent_decisions()  # never sent later, on some refresh the supervisor missed
        return
    report_decided_elsewhere(pending)
    forget_cards_except(request.interrupt_id for request in pending)
    icons = {"success": ":material/check_circle:", "info": ":material/info:",
             "warning": ":material/warning:", "error": ":material/error:"}
    for kind, text in st.session_state.get("approval_outcomes", []):
        getattr(st, kind)(text, icon=icons[kind])
    if not pending:
        st.success("Nothing is waiting for approval.", icon=":material/done_all:")
        return
    for request in pending:
        decision = approval_card(request, attachments=customer_files)
        if decision is not None:
            decide(request, decision)
            # A full rerun: a fragment rerun raises when the inbox ran as part of a full run.
            st.rerun()


def approvals_section() -> None:
    """Requests waiting for a decision: the inbox, refreshing by itself."""
    st.caption(f"Refunds, cancellations and address changes waiting in **{supervisor.tenant}**. "
               "The list refreshes by itself.")
    inbox()


@st.fragment(run_every=poll_every(since, REFRESH_SECONDS))
def handoffs_section() -> None:
    """Conversations where a customer asked for a person (or one handles them), refreshing."""
    st.subheader("Asking for a person")
    try:
        queue = support.handoffs(supervisor.user_id)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    handoff_queue(queue)


approvals_section()
handoffs_section()
# A request or a decision anywhere in the tenant (any instance) reruns the page at once.
follow_updates(support, supervisor.tenant, None, since)
