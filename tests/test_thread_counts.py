"""The "of N" of a page of threads comes from counters the database keeps (migration 11).

Triggers keep them in the registry's own transaction, so every way a thread comes or goes
(the desk, retention, SQL by hand) leaves them equal to a real COUNT(*).
"""

from __future__ import annotations

from agent.service import SupportDesk


def real_counts(desk: SupportDesk, tenant: str, user_id: str) -> tuple[int, int]:
    """COUNT(*) of the user's threads and of the tenant's, read from the registry itself."""
    user = desk.threads.db.fetch_one(
        "SELECT COUNT(*) AS n FROM support_threads WHERE tenant = ? AND user_id = ?",
        (tenant, user_id))["n"]
    tenant_total = desk.threads.db.fetch_one(
        "SELECT COUNT(*) AS n FROM support_threads WHERE tenant = ?", (tenant,))["n"]
    return int(user), int(tenant_total)


def test_counters_follow_every_way_a_thread_comes_and_goes(desk: SupportDesk) -> None:
    """Create, delete through the desk, delete by hand: the page totals stay true."""
    created = [desk.create_thread("alice").thread_id for _ in range(5)]
    desk.create_thread("bob")
    assert desk.list_threads("alice").total == real_counts(desk, "acme", "alice")[0] == 5
    assert desk.threads.count_for_tenant("acme") == real_counts(desk, "acme", "alice")[1] == 6

    desk.delete_thread("alice", created[0])
    desk.threads.db.execute("DELETE FROM support_threads WHERE thread_id = ?", (created[1],))
    assert desk.list_threads("alice").total == real_counts(desk, "acme", "alice")[0] == 3
    assert desk.threads.count_for_tenant("acme") == real_counts(desk, "acme", "alice")[1] == 4
    assert desk.list_threads("bob").total == 1


def test_a_user_without_threads_counts_zero(desk: SupportDesk) -> None:
    """No counter row yet means no threads, not an error."""
    assert desk.list_threads("alice").total == 0
    assert desk.threads.count_for_tenant("nobody") == 0
