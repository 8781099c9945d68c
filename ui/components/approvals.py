"""One pending approval, as a supervisor needs to see it to decide."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from agent.views import PendingApproval
from ui.components.text import ago, plain


def approval_card(pending: PendingApproval) -> dict[str, Any] | None:
    """Draw the request with approve / edit / reject controls; return a decision if taken."""
    key = pending.interrupt_id
    with st.container(border=True):
        action = pending.label or pending.action
        waited = ago(pending.requested_at, time.time()).replace(" ago", "")
        st.markdown(f"**{action}** for **{plain(pending.customer_name)}** · "
                    f":orange[waiting {waited}]")
        if pending.summary:
            st.markdown(plain(pending.summary))
        if pending.ineligible:
            st.warning(f"Not possible now: {plain(pending.ineligible)}", icon=":material/warning:")
        st.caption(f"Thread: {plain(pending.thread_title)} ({pending.thread_id})")
        st.json(pending.arguments, expanded=True)
        if pending.excerpt:
            st.caption("Conversation")
            for line in pending.excerpt:
                st.text(line)
        approve, edit, reject = st.columns(3)
        if approve.button("Approve", key=f"approve-{key}", type="primary",
                          icon=":material/check:", width="stretch"):
            return {"action": "approve"}
        with edit.popover("Edit, then approve", icon=":material/edit:", width="stretch"), \
                st.form(f"edit-{key}", border=False):
            # Every argument the tool takes, so one the model left out (a partial refund's
            # amount) can be set too; the desk checks and types what is entered.
            names = pending.editable_arguments or tuple(pending.arguments)
            changed = {name: st.text_input(name, value=_as_text(pending.arguments.get(name)),
                                           key=f"e-{key}-{name}") for name in names}
            if st.form_submit_button("Approve with these arguments", type="primary"):
                edits = {name: value for name, value in changed.items()
                         if value != _as_text(pending.arguments.get(name))}
                return {"action": "edit", "arguments": edits} if edits else {"action": "approve"}
        with reject.popover("Reject", icon=":material/block:", width="stretch"), \
                st.form(f"reject-{key}", border=False):
            reason = st.text_area("Reason (the customer sees it)", key=f"r-{key}")
            if st.form_submit_button("Reject", type="primary"):
                return {"action": "reject", "reason": reason}
    return None


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)
