"""Import OTLP trace files: what the OTel Collector's file exporter and ``otlp`` dumps write.

Formats, chosen by extension (each may also end in ``.gz``):

* ``.json``: one OTLP/JSON ``ExportTraceServiceRequest`` per file, pretty-printed or not, or several one after
  another (``jq .`` output); a file whose first line is a complete JSON document is read as JSON lines instead
  (the Collector writes ``.json`` that way);
* ``.jsonl`` / ``.ndjson``: one export request per line;
* ``.pb`` / ``.binpb`` / ``.protobuf``: one binary ``ExportTraceServiceRequest`` per file, or a sequence of them
  each preceded by its size as a 4-byte big-endian integer (what the Collector's file exporter writes with
  ``format: proto``).

A record that cannot be read yields a :class:`FileError` naming the file and the position (line, or byte range
for protobuf) and iteration goes on with the next record or file.

With ``workers``, :func:`import_files` reads, decodes and maps whole files in that many worker processes (the
Python work of an import, which one process does under one lock) while this process writes them in the order of
the files, so the result is that of the sequential import. One file is read by one worker (see
:mod:`agentledger.ingest.otlp.workers`). Given a pipeline's :class:`~agentledger.ingest.pipeline.OverlappedIngest`,
the workers also prepare each request for the write (pricing with the pipeline's pricer, resolution, Arrow
tables) and this process only writes; given any other ``ingest``, it receives the mapped records.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import re
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agentledger.core.errors import InputError, TransientError
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.otlp.decode import DecodedRequest, Rejection, decode_json_document, decode_protobuf
from agentledger.ingest.otlp.limits import may_hold_surrogates, scrub_surrogates
from agentledger.ingest.otlp.mapping import MappedBatch, map_request
from agentledger.ingest.otlp.workers import (
    MappingPool,
    Packed,
    PreparedRequest,
    Pricing,
    pack,
    prepare_mapped,
    unpack,
)
from agentledger.ingest.pipeline import OverlappedIngest

PROTOBUF_SUFFIXES = (".pb", ".binpb", ".protobuf")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)
SUPPORTED_SUFFIXES = PROTOBUF_SUFFIXES + JSON_LINES_SUFFIXES + JSON_SUFFIXES
_SAMPLES_KEPT = 20  # rejection reasons kept in a report; the count covers all of them
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError
_BLANKS = re.compile(r"\s*")


@dataclass(slots=True)
class FileItem:
    """One export request read from a file."""

    path: Path
    position: str  # "line 12", "message 3 (bytes 120-245)", or "file" for a one-request file
    request: DecodedRequest


@dataclass(slots=True)
class FileError:
    """A record (or a whole file) that could not be read."""

    path: Path
    position: str
    message: str

    def describe(self) -> str:
        return f"{self.path}: {self.position}: {self.message}"


@dataclass(slots=True)
class FileImportReport:
    """Counts of one import; ``spans`` and ``calls`` are what was handed to ``ingest``."""

    files: int = 0
    requests: int = 0
    spans: int = 0
    calls: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    rejection_samples: list[str] = field(default_factory=list)


def iter_file_requests(path: str | Path) -> Iterator[FileItem | FileError]:
    """Yield every export request of one file, or an error per unreadable record."""
    path = Path(path)
    kind = _file_kind(path)
    if kind is None:
        yield FileError(
            path,
            "file",
            f"unknown file type; expected one of {', '.join(SUPPORTED_SUFFIXES)} (optionally .gz)",
        )
        return
    try:
        handle = _open(path)
    except OSError as exc:
        yield FileError(path, "file", f"cannot open: {exc.strerror or exc}")
        return
    with handle:
        if kind == "protobuf":
            yield from _iter_protobuf(path, handle)
        elif kind == "lines":
            yield from _iter_lines(path, handle, 0)
        else:
            yield from _iter_json(path, handle)


def iter_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named directly, and the supported files inside named directories (recursively, sorted)."""
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and _file_kind(p) is not None)
        else:
            yield path


