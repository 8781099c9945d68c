"""Figures in words people read, shared by the Insights page and `support-agent analytics`."""

from __future__ import annotations


def seconds(value: float | None) -> str:
    """A duration: ms under a second, s under two minutes, then minutes; '-' when untimed."""
    if value is None or value != value:  # None, or NaN from a data frame
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def dollars(value: float) -> str:
    """An amount in dollars; tiny model costs keep four decimals."""
    return f"${value:,.4f}" if 0 < value < 1 else f"${value:,.2f}"
