"""The one exception family a user can cause, each with a message that says what to do."""

from __future__ import annotations


class SupportError(Exception):
    """A mistake or condition the user can act on; shown without a traceback."""

    exit_code = 2


class ConfigError(SupportError):
    """A setting has a value the project cannot use."""


class InvalidInput(SupportError):
    """A message, decision or argument is malformed."""


class NotFound(SupportError):
    """The thing asked for does not exist or belongs to somebody else."""


class NotAllowed(SupportError):
    """The signed-in user's role does not permit this action."""


class AccountDisabled(NotAllowed):
    """The user's account is disabled: every action is refused until it is enabled again."""


class Unavailable(SupportError):
    """A backing service (database, Redis, model endpoint) cannot be reached; retrying may help."""

    exit_code = 3


class ThreadBusy(SupportError):
    """Another request is working on the same thread right now."""

    exit_code = 4
