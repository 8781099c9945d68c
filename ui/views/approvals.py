"""Supervisor inbox: every action waiting for approval in the supervisor's tenant."""

from __future__ import annotations

import streamlit as st

from agent.errors import SupportError
from ui.components.approvals import approval_card
from ui.session import desk, require_user

REFRESH_SECONDS = 5

supervisor = require_user()
support = desk()
st.title("Approvals")
st.caption(f"Refunds, cancellations and address changes waiting in **{supervisor.tenant}**. "
           "The list refreshes by itself.")


def report_decided_elsewhere(pending: list) -> None:
    """Say which requests shown before are gone without a decision from this page.

    Someone else (another supervisor, another window) decided them in the meantime. A click on
    such a card finds nothing to decide: this notice is what the supervisor sees instead.
    """
    shown = st.session_state.setdefault("shown_requests", {})
    decided_here = st.session_state.setdefault("decided_here", set())
    now = {request.interrupt_id: f"{request.action.replace('_', ' ')} for "
                                 f"{request.customer_name}" for request in pending}
    gone = [what for interrupt_id, what in shown.items()
            if interrupt_id not in now and interrupt_id not in decided_here]
    if gone:
        st.session_state.approval_notice = (
            "info", f"Decided elsewhere in the meantime: {', '.join(gone)}. Nothing was "
                    "decided twice.")
    st.session_state.shown_requests = now


@st.fragment(run_every=REFRESH_SECONDS)
def inbox() -> None:
    """The pending requests, longest waiting first, each with its decision controls."""
    try:
        pending = support.pending_approvals(supervisor.user_id)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    report_decided_elsewhere(pending)
    notice = st.session_state.get("approval_notice")  # stays until the next one
    if notice:
        getattr(st, notice[0])(notice[1])
    if not pending:
        st.success("Nothing is waiting for approval.", icon=":material/done_all:")
        return
    for request in pending:
        decision = approval_card(request)
        if decision is None:
            continue
        st.session_state.decided_here.add(request.interrupt_id)
        try:
            with st.spinner("Applying the decision..."):
                ended = [e for e in support.decide_approval(
                    supervisor.user_id, request.thread_id, decision,
                    interrupt_id=request.interrupt_id)]
            reply = getattr(ended[-1], "reply", "") if ended else ""
            st.session_state.approval_notice = (
                "success", f"Decided: {decision['action']}. The assistant told the customer: "
                           f"{reply[:200]}")
        except SupportError as exc:
            st.session_state.approval_notice = ("warning", str(exc))
        # A full rerun: a fragment rerun raises when the inbox ran as part of a full run.
        st.rerun()


inbox()
