"""Benchmarks of support-agent: `support-agent bench [--quick]` runs them all (bench.suite).

The older single-purpose scripts (conversation.py, ui_scale.py) still run on their own.
"""
