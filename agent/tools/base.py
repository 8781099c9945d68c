"""What a tool is here: everything the app needs to know about it, declared in one place.

A tool module builds one `SupportTool` and registers it (`agent.tools.registry`): its name,
argument schema and handler, whether a supervisor must approve it, a label for people, how a
pending request is described to a supervisor, whether the order can take it now, and how the
offline model recognises a request for it. Settings, the graph, the offline model, the CLI and
the UI all read the registry, so adding a tool is one new module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from agent.domain.audit import AuditRecord
from agent.domain.policy import POLICY, search_policy
from agent.domain.shop import Customer, Order, Shop, ShopRuleError, money
from agent.tools.intents import Intent, Request


@dataclass(frozen=True)
class ToolContext:
    """Who a tool acts for and how to make its side effect idempotent."""

    shop: Shop
    customer: Customer
    thread_id: str
    tool_call_id: str
    # The supervisor's decision on this call, to be written with its side effect (same
    # transaction); None for calls that need no decision.
    audit: AuditRecord | None = None

    @property
    def idempotency_key(self) -> str:
        """Stable across replays of the same tool call in the same thread."""
        return f"{self.thread_id}:{self.tool_call_id}"


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad field, e.g. "amount: Input should be greater than 0"."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'arguments'}: {e['msg']}"
        for e in error.errors()
    )


def _as_is(text: str) -> str:
    return text


def _no_note(request: Request, args: dict[str, Any]) -> str | None:
    return None


@dataclass(frozen=True)
class OfflineHints:
    """How the offline model recognises a request for a tool and words what it answered.

    Recognisers are tried by ascending `priority` (the first that answers wins), so a
    specific request ("refund ORD-1001") is seen before a general one ("ORD-1001").
    """

    priority: int
    recognise: Callable[[Request], Intent | None]
    word_result: Callable[[str], str] = _as_is
    note_request: Callable[[Request, dict[str, Any]], str | None] = _no_note
    # A summary keeps what the tool answered (it changed something: a refund, a ticket).
    remember_result: bool = False


def order_summary(order: Order) -> str:
    """'ORD-1001 (Trail hiking boots, $129.00, delivered)': what a supervisor checks first."""
    return f"{order.order_id} ({order.description}, {money(order.amount_cents)}, {order.status})"


_ORDER_NUMBER = re.compile(r"ORD-\d{3,6}")


def named_order(arguments: Any) -> str | None:
    """The order number a call names, as the shop reads it (" ord-1001" -> "ORD-1001"), or None.

    Only something that looks like an order number: whatever else a model put there is never
    echoed back to a customer as if it were one.
    """
    order_id = arguments.get("order_id") if isinstance(arguments, dict) else None
    if not isinstance(order_id, str):
        return None
    order_id = order_id.strip().upper()
    return order_id if _ORDER_NUMBER.fullmatch(order_id) else None


@dataclass(frozen=True)
class ArgumentField:
    """One argument a supervisor may change on a request, as a typed form field.

    The service turns it into `agent.views.EditField` (the tools do not import the views).
    """

    name: str  # the tool argument (never shown to people)
    label: str  # "Amount to refund"
    kind: str  # "money" | "text" | "long_text"
    value: Any  # the current value (None when the request left it out)
    maximum: float | None = None  # for money: the most this action may take
    help: str = ""


# Long enough text is edited in a text area rather than a one-line box.
_LONG_TEXT_CHARS = 500


def schema_fields(model: type[BaseModel], arguments: dict[str, Any]) -> tuple[ArgumentField, ...]:
    """The form fields a schema implies: label from the field's title, help from its description.

    Identifiers (`order_id`, any `..._id`) are never fields: changing which order a request is
    for is how the wrong customer gets refunded. A number named like an amount is money.
    """
    fields = []
    for name, info in model.model_fields.items():
        if name == "id" or name.endswith("_id"):
            continue
        numbers = {int, float, Decimal}
        types = set(get_args(info.annotation)) or {info.annotation}
        max_length = next((m.max_length for m in info.metadata
                           if getattr(m, "max_length", None) is not None), None)
        if types & numbers and "amount" in name:
            kind = "money"
        elif max_length is not None and max_length > _LONG_TEXT_CHARS:
            kind = "long_text"
        else:
            kind = "text"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        value = arguments.get(name, default)
        if kind == "money" and (isinstance(value, bool) or not isinstance(value, int | float)):
            value = None  # a money box cannot show "lots"; the card says what is wrong with it
        elif kind != "money" and value is not None and not isinstance(value, str):
            value = str(value)
        fields.append(ArgumentField(
            name=name, label=info.title or name.replace("_", " ").capitalize(), kind=kind,
            value=value, help=info.description or "",
        ))
    return tuple(fields)


@dataclass(frozen=True)
class RequestDescription:
    """Everything a tool says about one request, for the supervisor who decides it."""

    order: Order | None  # the order it names, if that is the customer's
    summary: str  # the request in one line, with the order's item, amount and status
    problem: str  # why it cannot succeed as asked; "" when it can
    effect: str  # exactly what approving does ("Refunds $20.00 of the $129.00 ...")
    in_words: str  # as the customer's waiting notice names it ("a refund of $129.00 ...")
    policy: str  # the text of the policy entry about this kind of action ("" if none)
    fields: tuple[ArgumentField, ...]  # what a supervisor may change


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


@dataclass(frozen=True)
class SupportTool:
    """A tool: name, schema and handler for the model, plus how people and the app see it.

    Only name, description, args and handler are required; every other way of showing a
    request (to a customer while it runs, to a supervisor deciding it) has a generic default
    derived from the label and the argument schema.
    """

    name: str
    description: str
    args: type[BaseModel]
    handler: Callable[[ToolContext, Any], str]
    sensitive: bool = False  # the default set of tools a supervisor approves
    label: str = ""  # for people ("Refund"); the name when empty
    # The pending request in one line, given its arguments and the order they name (if any).
    describe: Callable[[dict[str, Any], Order | None], str] | None = None
    # Why the order cannot take this request, or None when it can. Also the reason a request
    # is refused before a supervisor is asked, so it must cope with any arguments.
    eligibility: Callable[[Order, dict[str, Any]], str | None] | None = None
    offline: OfflineHints | None = None
    # What a call does, in a customer's words ("Checking order ORD-1002"), given its arguments.
    progress: Callable[[dict[str, Any]], str] | None = None
    # How a successful call changes the conversation's state beyond its answer, given its
    # arguments and result (asking for a person starts a handoff).
    updates_state: Callable[[dict[str, Any], str], dict[str, Any]] | None = None
    # Exactly what approving does, amounts spelled out, given the arguments and the order.
    effect: Callable[[dict[str, Any], Order | None], str] | None = None
    # The request as the customer's waiting notice names it ("cancelling ORD-1003").
    in_words: Callable[[dict[str, Any], Order | None], str] | None = None
    # The topic of the policy entry (agent/domain/policy.py) a supervisor reads with it.
    policy_topic: str = ""
    # What a supervisor may change, as typed fields (default: from the argument schema).
    edit_form: Callable[[dict[str, Any], Order | None], tuple[ArgumentField, ...]] | None = None

    @property
    def title(self) -> str:
        """The label people see."""
        return self.label or self.name

    def progress_words(self, arguments: dict[str, Any]) -> str:
        """What a call with these arguments does, for a customer watching it happen."""
        if self.progress is not None:
            try:
                return self.progress(arguments if isinstance(arguments, dict) else {})
            except Exception:  # a model may send anything; the customer still gets words
                pass
        return self.title

    def order_of(self, shop: Shop, customer: Customer,
                 arguments: dict[str, Any]) -> tuple[Order | None, str]:
        """(the customer's order the arguments name or None, why it is not theirs or "")."""
        order_id = arguments.get("order_id") if isinstance(arguments, dict) else None
        if not (isinstance(order_id, str) and order_id.strip()):
            return None, ""
        try:
            return shop.get_order(customer, order_id), ""
        except ShopRuleError as exc:  # unknown, or someone else's: said the same way
            return None, str(exc)

    def refusal(self, shop: Shop, customer: Customer, arguments: dict[str, Any]) -> str | None:
        """Why this request can never succeed as asked (told to the customer), or None."""
        return self._problem(arguments, *self.order_of(shop, customer, arguments)) or None

    def _problem(self, arguments: Any, order: Order | None, unknown: str) -> str:
        if not isinstance(arguments, dict):
            return "The request is malformed: its arguments are not a set of named values."
        if unknown:
            return unknown
        if order is not None and self.eligibility is not None:
            problem = self.eligibility(order, arguments)
            if problem:
                return problem
        try:
            self.args.model_validate(arguments)
        except ValidationError as exc:
            return f"The request is incomplete or malformed: {describe_validation_error(exc)}."
        return ""

    def describe_request(self, shop: Shop, customer: Customer,
                         arguments: dict[str, Any]) -> tuple[str, str]:
        """(one-line description, why it cannot go ahead now or "") for a supervisor."""
        order, unknown = self.order_of(shop, customer, arguments)
        return self._summary(arguments, order), self._problem(arguments, order, unknown)

    def _summary(self, arguments: dict[str, Any], order: Order | None) -> str:
        if self.describe is not None:
            return _worded(lambda: self.describe(arguments, order), self.title)
        if order is not None:
            return f"{self.title} on {order_summary(order)}"
        return self.title

    def explain(self, shop: Shop, customer: Customer,
                arguments: dict[str, Any]) -> RequestDescription:
        """Everything a supervisor needs to decide this request, from the tool's own hooks."""
        arguments = arguments if isinstance(arguments, dict) else {}
        order, unknown = self.order_of(shop, customer, arguments)
        summary = self._summary(arguments, order)
        problem = self._problem(arguments, order, unknown)
        if problem:
            # Approving cannot do what was asked: say so rather than promise an effect.
            effect = f"Approving does nothing: {problem}"
        elif self.effect is not None:
            effect = _worded(lambda: self.effect(arguments, order), summary)
        else:
            effect = summary
        return RequestDescription(
            order=order, summary=summary, problem=problem, effect=effect,
            in_words=self.words_for_customer(arguments, order), policy=self.policy_text(),
            fields=self.edit_fields(arguments, order),
        )

    def words_for_customer(self, arguments: dict[str, Any], order: Order | None = None) -> str:
        """The request as a customer's waiting notice names it ("a refund on ORD-1001")."""
        order_id = order.order_id if order is not None else named_order(arguments)
        generic = _a(self.title.lower()) + (f" for {order_id}" if order_id else "")
        if self.in_words is None:
            return generic
        return _worded(lambda: self.in_words(arguments, order), generic)

    def policy_text(self) -> str:
        """What the shop's policy says about this kind of request ("" when it says nothing)."""
        for entry in POLICY:
            if entry.topic == self.policy_topic:
                return entry.text
        if self.policy_topic:
            return ""
        found = search_policy(self.title, limit=1)
        return found[0].text if found else ""

    def edit_fields(self, arguments: dict[str, Any],
                    order: Order | None = None) -> tuple[ArgumentField, ...]:
        """What a supervisor may change on this request, as typed fields."""
        generic = schema_fields(self.args, arguments)
        if self.edit_form is None:
            return generic
        try:
            return tuple(self.edit_form(arguments, order))
        except Exception:  # as in _worded: odd arguments must not break the inbox
            return generic

    def spec(self) -> dict[str, Any]:
        """The OpenAI function-calling schema the model is given."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description,
                         "parameters": schema},
        }

    def run(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        """Validate the arguments (pydantic raises on bad ones) and run the handler."""
        return self.handler(context, self.args.model_validate(arguments))


def _worded(words: Callable[[], str], fallback: str) -> str:
    """A tool's wording of a request, or the fallback if it fails on odd arguments.

    Arguments come from a model (or a checkpoint written before a tool changed): a wording
    hook that trips over them must not take the supervisors' inbox down with it.
    """
    try:
        text = words()
    except Exception:  # see above
        return fallback
    return text if isinstance(text, str) and text.strip() else fallback
