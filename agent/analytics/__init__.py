"""Insights from the checkpoints: extraction, DuckDB queries and the Parquet export.

Python reads the checkpoints through the saver (so compressed and encrypted ones count) and
the app's tables through the domain classes; DuckDB answers the questions over Arrow tables
built from them, or over the Parquet files `export.py` writes for a data lake.
"""
