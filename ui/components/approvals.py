"""One pending approval as a card a supervisor can decide from, every form bound to it.

Which form is open (edit, reject, reply instead) and what went wrong with a decision live in
session state under the request's interrupt id, and each form is drawn inside its own card.
Nothing here depends on where a card sits on the page: a notice above it, a card that
disappears, or the inbox refreshing by itself cannot move a form to another request (a
popover's open state, kept by the browser by position, could, and once refunded the wrong
customer).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import streamlit as st

from agent.views import ChatEvent, EditField, OrderFacts, PendingApproval, ToolResultEvent
from ui.components.text import ago, plain

FORMS_KEY = "approval_open_forms"  # {interrupt id: "edit" | "reject" | "respond"}
PROBLEMS_KEY = "approval_problems"  # {interrupt id: what went wrong, shown in its card}
DECISIONS_KEY = "approval_decisions"  # {interrupt id: a form's decision, not yet sent}
CENT = 0.01

Decision = dict[str, Any]


# --- per-request state ------------------------------------------------------------------------

def _forms() -> dict[str, str]:
    return st.session_state.setdefault(FORMS_KEY, {})


def _problems() -> dict[str, str]:
    return st.session_state.setdefault(PROBLEMS_KEY, {})


def _decisions() -> dict[str, Decision]:
    return st.session_state.setdefault(DECISIONS_KEY, {})


def open_form(interrupt_id: str) -> str | None:
    """Which form is open on this request's card, if any."""
    return _forms().get(interrupt_id)


def _toggle_form(interrupt_id: str, form: str) -> None:
    opening = _forms().get(interrupt_id) != form
    _cancel_form(interrupt_id)
    if opening:
        _forms()[interrupt_id] = form


def _cancel_form(interrupt_id: str) -> None:
    """Close the card's form and forget what was typed in it (a callback: before the run)."""
    close_card_forms(interrupt_id)
    # A form opened again starts from the request as it stands, not from an abandoned edit.
    typed = (f"edit-{interrupt_id}-", f"reject-reason-{interrupt_id}",
             f"respond-text-{interrupt_id}")
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(typed)]:
        del st.session_state[key]


def close_card_forms(interrupt_id: str) -> None:
    """Close the request's form and forget its problem (it was decided, or cancelled)."""
    _forms().pop(interrupt_id, None)
    _problems().pop(interrupt_id, None)


def discard_unsent_decisions() -> None:
    """Forget decisions submitted in forms that could not be sent (the inbox did not load)."""
    _decisions().clear()


def report_problem(interrupt_id: str, text: str) -> None:
    """Show what went wrong with a decision inside the card of the request it was for."""
    _problems()[interrupt_id] = text


def forget_cards_except(interrupt_ids: Iterable[str]) -> None:
    """Drop the form and problem state of requests no longer waiting."""
    keep = set(interrupt_ids)
    for state in (_forms(), _problems(), _decisions()):
        for gone in [key for key in state if key not in keep]:
            del state[gone]


# --- the card ---------------------------------------------------------------------------------

def approval_card(pending: PendingApproval, now: float | None = None, *,
                  attachments: Callable[[PendingApproval], None] | None = None
                  ) -> Decision | None:
    """Draw the request with everything needed to decide it; return a decision if taken.

    `attachments` draws the files the customer sent in the conversation (photos, PDFs).
    """
    key = pending.interrupt_id
    with st.container(border=True, key=f"approval-{key}"):
        _header(pending, now or time.time())
        if pending.effect:
            st.info(f"**{plain(pending.effect)}**", icon=":material/payments:")
        elif pending.summary:
            st.markdown(f"**{plain(pending.summary)}**")
        if pending.ineligible:
            st.warning(f"Not possible as it stands: {plain(pending.ineligible)}",
                       icon=":material/warning:")
        if pending.order:
            _order_facts(pending.order)
        if pending.policy:
            st.caption(f":material/policy: **Policy:** {plain(pending.policy)}")
        _excerpt(pending.excerpt)
        if attachments is not None:
            attachments(pending)
        return _controls(pending)


