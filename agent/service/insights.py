"""Insights: what the checkpoints say about nodes, threads, approvals, money and satisfaction.

Supervisors read their own tenant's figures only. The checkpoints are read through the saver,
the audit trail, ledger and feedback through their domain classes; DuckDB computes the figures
(agent/analytics/queries.py). The Parquet export is an operator's command, like `gc`: every
tenant, with a tenant column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.analytics.extract import extract, tenant_threads
from agent.analytics.prices import PriceTable
from agent.domain.audit import AuditLog
from agent.domain.feedback import FeedbackBook
from agent.errors import InvalidInput
from agent.service.access import DeskAccess
from agent.turns import guarded

if TYPE_CHECKING:
    from agent.analytics.export import ExportResult

DECISIONS = ("approve", "edit", "reject", "respond")
_ALL = 1_000_000_000  # the domain readers take a limit; figures need every row in the range


@dataclass(frozen=True)
class InsightsReport:
    """A tenant's figures over a time range (epoch seconds; None: open-ended)."""

    tenant: str
    since: float | None
    until: float | None
    totals: dict[str, Any]
    nodes: list[dict[str, Any]]
    threads: list[dict[str, Any]]  # dearest first, with "title" and "customer_name"
    per_day: list[dict[str, Any]]
    decisions: dict[str, int]  # approve/edit/reject/respond -> count (audit trail)
    approval_waits: dict[str, Any]  # waits, p50_s, p95_s (from the checkpoints)
    supervisors: list[dict[str, Any]]
    money: list[dict[str, Any]]  # per kind: entries, amount_cents, customers
    satisfaction: dict[str, Any]
    stars: dict[int, int]
    slowest_runs: list[dict[str, Any]] = field(default_factory=list)  # per node, slowest first
    models: list[str] = field(default_factory=list)
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def approvals(self) -> int:
        """How many approval decisions were made in the range."""
        return sum(self.decisions.values())


class InsightsDesk(DeskAccess):
    """Insights for supervisors, and the Parquet export for a data lake."""

    def insights(self, supervisor_id: str, *, since: float | None = None,
                 until: float | None = None) -> InsightsReport:
        """The supervisor's tenant's figures over [since, until)."""
        from agent.analytics import queries  # DuckDB and Arrow load only for Insights

        supervisor = self._supervisor(supervisor_id)
        if since is not None and until is not None and since >= until:
            raise InvalidInput("the start of the time range must be before its end")
        tenant = supervisor.tenant
        prices = PriceTable(self.settings.model_prices)
        extraction = guarded(lambda: extract(
            self.persistence.checkpointer, tenant_threads(self.threads, tenant,
                                                          active_since=since),
            prices=prices, default_model=self.settings.model, since=since, until=until))
        db = self.persistence.db
        audit = [vars(e) for e in AuditLog(db).entries(
            tenant, actions=DECISIONS, since=since, until=until, limit=_ALL)]
        ledger = [vars(e) for e in self.shop.ledger(tenant=tenant)
                  if _within(e.created_at, since, until)]
        feedback = [vars(e) for e in FeedbackBook(db).entries(tenant, limit=_ALL)
                    if _within(e.created_at, since, until)]
        con = queries.connect(
            checkpoints=queries.table(extraction.checkpoints, queries.CHECKPOINTS),
            approval_waits=queries.table(extraction.approvals, queries.APPROVAL_WAITS),
            decisions=queries.table(audit, queries.DECISIONS),
            ledger=queries.table(ledger, queries.LEDGER),
            feedback=queries.table(feedback, queries.FEEDBACK))
        try:
            models = queries.models_used(con)
            return InsightsReport(
                tenant=tenant, since=since, until=until, totals=queries.totals(con),
                nodes=queries.node_figures(con), threads=self._named(queries.thread_figures(con)),
                per_day=queries.per_day(con),
                decisions={r["action"]: int(r["decisions"])
                           for r in queries.decisions_by_action(con)},
                approval_waits=queries.approval_waits(con),
                supervisors=self._named_supervisors(queries.by_supervisor(con)),
                money=queries.money(con), satisfaction=queries.satisfaction(con),
                stars=queries.star_counts(con), slowest_runs=queries.slowest_runs(con),
                models=models,
                unpriced_models=[m for m in models if prices.price(m) is None])
        finally:
            con.close()

    def export_insights(self, directory: str | Path, *, with_text: bool = False) -> ExportResult:
        """Write the checkpoint rows new since the last export to `directory` as Parquet."""
        from agent.analytics.export import export_parquet

        tenants = sorted({user.tenant for user in self.shop.list_users()})
        threads = [record for tenant in tenants for record in tenant_threads(self.threads,
                                                                             tenant)]
        return guarded(lambda: export_parquet(
            self.persistence.checkpointer, threads, Path(directory),
            prices=PriceTable(self.settings.model_prices), default_model=self.settings.model,
            with_text=with_text))

    def _named(self, threads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = {user.user_id: user.display_name for user in self.shop.list_users()}
        named = []
        for row in threads:
            record = self.threads.get(row["thread_id"])
            named.append({**row, "title": record.title if record else "(deleted conversation)",
                          "customer_name": names.get(row["user_id"], row["user_id"])})
        return named

    def _named_supervisors(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = {user.user_id: user.display_name for user in self.shop.list_users()}
        return [{**row, "name": names.get(row["supervisor"], row["supervisor"])} for row in rows]


def _within(epoch: float, since: float | None, until: float | None) -> bool:
    return (since is None or epoch >= since) and (until is None or epoch < until)

