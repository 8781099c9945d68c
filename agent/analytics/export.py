"""The Parquet export for a data lake: checkpoint rows partitioned by day, written incrementally.

Layout: `DIR/checkpoints/year=YYYY/month=M/day=D/part-<export>-<n>.parquet` (Hive-style, so
DuckDB, Athena, Trino and Spark read the partitions as columns) and `DIR/_watermark.json`, the
newest checkpoint exported per thread: the next export writes only checkpoints after it.
Names starting with `_` are skipped by those engines. No message text unless asked for.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from agent.analytics.extract import extract
from agent.analytics.prices import PriceTable
from agent.analytics.queries import CHECKPOINTS, TEXT, table
from agent.errors import InvalidInput
from agent.persistence.threads import ThreadRecord

WATERMARK = "_watermark.json"
TABLE_DIR = "checkpoints"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExportResult:
    """What one export wrote."""

    directory: str
    rows: int
    files: tuple[str, ...]
    partitions: tuple[str, ...]
    threads: int
    with_text: bool


def export_parquet(checkpointer, threads: Iterable[ThreadRecord], directory: Path, *,
                   prices: PriceTable, default_model: str,
                   with_text: bool = False) -> ExportResult:
    """Write the checkpoints that are new since the last export into `directory`."""
    directory = Path(directory)
    watermark = _read_watermark(directory, with_text)
    extraction = extract(checkpointer, threads, prices=prices, default_model=default_model,
                         after=watermark["threads"], with_text=with_text)
    schema = CHECKPOINTS.append(TEXT) if with_text else CHECKPOINTS
    rows = extraction.checkpoints
    files: list[str] = []
    partitions: set[str] = set()
    if rows:
        for row in rows:
            day = row["ts"]
            row["year"], row["month"], row["day"] = day.year, day.month, day.day
            partitions.add(f"year={day.year}/month={day.month}/day={day.day}")
        full = schema.append(pa.field("year", pa.int32())).append(
            pa.field("month", pa.int32())).append(pa.field("day", pa.int32()))
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        try:
            pq.write_to_dataset(
                table(rows, full), root_path=str(directory / TABLE_DIR),
                partition_cols=["year", "month", "day"],
                basename_template=f"part-{stamp}-{{i}}.parquet",
                existing_data_behavior="overwrite_or_ignore",
                file_visitor=lambda written: files.append(written.path))
        except OSError as exc:
            raise InvalidInput(f"cannot write the export into {directory}: "
                               f"{exc.strerror or exc}") from None
    # The watermark moves only after the files are written: a failed export is redone whole.
    # (Threads deleted since drop out: their ids are never used again.)
    _write_watermark(directory, extraction.last_checkpoint, with_text)
    return ExportResult(str(directory), len(rows), tuple(sorted(files)),
                        tuple(sorted(partitions)), len(extraction.last_checkpoint), with_text)


def _read_watermark(directory: Path, with_text: bool) -> dict:
    path = directory / WATERMARK
    if not path.exists():
        if directory.exists() and not directory.is_dir():
            raise InvalidInput(f"{directory} is not a folder")
        if directory.is_dir() and (directory / TABLE_DIR).exists():
            raise InvalidInput(f"{directory} holds an export without its {WATERMARK}; "
                               "export into an empty folder")
        return {"threads": {}, "with_text": with_text}
    try:
        watermark = json.loads(path.read_text(encoding="utf-8"))
        watermark["threads"] = dict(watermark["threads"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"cannot read {path} ({exc}); export into an empty folder") from None
    if bool(watermark.get("with_text")) != with_text:
        # One table, one schema: a text column in some files and not others breaks readers.
        was = "with" if watermark.get("with_text") else "without"
        raise InvalidInput(f"{directory} was exported {was} --with-text; export the same way "
                           "or into another folder")
    return watermark


def _write_watermark(directory: Path, threads: dict[str, str], with_text: bool) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{WATERMARK}.{uuid.uuid4().hex[:8]}"
        temporary.write_text(json.dumps({
            "format": FORMAT_VERSION, "with_text": with_text, "exported_at": time.time(),
            "threads": threads}, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, directory / WATERMARK)  # atomic: never a half-written watermark
    except OSError as exc:
        raise InvalidInput(f"cannot write the export into {directory}: "
                           f"{exc.strerror or exc}") from None
