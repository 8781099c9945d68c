"""Who may do what on LangGraph Server: API tokens to users, thread ownership, filters.

`langgraph.json` names `auth`. Every request carries `Authorization: Bearer <token>`, a token
that `support-agent users token USER` printed; the user, their tenant and role come from the
app's user records (never from the client), and a disabled account is refused.

- A customer's thread is stamped with its owner and tenant when it is created; a customer
  reads, runs, changes and deletes only their own threads (anyone else's is "not found") and
  never answers an approval. Whatever identity a client puts in a run's context is replaced by
  the authenticated one.
- A supervisor lists and reads only their tenant's threads that wait for an approval
  (status "interrupted"), and may only resume them; the run then acts for the thread's
  customer, and the decision is recorded as the supervisor's, whatever `decided_by` said.
  They read a thread they resumed until its customer writes again (to follow that run).
- The store: a customer reaches only their own memory; a supervisor reads their tenant's.
- Anything else (assistants beyond reading, crons, webhooks, new resources) is refused.

The graph reads the same identity from a run's config with `acting_identity` and
`acting_supervisor` (the server puts the authenticated user there).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langgraph_sdk import Auth

from agent.core.memory import profile_namespace
from agent.state import SupportContext

auth = Auth()

OWNER = "owner"  # thread metadata: the customer whose conversation it is
TENANT = "tenant"  # thread metadata: that customer's tenant
RESUMED_BY = "resumed_by"  # run metadata: the supervisor whose resume value it carries
WAITING = "interrupted"  # the server's status of a thread paused at the approval step
_PROJECT_DECISION_KEY = "action"  # ApprovalDecision's discriminator (agent/core/approval.py)
_INBOX_KEY = "type"  # an Agent Inbox response's: accept, edit, response, ignore


@dataclass(frozen=True)
class Member:
    """An authenticated user of ours, as the handlers see them."""

    user_id: str
    tenant: str
    role: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def _refused(status: int, detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=status, detail=detail)


def _not_found() -> Auth.exceptions.HTTPException:
    # The same answer as for a thread that does not exist: nobody learns what others have.
    return _refused(404, "Thread not found")


def _field(user: Any, name: str) -> Any:
    """A field of a user as the server hands it over (a mapping, or an object proxying one)."""
    if isinstance(user, Mapping):
        return user.get(name)
    getter = getattr(user, "get", None)
    if callable(getter):
        return getter(name)
    return getattr(user, name, None)


def _member(user: Any) -> Member | None:
    """Our user behind a server user object; None for anyone else (Studio's, anonymous)."""
    if user is None:
        return None
    user_id, tenant, role = (_field(user, key) for key in ("identity", "tenant", "role"))
    if not (isinstance(user_id, str) and isinstance(tenant, str)
            and role in ("customer", "supervisor")):
        return None
    return Member(user_id, tenant, role)


def _auth_member(config: Mapping[str, Any] | None) -> Member | None:
    return _member(((config or {}).get("configurable") or {}).get("langgraph_auth_user"))


def acting_identity(config: Mapping[str, Any] | None) -> SupportContext | None:
    """The customer a run on LangGraph Server acts for, as its authentication says.

    For a customer's run, that customer; for a supervisor's, the thread's owner (which
    `create_run` below stamped in the run's metadata, over whatever the client sent). None
    when the run is not authenticated by this module (our own SupportDesk, tests): then the
    run's context is the identity. Nodes use this, when present, instead of the context.
    """
    member = _auth_member(config)
    if member is None:
        return None
    if not member.is_supervisor:
        return SupportContext(user_id=member.user_id, tenant=member.tenant)
    metadata = (config or {}).get("metadata") or {}
    owner = metadata.get(OWNER)
    if isinstance(owner, str) and owner and metadata.get(TENANT) == member.tenant:
        return SupportContext(user_id=owner, tenant=member.tenant)
    return None


def acting_supervisor(config: Mapping[str, Any] | None) -> str | None:
    """The authenticated supervisor who resumed this run (their id), or None.

    The approval step records a decision as theirs, whatever the resume value's `decided_by`.
    """
    member = _auth_member(config)
    return member.user_id if member is not None and member.is_supervisor else None


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """The user an API token belongs to; 401 for a missing or unknown token, 403 if disabled."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refused(401, "send `Authorization: Bearer <token>`; an administrator makes a "
                            "token with `support-agent users token <user>`")
    from agent.server import server_app_async

    app = await server_app_async()
    user = await asyncio.to_thread(app.accounts.by_token, token.strip())
    if user is None:
        raise _refused(401, "unknown or revoked API token; ask an administrator for a new one "
                            "(`support-agent users token <user>`)")
    if user.disabled:
        raise _refused(403, f"account {user.user_id} is disabled: this account can do nothing "
                            "until an administrator enables it again")
    return {"identity": user.user_id, "display_name": user.display_name,
            "tenant": user.tenant, "role": user.role, "permissions": [user.role]}


def _who(ctx: Auth.types.AuthContext) -> Member:
    member = _member(ctx.user)
    if member is None:  # a user our authenticate() did not make (e.g. Studio's sign-in)
        raise _refused(403, "this server accepts only its own API tokens")
    return member


def _own(member: Member) -> dict[str, str]:
    return {OWNER: member.user_id, TENANT: member.tenant}


def _stamp(value: Any, owner: str, tenant: str) -> None:
    """Put the owner and tenant into the metadata the server is about to store."""
    # Updated in place: the server keeps its own reference to this dict, not to `value`.
    metadata = value.get("metadata")
    if metadata is None:
        metadata = value["metadata"] = {}
    metadata.pop(RESUMED_BY, None)  # only a supervisor's run carries it, set below
    metadata.update({OWNER: owner, TENANT: tenant})


def _act_for(value: Any, owner: str, tenant: str) -> None:
    """Make a run act for this customer, whoever the client said it was for."""
    kwargs = value["kwargs"]
    kwargs["context"] = {"user_id": owner, "tenant": tenant}
    # The server mirrors a client's context into the configurable, and merges the config's
    # metadata into a thread the run creates: nothing the client claimed stays there.
    config = kwargs.get("config") or {}
    configurable = config.get("configurable") or {}
    for key, real in (("user_id", owner), ("tenant", tenant)):
        if key in configurable:
            configurable[key] = real
    for key in (OWNER, TENANT, RESUMED_BY):
        (config.get("metadata") or {}).pop(key, None)
    _stamp(value, owner, tenant)  # the run's metadata (and a thread the run creates)


def _customer_only(member: Member, what: str) -> None:
    if member.is_supervisor:
        raise _refused(403, f"supervisors do not {what}: they list the threads waiting for "
                            "approval (status 'interrupted') and resume them")


async def _past_auth(read: Callable[[Any], Awaitable[Any]]) -> Any:
    """`read(client)` with an in-process client of the server that no handler here sees."""
    from langgraph_sdk import get_client

    # In a context of its own: in this one the server holds the caller's identity, and the
    # in-process call would run these very handlers again for it, without end.
    return await asyncio.get_running_loop().create_task(read(get_client()),
                                                        context=contextvars.Context())


async def _thread(thread_id: Any) -> dict[str, Any] | None:
    """The thread as the server holds it (status, metadata), or None."""
    from langgraph_sdk.errors import NotFoundError

    async def read(client: Any) -> dict[str, Any] | None:
        try:
            return dict(await client.threads.get(str(thread_id)))
        except NotFoundError:
            return None

    return await _past_auth(read)


async def _latest_run_resumed_by(thread_id: Any) -> str | None:
    """The supervisor whose resume value the thread's newest run carries, if it does."""

    async def read(client: Any) -> str | None:
        runs = await client.runs.list(str(thread_id), limit=1)  # newest first
        return (runs[0].get("metadata") or {}).get(RESUMED_BY) if runs else None

    return await _past_auth(read)


async def _for_supervisor(thread_id: Any, member: Member, *,
                          resuming: bool = False) -> dict[str, Any]:
    """The thread, if this supervisor may see it now; else "not found".

    That is a thread of their tenant waiting for an approval, or one whose newest run they
    resumed it with: running (the server reads the thread again to stream that run back to
    them) or done (they see what their decision did), until the customer writes again.
    """
    thread = await _thread(thread_id) if thread_id else None
    if thread is None or (thread.get("metadata") or {}).get(TENANT) != member.tenant:
        raise _not_found()
    if thread["status"] == WAITING:
        return thread
    if not resuming and await _latest_run_resumed_by(thread_id) == member.user_id:
        return thread
    raise _not_found()


@auth.on
async def refuse_the_rest(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Anything without a rule of its own below (crons, changing assistants) is refused."""
    _who(ctx)
    raise _refused(403, f"{ctx.resource}.{ctx.action} is not available on this server")


@auth.on.assistants.read
async def read_assistants(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Everyone signed in may see the graph's assistants."""
    _who(ctx)


@auth.on.assistants.search
async def search_assistants(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Everyone signed in may list the graph's assistants."""
    _who(ctx)


@auth.on.threads.create
async def create_thread(ctx: Auth.types.AuthContext,
                        value: Auth.types.on.threads.create.value) -> dict[str, str]:
    """A customer's new thread, stamped as theirs (whatever metadata the client sent)."""
    member = _who(ctx)
    _customer_only(member, "start conversations")
    _stamp(value, member.user_id, member.tenant)
    return _own(member)


@auth.on.threads.read
async def read_thread(ctx: Auth.types.AuthContext,
                      value: Auth.types.on.threads.read.value) -> dict[str, str]:
    """A customer reads their own threads; a supervisor their tenant's waiting ones."""
    member = _who(ctx)
    if not member.is_supervisor:
        return _own(member)
    await _for_supervisor(value.get("thread_id"), member)
    return {TENANT: member.tenant}


@auth.on.threads.search
async def search_threads(ctx: Auth.types.AuthContext,
                         value: Auth.types.on.threads.search.value) -> dict[str, str]:
    """A customer lists their own threads; a supervisor their tenant's waiting ones."""
    member = _who(ctx)
    if not member.is_supervisor:
        return _own(member)
    if value.get("status") != WAITING:
        # Filters match metadata only, so the status must be asked for, not added here.
        raise _refused(403, "supervisors list only the threads waiting for approval: search "
                            f"with status={WAITING!r}")
    return {TENANT: member.tenant}


@auth.on.threads.update
async def update_thread(ctx: Auth.types.AuthContext,
                        value: Auth.types.on.threads.update.value) -> dict[str, str]:
    """A customer changes their own threads, never who owns them."""
    member = _who(ctx)
    _customer_only(member, "change threads")
    metadata = value.get("metadata") or {}
    # A run's metadata starts as its thread's: a supervisor's mark there would follow it.
    if RESUMED_BY in metadata or any(metadata.get(key, mine) != mine
                                     for key, mine in _own(member).items()):
        raise _refused(403, f"a thread's {OWNER}, {TENANT} and {RESUMED_BY} cannot be set")
    return _own(member)


@auth.on.threads.delete
async def delete_thread(ctx: Auth.types.AuthContext,
                        value: Auth.types.on.threads.delete.value) -> dict[str, str]:
    """A customer deletes their own threads only."""
    member = _who(ctx)
    _customer_only(member, "delete threads")
    return _own(member)


@auth.on.threads.create_run
async def create_run(ctx: Auth.types.AuthContext,
                     value: Auth.types.on.threads.create_run.value) -> dict[str, str]:
    """Who a run acts for and what it may carry, by role (see the module docstring)."""
    member = _who(ctx)
    kwargs = value.setdefault("kwargs", {})
    if kwargs.get("webhook"):
        # The server would post the run's output, the conversation, to any address given.
        raise _refused(403, "webhooks are not available on this server")
    if not member.is_supervisor:
        if kwargs.get("command"):
            # Resuming is deciding an approval, and a Command can jump to any node.
            raise _refused(403, "customers send messages; only a supervisor answers an "
                                "approval")
        _act_for(value, member.user_id, member.tenant)
        return _own(member)
    command = kwargs.get("command") or {}
    if kwargs.get("input") is not None or set(command) - {"resume"} or "resume" not in command:
        raise _refused(403, "a supervisor only resumes a thread waiting for approval "
                            "(command={'resume': ...}), with no input")
    thread = await _for_supervisor(value.get("thread_id"), member, resuming=True)
    owner = thread["metadata"].get(OWNER)
    if not owner:
        raise _not_found()
    _act_for(value, owner, member.tenant)
    command["resume"] = _decided_by(command["resume"], member.user_id)
    value["metadata"][RESUMED_BY] = member.user_id  # the run's: see `_for_supervisor`
    return {TENANT: member.tenant}


def _decided_by(resume: Any, supervisor: str) -> Any:
    """The resume value with every decision's `decided_by` set to `supervisor`.

    A decision is the project's (`action`) or Agent Inbox's (`type`); a list holds one per
    request, and a value keyed by interrupt id one per interrupt.
    """
    if isinstance(resume, dict) and (_PROJECT_DECISION_KEY in resume or _INBOX_KEY in resume):
        return {**resume, "decided_by": supervisor}
    if isinstance(resume, dict):
        return {key: _decided_by(item, supervisor) for key, item in resume.items()}
    if isinstance(resume, list):
        return [_decided_by(item, supervisor) for item in resume]
    return resume


@auth.on.store
async def use_store(ctx: Auth.types.AuthContext, value: Any) -> None:
    """A customer's own memory; a supervisor reads (never writes) their tenant's."""
    member = _who(ctx)
    namespace = tuple(value.get("namespace") or ())
    if member.is_supervisor:
        allowed = profile_namespace(member.tenant, "")[:-1]
        if ctx.action in ("put", "delete"):
            raise _refused(403, "supervisors read customers' memory; they do not change it")
    else:
        allowed = profile_namespace(member.tenant, member.user_id)
    if namespace[:len(allowed)] != allowed:
        raise _refused(403, f"outside your part of the store; it starts with {list(allowed)}")