def _header(pending: PendingApproval, now: float) -> None:
    action = pending.label or pending.action.replace("_", " ")
    waited = ago(pending.requested_at, now)
    waited = "waiting less than a minute" if waited == "just now" \
        else f"waiting {waited.removesuffix(' ago')}"
    st.markdown(f"**{plain(action)}** for **{plain(pending.customer_name)}** · "
                f":orange[{waited}]")
    st.caption(f"Conversation: {plain(pending.thread_title)} ({pending.thread_id})")


def _order_facts(order: OrderFacts) -> None:
    about, refunds = st.columns(2)
    delivered = f"delivered {_day(order.delivered_at)}" if order.delivered_at \
        else "not delivered yet"
    lines = [f"**Order {plain(order.order_id)}** · {plain(order.status)}",
             f"Items: {plain('; '.join(order.items))}",
             f"Order amount: {plain(_dollars(order.amount_cents))}",
             f"Placed {_day(order.placed_at)} · {delivered}"]
    if order.shipping_address:  # what an address change replaces
        lines.append(f"Ships to: {plain(order.shipping_address)}")
    about.markdown("  \n".join(lines))
    if order.earlier_refunds:
        so_far = plain(f"{_dollars(order.refunded_cents)} of {_dollars(order.amount_cents)} "
                       "refunded so far")
        refunds.markdown(f"**Earlier refunds on this order:** {so_far}  \n" +
                         "  \n".join(plain(line) for line in order.earlier_refunds))
    else:
        refunds.markdown("**Earlier refunds on this order:** none")


def _excerpt(lines: list[str]) -> None:
    if not lines:
        return
    st.caption("Last messages")
    # Each line as a quote, its words escaped: what a customer wrote never acts as markdown.
    st.markdown("\n\n".join(f"> {plain(line)}" for line in lines))


# --- decisions --------------------------------------------------------------------------------

def _controls(pending: PendingApproval) -> Decision | None:
    key = pending.interrupt_id
    current = open_form(key)
    approve, edit, respond, reject = st.columns(4)
    approved = approve.button("Approve", key=f"approve-{key}", type="primary",
                              icon=":material/check:", width="stretch")
    if pending.edit_fields:  # unknown tool, or no data yet: nothing typed to offer
        edit.button("Edit, then approve", key=f"edit-{key}", icon=":material/edit:",
                    width="stretch", on_click=_toggle_form, args=(key, "edit"))
    respond.button("Reply instead", key=f"respond-{key}", icon=":material/reply:",
                   width="stretch", on_click=_toggle_form, args=(key, "respond"))
    reject.button("Reject", key=f"reject-{key}", icon=":material/block:", width="stretch",
                  on_click=_toggle_form, args=(key, "reject"))
    if approved:
        return {"action": "approve"}
    # A form's decision was taken by its submit button's callback, before this run drew
    # anything, so what went wrong is drawn in place, never filled in later (no flicker).
    decided = _decisions().pop(key, None)
    drawer = _FORMS.get(current or "")
    if drawer is None or (current == "edit" and not pending.edit_fields):
        _problem(pending)
    else:
        drawer(pending)
    return decided


def _problem(pending: PendingApproval) -> None:
    problem = _problems().get(pending.interrupt_id)
    if problem:
        st.error(plain(_in_people_words(problem, pending)), icon=":material/error:")


def _in_people_words(text: str, pending: PendingApproval) -> str:
    """The desk's message with the tool's and its arguments' names put as people read them."""
    # The desk names what it refuses as the tool sees it ("issue_refund", "reason: ...").
    for field in pending.edit_fields:
        text = re.sub(rf"(^|[\s;]){re.escape(field.name)}:", rf"\g<1>{field.label}:", text)
    return text.replace(pending.action, (pending.label or pending.action).lower())


def _cancel(key: str) -> None:
    st.form_submit_button("Cancel", on_click=_cancel_form, args=(key,))


def _send(pending: PendingApproval, decision: Decision) -> None:
    _problems().pop(pending.interrupt_id, None)
    _decisions()[pending.interrupt_id] = decision


def _edit_form(pending: PendingApproval) -> None:
    key = pending.interrupt_id
    with st.form(f"edit-form-{key}", border=True):
        st.markdown(f"**Change {plain(pending.customer_name)}'s "
                    f"{plain((pending.label or pending.action).lower())}"
                    f"{_on_order(pending)}, then approve it**")
        _problem(pending)
        for field in pending.edit_fields:
            _field_input(field, key)
        send, cancel = st.columns([3, 1])
        with send:
            st.form_submit_button("Approve with these changes", type="primary",
                                  icon=":material/check:", on_click=_submit_edit,
                                  args=(pending,))
        with cancel:
            _cancel(key)


