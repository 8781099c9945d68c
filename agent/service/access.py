"""The desk's shared parts and access checks: which user may touch which thread."""

from __future__ import annotations

from typing import Any

from agent.domain.shop import Shop, User
from agent.domain.users import UserDirectory, user_from_row
from agent.errors import AccountDisabled, InvalidInput, NotAllowed, NotFound
from agent.persistence.savers import Persistence
from agent.persistence.threads import ThreadRecord, ThreadRegistry, is_thread_id
from agent.settings import Settings
from agent.text import storable_text
from agent.turns import TurnRunner

DEFAULT_TITLE = "New conversation"
MAX_TITLE_CHARS = 80
MAX_PAGE = 200


class DeskAccess:
    """What every part of the desk shares: its parts, and who may touch which thread."""

    settings: Settings
    persistence: Persistence
    shop: Shop
    accounts: UserDirectory
    threads: ThreadRegistry
    graph: Any
    turns: TurnRunner

    def user(self, user_id: str) -> User:
        """The user record; an unknown id or a disabled account is a clear error.

        Every entry point acting for a user comes through here (or `user_by_email`), so a
        disabled account can do nothing.
        """
        user = self.shop.get_user(storable_text(user_id or "", "the user id").strip().lower())
        if user is None:
            raise NotFound(f"unknown user {user_id!r}; sign in as an existing user (see "
                           "`support-agent users list`)")
        return enabled(user)

    def _valid_message(self, text: str) -> str:
        text = storable_text(text or "", "the message").strip()
        if not text:
            raise InvalidInput("the message is empty")
        limit = self.settings.max_message_chars
        if len(text) > limit:
            raise InvalidInput(f"the message is {len(text):,} characters long; the limit is "
                               f"{limit:,} (SUPPORT_MAX_MESSAGE_CHARS)")
        return text

    def _reconcile_tenant(self, tenant: str) -> None:
        for record in self.threads.list_by_status(tenant, "running"):
            self.turns.reconcile(record)

    def _customer(self, user_id: str) -> User:
        user = self.user(user_id)
        if user.is_supervisor:
            raise NotAllowed(f"{user.user_id} is a supervisor; only customers chat. Supervisors "
                             "review approvals and read history.")
        return user

    def _customer_and_thread(self, user_id: str, thread_id: str | None) -> tuple[User,
                                                                                 ThreadRecord]:
        """The customer and their thread, read together; any mistake gets the separate reads'
        own error (unknown user, a supervisor, disabled, thread not found)."""
        if thread_id and is_thread_id(thread_id):
            # Checked as `user` checks it first: bytes a database refuses never reach a query.
            stored_id = storable_text(user_id or "", "the user id").strip().lower()
            found = self.threads.get_owned(thread_id, stored_id)
            if found is not None:
                record, owner = found
                user = user_from_row(owner)
                if not user.is_supervisor and not user.disabled:
                    return user, record
        user = self._customer(user_id)
        return user, self._owned_thread(user, thread_id)

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


def enabled(user: User) -> User:
    """The user, unless the account is disabled."""
    if user.disabled:
        raise AccountDisabled(f"account {user.user_id} is disabled: this account can do nothing "
                              "until an administrator enables it again")
    return user


def clean_title(text: str | None) -> str:
    """One line of at most MAX_TITLE_CHARS characters."""
    words = " ".join((text or "").split())
    return words if len(words) <= MAX_TITLE_CHARS else words[:MAX_TITLE_CHARS - 1] + "…"


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    """A checked page size (capped at MAX_PAGE) and offset."""
    if limit < 1 or offset < 0:
        raise InvalidInput("page size must be at least 1 and the offset not negative")
    return min(limit, MAX_PAGE), offset