def import_files(
    paths: Iterable[str | Path],
    ingest: Callable[[list[Call], list[SpanContext]], object],
    *,
    project_id: str,
    batch_spans: int = 5000,
    progress: Callable[[int], None] | None = None,
    workers: int = 0,
    files_progress: Callable[[int], None] | None = None,
) -> FileImportReport:
    """Read, map and ingest OTLP files in batches of about ``batch_spans`` spans.

    ``progress`` is called with the number of spans read since its previous call, ``files_progress`` with 1
    each time a file has been read (its records handed on, whether written yet or not). Unreadable records are
    listed in ``errors`` and skipped; an exception from ``ingest`` propagates (nothing is acknowledged).
    With ``workers`` > 0 the files are read and mapped in that many processes (see the module docstring);
    the report and what is stored are the same, but for one case: given an :class:`OverlappedIngest`, the
    workers prepare each file's requests in groups of their own, and two records of one API call in two groups
    (two files, say) keep the one read first, as two requests do (see :mod:`agentledger.ingest.twins`), where
    one group of the import in one process would keep its preferred record.
    """
    report = FileImportReport()
    calls: list[Call] = []
    spans: list[SpanContext] = []
    prepared = isinstance(ingest, OverlappedIngest)
    if workers > 0:
        mapped = _mapped_in_workers(
            paths,
            project_id,
            workers,
            Pricing.of(ingest.pricer) if prepared else None,
            prepared,
            batch_spans,
        )
    else:
        mapped = _mapped(paths, project_id)
    try:
        for item in mapped:
            if isinstance(item, Path):
                if report.files and files_progress is not None:
                    files_progress(1)  # the one before is read
                report.files += 1
                continue
            if isinstance(item, FileError):
                report.errors.append(item.describe())
                continue
            path, position, batch, read = item
            report.requests += 1
            _note_rejections(report, path, position, batch.rejected)
            if isinstance(batch, PreparedRequest):  # prepared in a worker: the writer takes it as it is
                assert isinstance(ingest, OverlappedIngest)
                if batch.prepared is not None:
                    ingest.prepared(batch.prepared)
                report.calls += batch.calls
                report.spans += batch.spans
                if progress is not None:
                    progress(read)
                continue
            calls.extend(batch.calls)
            spans.extend(batch.spans)
            if progress is not None:
                progress(read)
            if len(spans) >= batch_spans:
                _flush(ingest, calls, spans, report)
    finally:  # the worker processes stop here, also when ``ingest`` raised (not when the traceback is freed)
        mapped.close()
    _flush(ingest, calls, spans, report)
    if report.files and files_progress is not None:
        files_progress(1)
    return report


# A file's mapped requests, in order: the file's path first, then per request (path, position, records, spans
# read) or a FileError.
_Mapped = Path | FileError | tuple[Path, str, MappedBatch | PreparedRequest, int]


def _mapped(paths: Iterable[str | Path], project_id: str) -> Generator[_Mapped, None, None]:
    for path in iter_paths(paths):
        yield path
        yield from _mapped_file(path, project_id)


def _mapped_file(path: Path, project_id: str) -> Iterator[FileError | tuple[Path, str, MappedBatch, int]]:
    for item in iter_file_requests(path):
        if isinstance(item, FileError):
            yield item
            continue
        read = len(item.request.spans) + len(item.request.rejected)
        yield item.path, item.position, map_request(item.request, project_id=project_id), read


def _map_file_in_worker(path: Path, project_id: str) -> list[FileError | tuple[str, Packed, int]]:
    """One file mapped in a worker process, its records packed (see :mod:`agentledger.ingest.otlp.workers`)."""
    return [
        item if isinstance(item, FileError) else (item[1], pack(item[2]), item[3])
        for item in _mapped_file(path, project_id)
    ]


def _prepare_file_in_worker(
    path: Path, project_id: str, batch_spans: int
) -> list[FileError | tuple[str, PreparedRequest, int]]:
    """One file mapped and prepared for the write in a worker process: the records of consecutive requests are
    prepared together, about ``batch_spans`` spans at a time, and the last request of each group carries them
    (the others carry their counts and rejections only)."""
    items: list[FileError | tuple[str, PreparedRequest, int]] = []
    group: list[tuple[str, MappedBatch, int]] = []

    def prepare_group() -> None:
        if not group:
            return
        together = MappedBatch(
            [c for _, b, _ in group for c in b.calls], [s for _, b, _ in group for s in b.spans], []
        )
        prepared = prepare_mapped(together).prepared
        for n, (position, batch, read) in enumerate(group, 1):
            mine = prepared if n == len(group) else None
            request = PreparedRequest(mine, len(batch.calls), len(batch.spans), batch.rejected)
            items.append((position, request, read))
        group.clear()

    spans = 0
    for item in _mapped_file(path, project_id):
        if isinstance(item, FileError):
            prepare_group()  # the error is reported in its place, after the requests before it
            spans = 0
            items.append(item)
            continue
        group.append((item[1], item[2], item[3]))
        spans += len(item[2].spans)
        if spans >= batch_spans:
            prepare_group()
            spans = 0
    prepare_group()
    return items