def _submit_edit(pending: PendingApproval) -> None:
    entered = {field.name: st.session_state.get(f"edit-{pending.interrupt_id}-{field.name}")
               for field in pending.edit_fields}
    edits, problem = _edits(pending.edit_fields, entered)
    if problem:
        report_problem(pending.interrupt_id, problem)
    else:
        _send(pending, {"action": "edit", "arguments": edits} if edits
              else {"action": "approve"})


def _field_input(field: EditField, key: str) -> None:
    widget_key = f"edit-{key}-{field.name}"
    if field.kind == "money":
        _money_input(field, widget_key)
        return
    help_text = plain(field.help) if field.help else None
    if field.kind == "long_text":
        st.text_area(field.label, value=_text(field.value), help=help_text, key=widget_key)
    else:
        st.text_input(field.label, value=_text(field.value), help=help_text, key=widget_key)


def _money_input(field: EditField, widget_key: str) -> None:
    top = field.maximum
    if top is not None and top < CENT:
        st.caption(plain(f"{field.label}: nothing is left to refund on this order."))
        return
    # A request for "everything left" is shown as the full amount, pre-filled and said in
    # words, so the supervisor sees the number they approve.
    asked = _amount(field.value)
    value = top if asked is None else asked
    if value is not None and widget_key not in st.session_state:
        st.session_state[widget_key] = max(CENT, value if top is None else min(value, top))
    label = field.label if top is None else f"{field.label} (at most {_dollars_of(top)})"
    full = "" if top is None else f"The full amount still refundable is {_dollars_of(top)}."
    # Pre-filled through session state with no default, so an emptied field (or letters,
    # which a number field drops) submits nothing rather than the full amount. No max_value:
    # Streamlit would quietly put the default in place of a larger value; `_edits` refuses one
    # instead, saying so. Help is markdown, where two dollar signs start a formula; the label
    # (also the field's accessible name) holds one at most and stays as written.
    st.number_input(label, min_value=CENT, value=None, step=1.0, format="%.2f", key=widget_key,
                    help=plain(full) or None)
    if top is not None:
        requested = "The customer asked for the full amount" if asked is None \
            else f"The customer asked for {_dollars_of(asked)}"
        st.caption(plain(f"{requested}; {_dollars_of(top)} is the full amount still "
                         "refundable. Lower it for a partial refund."))


