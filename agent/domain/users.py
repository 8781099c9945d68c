"""People who may sign in: id, name, e-mail (how an identity provider's sign-in is matched),
role, tenant, and whether the account is disabled.

Roles and tenants are read from here, never taken from a caller. Ids are lower case, so the
id a person types finds their record whatever its case.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from agent.core.db import Database, Row
from agent.errors import InvalidInput, NotFound

ROLES = ("customer", "supervisor")
MAX_NAME_CHARS = 100
MAX_EMAIL_CHARS = 254

_USER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# The HTML living standard's "valid e-mail address": ASCII, one @, a dotted domain.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_COLUMNS = "user_id, tenant, display_name, email, role, disabled_at"
# API tokens (LangGraph Server's bearer tokens) start with this, so a leaked one is recognisable.
TOKEN_PREFIX = "sat_"


@dataclass(frozen=True)
class User:
    user_id: str
    tenant: str
    display_name: str
    email: str
    role: str
    disabled: bool = False

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def user_from_row(row: Row) -> User:
    """A `support_users` row (its columns, by name) as a User."""
    return User(row["user_id"], row["tenant"], row["display_name"], row["email"], row["role"],
                disabled=row["disabled_at"] is not None)


def user_id_of(raw: str) -> str:
    """A user id as stored (trimmed, lower case); InvalidInput if it cannot be one."""
    user_id = (raw or "").strip().lower()
    if not _USER_ID.fullmatch(user_id):
        raise InvalidInput(f"{raw!r} is not a valid user id; use 1-64 lower-case letters, "
                           "digits, '.', '_' or '-', starting with a letter or digit")
    return user_id


def valid_email(raw: str) -> str:
    """A trimmed e-mail address; InvalidInput unless it looks like name@example.com."""
    email = (raw or "").strip(" ")
    if len(email) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(email):
        raise InvalidInput(f"{raw!r} is not a valid e-mail address; write it as "
                           "name@example.com (it must match what the identity provider sends)")
    return email


def valid_role(raw: str) -> str:
    """One of ROLES; InvalidInput naming them otherwise."""
    role = (raw or "").strip().lower()
    if role not in ROLES:
        raise InvalidInput(f"unknown role {raw!r}; use {' or '.join(ROLES)}")
    return role


def valid_tenant(raw: str) -> str:
    """A tenant slug (trimmed, lower case); InvalidInput if it cannot be one."""
    tenant = (raw or "").strip().lower()
    if not _TENANT.fullmatch(tenant):
        raise InvalidInput(f"{raw!r} is not a valid tenant; use 1-40 lower-case letters, digits "
                           "or '-', e.g. acme")
    return tenant


def valid_display_name(raw: str) -> str:
    """A display name with its spacing tidied; InvalidInput if empty, too long or unprintable."""
    if not all(char.isprintable() or char == " " for char in raw or ""):
        raise InvalidInput("the display name has control characters; write plain text")
    name = " ".join((raw or "").split())
    if not name:
        raise InvalidInput("the display name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"the display name is longer than {MAX_NAME_CHARS} characters")
    return name


def token_hash(token: str) -> str:
    """What is stored of an API token: its SHA-256 (256 random bits need no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


class UserDirectory:
    """Reads and changes the user records in the app database."""

    def __init__(self, db: Database):
        self.db = db

    def get(self, user_id: str) -> User | None:
        """The user with this (stored, lower-case) id, or None."""
        row = self.db.fetch_one(f"SELECT {_COLUMNS} FROM support_users WHERE user_id = ?",
                                (user_id,))
        return user_from_row(row) if row else None

    def by_email(self, email: str) -> User | None:
        """The user with this e-mail address, whatever its case, or None."""
        row = self.db.fetch_one(f"SELECT {_COLUMNS} FROM support_users"
                                " WHERE lower(email) = lower(?)", (email.strip(),))
        return user_from_row(row) if row else None

    def all(self) -> list[User]:
        """Every user, disabled ones included, by tenant then role then id."""
        rows = self.db.fetch_all(f"SELECT {_COLUMNS} FROM support_users"
                                 " ORDER BY tenant, role, user_id")
        return [user_from_row(row) for row in rows]

    def add(self, user_id: str, *, display_name: str, email: str, role: str,
            tenant: str) -> User:
        """Add a user; InvalidInput for a bad field, a taken id or a taken e-mail address."""
        user = User(user_id_of(user_id), valid_tenant(tenant), valid_display_name(display_name),
                    valid_email(email), valid_role(role))
        with self.db.transaction() as session:
            # DO NOTHING on any unique clash (id or e-mail), so two racing adds cannot both
            # succeed nor fail with a driver error; which clash it was is looked up after.
            added = session.execute(
                "INSERT INTO support_users (user_id, tenant, display_name, email, role)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (user.user_id, user.tenant, user.display_name, user.email, user.role),
            )
        if not added:
            taken = self.get(user.user_id)
            if taken is not None:
                raise InvalidInput(f"user {taken.user_id} exists already ({taken.display_name},"
                                   f" {taken.role} in {taken.tenant}); choose another id")
            owner = self.by_email(user.email)
            raise InvalidInput(f"the e-mail address {user.email} belongs to user "
                               f"{owner.user_id if owner else 'another'} already; each account "
                               "needs its own (sign-in finds the account by it)")
        return user

    def set_role(self, user_id: str, role: str) -> User:
        """Make a user a customer or a supervisor."""
        role = valid_role(role)
        return self._update(user_id, "role = ?", (role,))

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        """Disable an account (it can do nothing) or enable it again."""
        if disabled:  # keep when it was first disabled
            return self._update(user_id, "disabled_at = COALESCE(disabled_at, ?)", (time.time(),))
        return self._update(user_id, "disabled_at = NULL", ())

    def _update(self, raw_id: str, assignment: str, params: tuple) -> User:
        user_id = (raw_id or "").strip().lower()
        changed = self.db.execute(f"UPDATE support_users SET {assignment} WHERE user_id = ?",
                                  (*params, user_id))
        user = self.get(user_id) if changed else None
        if user is None:
            raise NotFound(f"unknown user {raw_id!r}; see `support-agent users list`")
        return user

    def issue_token(self, user_id: str) -> str:
        """A new API token for this user, returned once; only its hash is kept."""
        user = self.get((user_id or "").strip().lower())
        if user is None:
            raise NotFound(f"unknown user {user_id!r}; see `support-agent users list`")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.db.execute("INSERT INTO support_api_tokens (token_hash, user_id, created_at)"
                        " VALUES (?, ?, ?)", (token_hash(token), user.user_id, time.time()))
        return token

    def by_token(self, token: str) -> User | None:
        """The user an API token was issued to (disabled or not), or None for an unknown one."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = self.db.fetch_one(
            "SELECT u.user_id, u.tenant, u.display_name, u.email, u.role, u.disabled_at"
            " FROM support_api_tokens t JOIN support_users u ON u.user_id = t.user_id"
            " WHERE t.token_hash = ?", (token_hash(token),))
        return user_from_row(row) if row else None

    def revoke_tokens(self, user_id: str) -> int:
        """Revoke every API token of this user; how many there were."""
        return self.db.execute("DELETE FROM support_api_tokens WHERE user_id = ?",
                               ((user_id or "").strip().lower(),))