def _mapped_in_workers(
    paths: Iterable[str | Path],
    project_id: str,
    workers: int,
    pricing: Pricing | None,
    prepared: bool,
    batch_spans: int,
) -> Generator[_Mapped, None, None]:
    """:func:`_mapped` with the files mapped (and ``prepared``, priced by ``pricing``) in ``workers`` processes,
    in order, at most eight files per worker ahead of the consumer (so memory stays bounded by a few files'
    records)."""
    pool = MappingPool(workers, pricing)
    work: Callable[..., list[Any]] = _map_file_in_worker
    if prepared:
        work = functools.partial(_prepare_file_in_worker, batch_spans=batch_spans)
    path: Path | None = None
    try:
        ahead: deque[tuple[Path, Future[list[Any]]]] = deque()
        pending = iter_paths(paths)
        for path in itertools.islice(pending, 8 * workers):
            ahead.append((path, pool.future(work, path, project_id)))
        while ahead:
            path, future = ahead.popleft()
            mapped = future.result()  # an unexpected error in a worker is raised here
            for path_next in itertools.islice(pending, 1):
                ahead.append((path_next, pool.future(work, path_next, project_id)))
            yield path
            for item in mapped:
                if isinstance(item, FileError):
                    yield item
                else:
                    position, batch, read = item
                    yield path, position, batch if prepared else unpack(batch), read
    except BrokenProcessPool:  # killed, or out of memory: one file is held whole by one worker
        raise TransientError(
            f"a worker process died while reading {path} (out of memory?); what was read before is kept: "
            "run the import again, with fewer --workers or without"
        ) from None
    finally:
        pool.close()


def _note_rejections(report: FileImportReport, path: Path, position: str, rejected: list[Rejection]) -> None:
    report.rejected += len(rejected)
    room = _SAMPLES_KEPT - len(report.rejection_samples)
    for rejection in rejected[: max(room, 0)]:
        report.rejection_samples.append(f"{path}: {position}: {rejection.describe()}")


def _flush(
    ingest: Callable[[list[Call], list[SpanContext]], object],
    calls: list[Call],
    spans: list[SpanContext],
    report: FileImportReport,
) -> None:
    if not spans and not calls:
        return
    ingest(list(calls), list(spans))
    report.calls += len(calls)
    report.spans += len(spans)
    calls.clear()
    spans.clear()


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # GzipFile reads bytes like any binary file
    return open(path, "rb")  # noqa: SIM115  # closed by the caller's with-block


def _file_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(PROTOBUF_SUFFIXES):
        return "protobuf"
    if name.endswith(JSON_LINES_SUFFIXES):
        return "lines"
    if name.endswith(JSON_SUFFIXES):
        return "json"
    return None


def _iter_protobuf(path: Path, handle: IO[bytes]) -> Iterator[FileItem | FileError]:
    try:
        body = handle.read()
    except _READ_ERRORS as exc:
        yield FileError(path, "file", f"cannot read: {exc}")
        return
    frames = _size_prefixed_frames(body)
    if frames is None:
        try:
            yield FileItem(path, "file", decode_protobuf(body))
        except InputError as exc:
            yield FileError(path, f"bytes 0-{len(body)}", str(exc))
        return
    for number, (start, end) in enumerate(frames, 1):
        position = f"message {number} (bytes {start}-{end})"
        if end > len(body):
            yield FileError(
                path, position, f"the file is cut short: {len(body) - start} bytes of {end - start}"
            )
            return
        try:
            yield FileItem(path, position, decode_protobuf(body[start:end]))
        except InputError as exc:
            yield FileError(path, position, str(exc))