def _edits(fields: tuple[EditField, ...],
           entered: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The fields the supervisor changed, typed; or what is wrong with what they entered."""
    edits: dict[str, Any] = {}
    for field in fields:
        value = entered.get(field.name)
        if field.kind == "money":
            if value is None:
                if field.maximum is not None and field.maximum < CENT:
                    continue  # not offered: nothing is left
                if field.maximum is None and _amount(field.value) is None:
                    continue  # "everything left", and no maximum to show it as
                top = "" if field.maximum is None else f" (at most {_dollars_of(field.maximum)})"
                return {}, f"{field.label}: enter an amount{top}. Nothing was sent."
            amount = round(float(value), 2)
            if amount < CENT:
                return {}, f"{field.label}: at least $0.01. Nothing was sent."
            if field.maximum is not None and amount > round(field.maximum, 2):
                return {}, (f"{field.label}: at most {_dollars_of(field.maximum)}, the full "
                            "amount still refundable. Nothing was sent.")
            # Left at the full amount, a request for "everything left" stays one, so it
            # refunds what is left when it runs.
            asked = _amount(field.value)
            asked = field.maximum if asked is None else asked
            if asked is None or amount != round(asked, 2):
                edits[field.name] = amount
        elif (value or "") != _text(field.value):
            edits[field.name] = value
    return edits, None


def _reject_form(pending: PendingApproval) -> None:
    key = pending.interrupt_id
    with st.form(f"reject-form-{key}", border=True):
        st.markdown(f"**Reject {plain(pending.customer_name)}'s "
                    f"{plain((pending.label or pending.action).lower())}{_on_order(pending)}**")
        _problem(pending)
        st.text_area("Reason (the customer reads it)", key=f"reject-reason-{key}",
                     max_chars=1000)
        send, cancel = st.columns([3, 1])
        with send:
            st.form_submit_button("Reject with this reason", type="primary",
                                  icon=":material/block:", on_click=_submit_reject,
                                  args=(pending,))
        with cancel:
            _cancel(key)


def _submit_reject(pending: PendingApproval) -> None:
    reason = (st.session_state.get(f"reject-reason-{pending.interrupt_id}") or "").strip()
    if reason:
        _send(pending, {"action": "reject", "reason": reason})
    else:
        report_problem(pending.interrupt_id, "Write the reason the customer will read: nothing "
                                             "was sent, the request is still waiting.")


def _respond_form(pending: PendingApproval) -> None:
    key = pending.interrupt_id
    with st.form(f"respond-form-{key}", border=True):
        st.markdown(f"**Reply to {plain(pending.customer_name)} instead of deciding**")
        st.caption(f"The {plain((pending.label or pending.action).lower())}"
                   f"{_on_order(pending)} is not carried out. Your message appears in the "
                   "conversation in your name, and the conversation is handed to you; you can "
                   "hand it back to the assistant later.")
        _problem(pending)
        st.text_area("Your reply (the customer reads it)", key=f"respond-text-{key}",
                     max_chars=4000)
        send, cancel = st.columns([3, 1])
        with send:
            st.form_submit_button("Send reply instead", type="primary", icon=":material/send:",
                                  on_click=_submit_respond, args=(pending,))
        with cancel:
            _cancel(key)


def _submit_respond(pending: PendingApproval) -> None:
    message = (st.session_state.get(f"respond-text-{pending.interrupt_id}") or "").strip()
    if message:
        _send(pending, {"action": "respond", "message": message})
    else:
        report_problem(pending.interrupt_id, "Write the reply the customer will read: nothing "
                                             "was sent, the request is still waiting.")


_FORMS: dict[str, Callable[[PendingApproval], None]] = {
    "edit": _edit_form, "reject": _reject_form, "respond": _respond_form,
}


# --- the outcome ------------------------------------------------------------------------------

def decision_outcome(pending: PendingApproval, decision: Decision,
                     events: Iterable[ChatEvent]) -> tuple[str, str]:
    """(alert kind, markdown) saying truthfully what a decision did."""
    whose = f"{plain(pending.customer_name)}'s {plain((pending.label or pending.action).lower())}"
    on = _on_order(pending)
    action = decision.get("action")
    if action == "reject":
        return "info", (f"Rejected {whose}{on}. The customer was told the reason: "
                        f"“{plain(decision.get('reason', ''))}”.")
    if action == "respond":
        return "info", (f"Replied to {plain(pending.customer_name)} instead: the "
                        f"{plain((pending.label or pending.action).lower())}{on} was not "
                        "carried out. The conversation is now yours: hand it back to the "
                        "assistant from the conversation when you are done.")
    changed = " with your changes" if action == "edit" else ""
    result = next((e for e in events
                   if isinstance(e, ToolResultEvent) and e.name == pending.action), None)
    if result is None:
        return "warning", (f"Approved {whose}{on}{changed}, but the assistant reported no "
                           "outcome: check the conversation.")
    if not result.ok:
        return "error", (f"Approved {whose}{on}{changed}, but it failed: "
                         f"{plain(result.text)} Nothing was changed; the customer was told.")
    return "success", f"Approved {whose}{changed}: {plain(result.text)}"


# --- words ------------------------------------------------------------------------------------

def _on_order(pending: PendingApproval) -> str:
    order = pending.order.order_id if pending.order else pending.arguments.get("order_id")
    return f" on {plain(str(order))}" if order else ""


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def _dollars_of(amount: float) -> str:
    return f"${amount:,.2f}"


def _day(iso: str | None) -> str:
    """'2 Oct 2026' from an ISO date (or timestamp); what it was if it is not one."""
    if not iso:
        return "?"
    try:
        return datetime.fromisoformat(iso).strftime("%-d %b %Y")
    except ValueError:
        return plain(iso)


def _amount(value: Any) -> float | None:
    """A requested amount in dollars; None for "everything left" (or one that is not a number)."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)
