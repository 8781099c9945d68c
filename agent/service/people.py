"""Users and administration."""

from __future__ import annotations

from typing import Any

from agent.core.memory import PROFILE_KEY, profile_namespace
from agent.domain.seed import SeedReport, seed_demo_shop
from agent.domain.shop import User
from agent.errors import NotFound
from agent.service.access import (
    DeskAccess,
    enabled,
)
from agent.text import storable_text


class PeopleDesk(DeskAccess):
    """Users and administration: who may sign in, roles, the demo seed, memory."""

    def users(self) -> list[User]:
        """Everyone who can sign in (local mode)."""
        return self.shop.list_users()

    def user_by_email(self, email: str) -> User:
        """The user an identity provider's e-mail address belongs to."""
        user = self.shop.get_user_by_email(storable_text(email or "", "the e-mail address"))
        if user is None:
            raise NotFound(f"no support-agent account for {email!r}; ask an administrator to "
                           "add one")
        return enabled(user)

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

    def issue_api_token(self, user_id: str) -> str:
        """A new bearer token for LangGraph Server; shown once (only its hash is stored)."""
        return self.accounts.issue_token(self.user(user_id).user_id)

    def revoke_api_tokens(self, user_id: str) -> int:
        """Revoke every API token of a user (an administrator's action); how many there were."""
        user = self.shop.get_user(storable_text(user_id or "", "the user id").strip().lower())
        if user is None:
            raise NotFound(f"unknown user {user_id!r}; see `support-agent users list`")
        return self.accounts.revoke_tokens(user.user_id)

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
