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


@st.fragment(run_every=REFRESH_SECONDS)
def inbox() -> None:
    """The pending requests, longest waiting first, each with its decision controls."""
    notice = st.session_state.get("approval_notice")  # stays until the next decision
    if notice:
        getattr(st, notice[0])(notice[1])
    try:
        pending = support.pending_approvals(supervisor.user_id)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if not pending:
        st.success("Nothing is waiting for approval.", icon=":material/done_all:")
        return
    for request in pending:
        decision = approval_card(request)
        if decision is None:
            continue
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