def _size_prefixed_frames(body: bytes) -> list[tuple[int, int]] | None:
    """The (start, end) of each request when ``body`` is a sequence of size-prefixed requests, else None.

    It is one when the sizes chain exactly to the end of the file, or when it starts with a zero byte (a plain
    request never does: field number 0 does not exist); then the file may end inside its last frame (a write
    cut short), whose ``end`` lies past the end of the file.
    """
    frames: list[tuple[int, int]] = []
    offset = 0
    while offset < len(body):
        start = offset + 4
        if start > len(body):  # the size itself is cut short
            frames.append((offset, start))
            break
        end = start + int.from_bytes(body[offset:start], "big")
        frames.append((start, end))
        offset = end
    if not frames or (frames[-1][1] > len(body) and body[:1] != b"\x00"):
        return None
    return frames


def _iter_json(path: Path, handle: IO[bytes]) -> Iterator[FileItem | FileError]:
    """A single document, unless its first non-blank line is a whole document (then JSON lines)."""
    line_no = 0
    try:
        first = handle.readline()
        line_no = 1
        while first and not first.strip():
            first = handle.readline()
            line_no += 1
    except _READ_ERRORS as exc:
        yield FileError(path, f"line {line_no + 1}", f"cannot read: {exc}")
        return
    if not first:
        yield FileError(path, "file", "the file is empty")
        return
    try:
        document = json.loads(first)
    except (ValueError, RecursionError) as exc:
        stripped = first.strip()
        if stripped.startswith(b"{") and stripped.endswith(b"}"):  # a bad first line of JSON lines
            yield FileError(path, f"line {line_no}", f"invalid JSON: {exc}")
            yield from _iter_lines(path, handle, line_no)
        else:
            yield from _iter_whole_document(path, first, handle, line_no)
        return
    yield _item(path, f"line {line_no}", document, may_hold_surrogates(first))
    yield from _iter_lines(path, handle, line_no)


def _iter_whole_document(
    path: Path, head: bytes, handle: IO[bytes], first_line: int
) -> Iterator[FileItem | FileError]:
    try:
        text = head + handle.read()
    except _READ_ERRORS as exc:
        yield FileError(path, "file", f"cannot read: {exc}")
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # more documents follow the first one
            yield from _iter_documents(path, exc.doc, first_line)
            return
        line = exc.lineno + first_line - 1
        yield FileError(path, f"line {line}, column {exc.colno}", f"invalid JSON: {exc.msg}")
        return
    except (ValueError, RecursionError) as exc:
        yield FileError(path, "file", f"invalid JSON: {exc}")
        return
    yield _item(path, "file", document, may_hold_surrogates(text))


def _iter_documents(path: Path, source: str, first_line: int) -> Iterator[FileItem | FileError]:
    """Pretty-printed documents one after another (what ``jq .`` makes of a JSON-lines file), each named by the
    line it starts on; an invalid one ends the file, since the next document cannot be found after it."""
    decoder = json.JSONDecoder()
    scrub = may_hold_surrogates(source.encode("utf-8", "surrogatepass"))
    position, line = 0, first_line
    while True:
        start = _BLANKS.match(source, position).end()
        line += source.count("\n", position, start)
        if start == len(source):
            return
        try:
            document, position = decoder.raw_decode(source, start)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno + first_line - 1}, column {exc.colno}"
            yield FileError(path, where, f"invalid JSON: {exc.msg}")
            return
        except RecursionError as exc:
            yield FileError(path, f"line {line}", f"invalid JSON: {exc}")
            return
        yield _item(path, f"line {line}", document, scrub)
        line += source.count("\n", start, position)


def _iter_lines(path: Path, handle: IO[bytes], line_no: int) -> Iterator[FileItem | FileError]:
    lines = iter(handle)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except _READ_ERRORS as exc:
            yield FileError(path, f"after line {line_no}", f"cannot read further: {exc}")
            return
        line_no += 1
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield FileError(path, f"line {line_no}", f"invalid JSON: {exc}")
            continue
        yield _item(path, f"line {line_no}", document, may_hold_surrogates(line))


def _item(path: Path, position: str, document: object, escapes: bool) -> FileItem | FileError:
    """``escapes``: whether the document's text has surrogate escapes (see :func:`may_hold_surrogates`)."""
    if escapes:
        document = scrub_surrogates(document)  # lone surrogates cannot be stored: U+FFFD instead
    try:
        return FileItem(path, position, decode_json_document(document))
    except InputError as exc:
        return FileError(path, position, str(exc))
