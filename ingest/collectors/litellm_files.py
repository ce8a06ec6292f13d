"""LiteLLM records from files: JSON lines, JSON documents or CSV exports, gzip-compressed or not.

Each record is a StandardLoggingPayload (a callback's or a logging integration's output) or a SpendLogs row
(a ``/spend/logs`` export, a table dump); the two are told apart per record. Accepted files:

- ``*.jsonl`` / ``*.ndjson`` (and anything else): one JSON object per line;
- ``*.json``: a list of records, a ``/spend/logs/v2`` response (``{"data": [...]}``) or one record; a ``.json``
  file that is not one JSON document is read as JSON lines;
- ``*.csv``: a SpendLogs export with a header row;
- any of these with ``.gz`` appended.

A bad line (not JSON, not an object, neither kind of record) is logged with its file and line, kept in
:attr:`LiteLLMFileCollector.problems`, and skipped; the runner counts it as malformed (its id is
``file:line``). A last line that is not JSON and has no newline yet is
one a logger is still writing: it is neither read nor counted, so the next run reads it whole. The cursor is a JSON object mapping each file's absolute
path to the number of lines (or records, for ``.json`` documents) already written, so appending to a log file
only reads the new lines; a file that became shorter was replaced and is read again from the start. A run
filtered with ``since``/``until`` reads everything in range and leaves the cursor where it was.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from agentledger.core.errors import ConfigError, InputError
from agentledger.ingest.collectors.base import Page
from agentledger.ingest.collectors.litellm import LiteLLMRecords, record_kind, record_started_at

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".log")
_MAX_PROBLEMS = 1000


def _base_suffix(path: Path) -> str:
    """The suffix that says the format, under an optional ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _open_text(path: Path) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


class LiteLLMFileCollector(LiteLLMRecords):
    """Pull collector over one file or a folder of LiteLLM exports (read in name order)."""

    def __init__(self, path: str | Path, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ConfigError(f"LiteLLM file batch_size must be at least 1, got {batch_size}")
        self.path = Path(path).expanduser().resolve()
        self.source_key = f"litellm_file:{self.path}"
        self.batch_size = batch_size
        self.problems: list[str] = []  # "file:line: reason" of every skipped line of the last run

    @classmethod
    def from_source(cls, source: Any, env: Any = None, **options: Any) -> LiteLLMFileCollector:
        """Build from a :class:`~agentledger.ingest.config.LiteLLMFileSource`."""
        return cls(source.path, **options)

    def files(self) -> list[Path]:
        """The files to read: the path itself, or the record files in the folder and below, by name."""
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise ConfigError(f"LiteLLM file source {self.path}: no such file or folder")
        return sorted(p for p in self.path.rglob("*") if p.is_file() and _base_suffix(p) in _SUFFIXES)

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Batches of new records from every file; filtered runs (``since``/``until``) keep the cursor."""
        self.problems = []
        files = self.files()
        done = _read_cursor(cursor)
        done = {k: v for k, v in done.items() if Path(k) in set(files)}  # forget files that are gone
        filtered = since is not None or until is not None
        for path in files:
            for batch, bad, position in self._batches(path, done.get(str(path), 0)):
                done[str(path)] = position
                kept = [r for r in batch if _in_window(r, since, until)] if filtered else batch
                yield Page(
                    records=kept,
                    next_cursor=None if filtered else json.dumps(done, sort_keys=True),
                    skipped=bad,
                )

    def _batches(self, path: Path, skip: int) -> Iterator[tuple[list[dict[str, Any]], list[str], int]]:
        """``(records, bad lines, position)`` after each batch (a bad line as ``file:line``); reads again from
        0 when the file has fewer than ``skip`` lines."""
        batch: list[dict[str, Any]] = []
        bad: list[str] = []
        position = 0
        for position, item in self._items(path):
            if position <= skip:
                continue
            record = self._accept(path, position, item)
            if record is not None:
                batch.append(record)
            elif item is not _BLANK:
                bad.append(f"{path}:{position}")
            if len(batch) + len(bad) >= self.batch_size:
                yield batch, bad, position
                batch, bad = [], []
        if position < skip:  # the file was truncated or replaced: what it holds now is new
            log.info(
                "%s has %d lines, fewer than the %d already read: reading it again", path, position, skip
            )
            yield from self._batches(path, 0)
            return
        if batch or bad or position > skip:
            yield batch, bad, position

    def _items(self, path: Path) -> Iterator[tuple[int, Any]]:
        """``(line or record number, parsed item or the error text)`` of one file."""
        suffix = _base_suffix(path)
        if suffix == ".csv":
            yield from _csv_items(path)
            return
        if suffix == ".json":
            document = _json_document(path)
            if document is not None:
                yield from enumerate(document, start=1)
                return
        yield from _json_lines(path)

    def _accept(self, path: Path, position: int, item: Any) -> dict[str, Any] | None:
        """The item when it is a LiteLLM record; otherwise report the line and return None."""
        if item is _BLANK:
            return None
        if isinstance(item, _BadLine):
            self._problem(path, position, item.reason)
            return None
        if not isinstance(item, dict):
            self._problem(path, position, f"expected a JSON object, got {type(item).__name__}")
            return None
        try:
            record_kind(item)
        except InputError as exc:
            self._problem(path, position, str(exc))
            return None
        return item

    def _problem(self, path: Path, position: int, reason: str) -> None:
        message = f"{path}:{position}: {reason}"
        log.warning("skipped a bad LiteLLM record: %s", message)
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(message)


_BLANK = object()  # an empty line: counted for the cursor, not a record, not an error


class _BadLine:
    """A line that could not be parsed, carried in order so it is reported with its line number."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                yield number, _BLANK
                continue
            try:
                item = json.loads(text)
            except ValueError as exc:
                if not line.endswith("\n"):
                    # The last line, still being written by the logger: it is read whole by the next run.
                    log.debug("%s:%d: incomplete last line left for the next run", path, number)
                    return
                item = _BadLine(f"not JSON: {exc}")
            yield number, item


def _json_document(path: Path) -> list[Any] | None:
    """The records of a whole-file JSON document, or None when the file is not one (JSON lines then)."""
    try:
        with _open_text(path) as handle:
            document = json.load(handle)
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        return document["data"]
    return document if isinstance(document, list) else [document]


def _csv_items(path: Path) -> Iterator[tuple[int, Any]]:
    """Rows of a CSV export as dicts of strings; the normalizer reads numbers and JSON from strings."""
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            number = reader.line_num
            if None in row or None in row.values():
                yield number, _BadLine("wrong number of columns")
                continue
            yield number, {k: (v if v != "" else None) for k, v in row.items()}


def _read_cursor(cursor: str | None) -> dict[str, int]:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        return {}  # a cursor from another format (a timestamp): start over, writes are idempotent
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def _in_window(record: dict[str, Any], since: datetime | None, until: datetime | None) -> bool:
    try:
        started = record_started_at(record)
    except InputError:
        return True  # unreadable time: let the runner report the record as malformed
    return (since is None or started >= since) and (until is None or started < until)
