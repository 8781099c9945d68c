"""SupportDesk: the one façade the CLI, the UI, the grader and the demos use.

Every method takes the acting user's id and checks, against the thread registry, that the
user may touch the thread; a thread that is not theirs is reported as not found. Roles and
tenants come from the user record, never from the caller. Turns run one at a time per thread
(agent/turns.py); a turn left unfinished by a crash is resumed before anything else runs.
Each concern lives in its own module; this class only puts them together.
"""

from __future__ import annotations

from typing import Any

from agent.domain.shop import Shop
from agent.domain.users import UserDirectory
from agent.graph import build_graph
from agent.persistence.encryption import text_cipher
from agent.persistence.savers import Persistence, open_persistence
from agent.persistence.threads import ThreadRegistry
from agent.service.approvals import ApprovalDesk
from agent.service.audit import AuditDesk
from agent.service.chat import ChatDesk
from agent.service.handoffs import HandoffDesk
from agent.service.history import HistoryDesk
from agent.service.insights import InsightsDesk
from agent.service.live import LiveDesk
from agent.service.people import PeopleDesk
from agent.service.retention import RetentionDesk
from agent.service.threads import ThreadDesk
from agent.settings import Settings, load_settings
from agent.turns import TurnRunner
from agent.views import Check


class SupportDesk(LiveDesk, PeopleDesk, ThreadDesk, ChatDesk, ApprovalDesk, HandoffDesk,
                  AuditDesk, HistoryDesk, RetentionDesk, InsightsDesk):
    """Threads, chat, approvals, handoffs, audit, feedback, history and recovery."""

    def __init__(self, settings: Settings, persistence: Persistence, *, model: Any = None):
        self.settings = settings
        self.persistence = persistence
        self.shop = Shop(persistence.db)
        self.accounts = UserDirectory(persistence.db)
        self.threads = ThreadRegistry(persistence.db, text_cipher(settings))
        self.graph = build_graph(checkpointer=persistence.checkpointer, store=persistence.store,
                                 settings=settings, shop=self.shop, model=model)
        self.turns = TurnRunner(self.graph, self.threads, persistence.locks, settings,
                                self._approval,
                                checkpointer_on_session=persistence.session_checkpointer,
                                database_on_session=persistence.session_database)
        self._start_live_updates()  # events on Redis pub/sub, when configured

    @classmethod
    def open(cls, settings: Settings | None = None, **overrides: Any) -> SupportDesk:
        """Open the desk on the configured saver (overrides as in `load_settings`)."""
        settings = settings or load_settings(**overrides)
        if not settings.model_is_offline:
            from agent.model.factory import make_chat_model

            make_chat_model(settings)  # a missing key is reported before touching the database
        persistence = open_persistence(settings)
        try:
            desk = cls(settings, persistence)
        except BaseException:
            persistence.close()
            raise
        desk.start_retention_sweeper()  # only when SUPPORT_RETENTION_SWEEP_MINUTES is set
        return desk

    def close(self) -> None:
        """Stop unfinished turns, then release connections and locks."""
        # A caller may abandon a turn mid-stream (an exception, Ctrl-C, a page rerun). Its
        # worker threads still use the connections, so they are stopped first.
        self.stop_retention_sweeper()
        self.turns.close_all()
        self.live.close()
        self.cache.close()
        self.persistence.close()

    def __enter__(self) -> SupportDesk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def diagnose(settings: Settings) -> list[Check]:
        """Check configuration, database, Redis and model; never raises."""
        from agent.doctor import run_checks

        return run_checks(settings)
