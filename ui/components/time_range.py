"""The "Time range (UTC days)" picker the supervisors' pages share (Audit, Insights)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import streamlit as st

from agent.audit_words import day_range
from agent.errors import SupportError

DEFAULT_DAYS = 30


def utc_day_range(container: Any, key: str, *, default_days: int = DEFAULT_DAYS
                  ) -> tuple[float, float] | None:
    """The chosen UTC days as [since, until) epoch seconds; None (said in place) while only
    the first day is picked or the range ends before it starts."""
    today = datetime.now(UTC).date()
    picked = container.date_input("Time range (UTC days)", key=key,
                                  value=(today - timedelta(days=default_days), today),
                                  format="YYYY-MM-DD")
    days = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    if len(days) != 2 or not all(isinstance(d, date) for d in days):
        st.info("Pick the last day of the time range too.", icon=":material/date_range:")
        return None
    try:
        return day_range(*days)
    except SupportError as exc:  # an end before the start: said where the dates are
        st.error(str(exc), icon=":material/error:")
        return None
