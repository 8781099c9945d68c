"""Following changes live: a page reruns within a second of an event, or polls without Redis.

A page takes `since` (the desk's in-memory version of what it shows) before reading the data
it draws, and calls `follow_updates` once it has drawn: a tiny fragment compares the version
every half second (no database read) and reruns the page when it moved. While updates arrive
live the page's own polling fragments slow down to a rare safety re-read; while they do not
(no Redis, or Redis away) they poll the database as before, and no error is shown. Redis
coming back (or going) also moves the version, so the page switches mode by itself.
"""

from __future__ import annotations

import streamlit as st

from agent.service import SupportDesk

LIVE_CHECK_SECONDS = 0.5
# With live updates a page still re-reads this often: an event lost in transit costs at most
# this long, never a page that stays wrong.
SAFETY_READ_SECONDS = 60

Version = tuple[int, int] | None


def live_since(support: SupportDesk, tenant: str, thread_id: str | None = None) -> Version:
    """The version a page follows from; take it before reading what the page shows."""
    return support.live_version(tenant, thread_id)


def poll_every(since: Version, seconds: float) -> float:
    """How often a page part re-reads the database: rarely while updates arrive live."""
    return SAFETY_READ_SECONDS if since is not None else seconds


def follow_updates(support: SupportDesk, tenant: str, thread_id: str | None,
                   since: Version) -> None:
    """Rerun the whole page when the tenant's threads (or this thread) change elsewhere."""
    if support.live_updates_configured():
        _watch(support, tenant, thread_id, since)


@st.fragment(run_every=LIVE_CHECK_SECONDS)
def _watch(support: SupportDesk, tenant: str, thread_id: str | None, since: Version) -> None:
    if support.live_version(tenant, thread_id) != since:
        st.rerun(scope="app")
