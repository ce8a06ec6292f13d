"""The ``/spend/logs/v2`` collector against a loopback proxy, through the real sync runner and DuckDB ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from collectors.servers.base import FakeServer, Fault
from conftest import Ledger, spend_log_rows
from litellm_fake_proxy import PATH, FakeLiteLLMProxy

from agentledger.core.errors import ConfigError, TerminalError
from agentledger.ingest.collectors.base import Collector
from agentledger.ingest.collectors.litellm_api import LiteLLMApiCollector, api_date
from agentledger.ingest.collectors.timeutil import format_timestamp
from agentledger.ingest.config import source_from_options
from agentledger.ingest.sync import sync_collector

KEY = "sk-test-master-key"
NOW = datetime(2025, 1, 25, tzinfo=UTC)


def _collector(server: FakeServer, sleeps: list[float] | None = None, **options: Any) -> LiteLLMApiCollector:
    options.setdefault("page_size", 10)
    options.setdefault("initial_lookback", timedelta(days=7))
    return LiteLLMApiCollector(
        server.url,
        KEY,
        clock=lambda: NOW,
        sleep=(sleeps if sleeps is not None else []).append,
        rng=lambda: 0.0,
        **options,
    )


def _sync(collector: LiteLLMApiCollector, ledger: Ledger, **kwargs: Any) -> Any:
    return sync_collector(collector, ledger.pipeline, ledger.warehouse, project_id="default", **kwargs)


def test_the_fake_proxy_requires_the_dates_and_the_key(spend_log: dict[str, Any]) -> None:
    with FakeServer(FakeLiteLLMProxy(spend_log_rows(spend_log, 3))) as server:
        auth = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(server.url + PATH, headers=auth).status_code == 422
        assert (
            httpx.get(server.url + PATH, params={"start_date": "2025-01-24"}, headers=auth).status_code == 422
        )
        dates = {"start_date": "2025-01-24", "end_date": "2025-01-25"}
        assert httpx.get(server.url + PATH, params=dates).status_code == 401
        assert len(httpx.get(server.url + PATH, params=dates, headers=auth).json()["data"]) == 3


def test_full_sync_pages_through_every_row(spend_log: dict[str, Any], ledger: Ledger) -> None:
    rows = spend_log_rows(spend_log, 25)
    api = FakeLiteLLMProxy(rows)
    with FakeServer(api) as server:
        collector = _collector(server)
        assert isinstance(collector, Collector)
        report = _sync(collector, ledger)
    assert report.ok and report.records == 25 and report.calls == 25 and report.malformed == 0
    stored = ledger.calls()
    assert [c["span_id"] for c in stored] == [r["request_id"] for r in rows]
    assert [c["input_tokens"] for c in stored] == [r["prompt_tokens"] for r in rows]
    assert all(c["source"] == "litellm" and c["model"] == "gpt-4o" for c in stored)
    assert stored[0]["cost_reported_usd"] == pytest.approx(rows[0]["spend"])
    assert stored[0]["cost_usd"] is not None  # priced by the real pipeline
    # Three pages of 10, ascending by startTime, the required dates in the proxy's format; after a full page
    # the next one starts at page 1 from the second of the last row read (rows are one second apart here).
    requests = api.requests_to(PATH)
    assert [r.query["page"] for r in requests] == [["1"], ["1"], ["1"]]
    assert [r.query["start_date"] for r in requests] == [
        [api_date(NOW - timedelta(days=7))],
        ["2025-01-24 09:00:09"],
        ["2025-01-24 09:00:18"],
    ]
    for request in requests:
        assert request.query["sort_by"] == ["startTime"] and request.query["sort_order"] == ["asc"]
        assert request.query["end_date"] == ["2025-01-25 00:00:00"]
        assert request.headers["Authorization"] == f"Bearer {KEY}"
    cursor = ledger.warehouse.get_cursor(collector.source_key)
    assert cursor is not None and cursor.value == format_timestamp(
        datetime.fromisoformat(rows[-1]["startTime"]).replace(tzinfo=UTC)
    )
    assert collector.source_key == f"litellm:{server.url}"


def test_rows_sharing_a_start_time_across_pages_are_all_read(
    spend_log: dict[str, Any], ledger: Ledger
) -> None:
    """``startTime`` has millisecond precision, so a busy proxy logs several calls at the same time, and the
    order of equal times under LIMIT/OFFSET may change from one page's query to the next."""
    rows = [
        row | {"startTime": row["startTime"][:-7] + ".123000"}  # 3 calls in each second, at the same ms
        for row in spend_log_rows(spend_log, 40, step_ms=340)
    ]
    api = FakeLiteLLMProxy(rows, shuffle_ties=True)
    with FakeServer(api) as server:
        report = _sync(_collector(server, page_size=4), ledger)
    assert report.ok and report.malformed == 0
    assert sorted(c["span_id"] for c in ledger.calls()) == sorted(r["request_id"] for r in rows)


def test_a_page_within_one_second_pages_on_by_number(spend_log: dict[str, Any], ledger: Ledger) -> None:
    rows = spend_log_rows(spend_log, 12, step_ms=50)  # all in 09:00:00
    api = FakeLiteLLMProxy(rows)
    with FakeServer(api) as server:
        assert _sync(_collector(server, page_size=5), ledger).records == 12
    requests = api.requests_to(PATH)
    # the first page moves the start to 09:00:00; that second, a full page, is read whole by page number
    # (its total is 12: one reading is enough), then the run goes on from the next second
    assert [
        (r.query["start_date"][0][-8:], r.query["end_date"][0][-8:], r.query["page"][0]) for r in requests
    ] == [
        ("00:00:00", "00:00:00", "1"),
        ("09:00:00", "00:00:00", "1"),
        ("09:00:00", "09:00:01", "1"),
        ("09:00:00", "09:00:01", "2"),
        ("09:00:00", "09:00:01", "3"),
        ("09:00:01", "00:00:00", "1"),
    ]
    assert len(ledger.calls()) == 12


def test_more_rows_at_one_start_time_than_a_page_are_all_read_when_ties_are_shuffled(
    spend_log: dict[str, Any], ledger: Ledger
) -> None:
    """12 calls started in the same millisecond (ended at different times): the proxy's order among them
    changes from one page's query to the next."""
    rows = spend_log_rows(spend_log, 12, step_ms=50)
    rows = [row | {"startTime": rows[0]["startTime"]} for row in rows]
    api = FakeLiteLLMProxy(rows, shuffle_ties=True)
    with FakeServer(api) as server:
        report = _sync(_collector(server, page_size=5), ledger)
    assert report.ok and report.malformed == 0
    assert sorted(c["span_id"] for c in ledger.calls()) == sorted(r["request_id"] for r in rows)


def test_a_second_that_cannot_be_read_whole_is_read_as_far_as_it_can_and_logged(
    spend_log: dict[str, Any], ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Ties on every sort key, in an order that depends on the page: some rows of that second never come
    back. Once every sort order was read again without a new row, the run goes on with the rows it could
    read (failing every run instead would stop the source for good) and the log says how many are missing."""
    rows = spend_log_rows(spend_log, 12, step_ms=50)
    rows = [row | {"startTime": rows[0]["startTime"], "endTime": rows[0]["endTime"]} for row in rows]
    api = FakeLiteLLMProxy(rows, shuffle_ties=True)
    with FakeServer(api) as server, caplog.at_level("WARNING", logger="agentledger.ingest.collectors.ties"):
        report = _sync(_collector(server, page_size=5), ledger)
    assert report.ok
    read = len(ledger.calls())
    assert read == 9  # what this proxy's page-dependent order lets through, under every sort order
    assert f"the source counts 12 LiteLLM spend logs of 2025-01-24 09:00:00 but {read} could be read" in (
        caplog.text
    )


def test_incremental_run_reads_from_the_cursor_minus_the_overlap(
    spend_log: dict[str, Any], ledger: Ledger
) -> None:
    rows = spend_log_rows(spend_log, 12, step_ms=60_000)  # one a minute from 09:00
    api = FakeLiteLLMProxy(rows)
    with FakeServer(api) as server:
        assert _sync(_collector(server, overlap=timedelta(minutes=2)), ledger).records == 12
        rows.extend(spend_log_rows(spend_log, 3, start="2025-01-24T09:30:00", step_ms=60_000, prefix="late"))
        second = _sync(_collector(server, overlap=timedelta(minutes=2)), ledger)
    # The cursor is 09:11; re-read from 09:09 (rows 09:09, 09:10, 09:11) plus the 3 new ones.
    assert second.records == 6
    assert api.requests_to(PATH)[-1].query["start_date"] == ["2025-01-24 09:09:00"]
    assert len(ledger.calls()) == 15  # the overlap re-read changed nothing


def test_retries_429_with_retry_after_and_5xx(spend_log: dict[str, Any], ledger: Ledger) -> None:
    api = FakeLiteLLMProxy(spend_log_rows(spend_log, 25))
    api.inject(PATH, 2, Fault(status=429, headers={"Retry-After": "3"}))
    api.inject(PATH, 4, Fault(status=503))
    sleeps: list[float] = []
    with FakeServer(api) as server:
        report = _sync(_collector(server, sleeps), ledger)
    assert report.ok and len(ledger.calls()) == 25
    assert sleeps[0] == 3.0  # Retry-After honoured
    assert len(sleeps) == 2
    assert len(api.requests_to(PATH)) == 5


def test_malformed_row_is_counted_and_the_rest_stored(spend_log: dict[str, Any], ledger: Ledger) -> None:
    rows = spend_log_rows(spend_log, 5)
    rows[2]["prompt_tokens"] = "many"
    with FakeServer(FakeLiteLLMProxy(rows)) as server:
        report = _sync(_collector(server), ledger)
    assert report.malformed == 1 and report.malformed_ids == ["req-00002"]
    assert [c["span_id"] for c in ledger.calls()] == ["req-00000", "req-00001", "req-00003", "req-00004"]


def test_refused_key_is_terminal_and_names_the_variable_not_the_key(
    spend_log: dict[str, Any], ledger: Ledger
) -> None:
    proxy = FakeLiteLLMProxy(spend_log_rows(spend_log, 2), api_key="sk-other-key-0000")
    with FakeServer(proxy) as server, pytest.raises(TerminalError) as excinfo:
        _sync(_collector(server), ledger)
    assert "LITELLM_API_KEY" in str(excinfo.value) and KEY not in str(excinfo.value)
    cursor = ledger.warehouse.get_cursor(f"litellm:{server.url}")
    assert cursor is not None and cursor.last_error and KEY not in cursor.last_error


def test_paging_continues_past_a_capped_total(spend_log: dict[str, Any], ledger: Ledger) -> None:
    api = FakeLiteLLMProxy(
        spend_log_rows(spend_log, 23), count_cap=10
    )  # total_pages stays 1 with page_size 10
    with FakeServer(api) as server:
        report = _sync(_collector(server), ledger)
    assert report.records == 23 and len(ledger.calls()) == 23
    assert len(api.requests_to(PATH)) == 3


def test_since_until_window_is_half_open(spend_log: dict[str, Any], ledger: Ledger) -> None:
    rows = spend_log_rows(spend_log, 10, step_ms=500)  # 09:00:00.0, 09:00:00.5, ... 09:00:04.5
    with FakeServer(FakeLiteLLMProxy(rows)) as server:
        since = datetime(2025, 1, 24, 9, 0, 1, 500000, tzinfo=UTC)
        until = datetime(2025, 1, 24, 9, 0, 3, tzinfo=UTC)
        _sync(_collector(server), ledger, since=since, until=until)
    assert [c["span_id"] for c in ledger.calls()] == ["req-00003", "req-00004", "req-00005"]


def test_from_source_reads_the_key_from_the_environment(spend_log: dict[str, Any], ledger: Ledger) -> None:
    with FakeServer(FakeLiteLLMProxy(spend_log_rows(spend_log, 4))) as server:
        source = source_from_options({"type": "litellm", "api_url": server.url, "page_size": 3})
        collector = LiteLLMApiCollector.from_source(source, {"LITELLM_API_KEY": KEY}, clock=lambda: NOW)
        assert collector.page_size == 3
        assert _sync(collector, ledger).records == 4
        with pytest.raises(ConfigError, match="LITELLM_API_KEY"):
            LiteLLMApiCollector.from_source(source, {})


def test_page_size_above_the_api_limit_is_refused() -> None:
    with pytest.raises(ConfigError, match="1000"):
        LiteLLMApiCollector("http://127.0.0.1:9", KEY, page_size=5000)


def test_source_key_has_no_credentials() -> None:
    collector = LiteLLMApiCollector("http://admin:pw@proxy.internal:4000/", KEY)
    assert collector.source_key == "litellm:http://proxy.internal:4000"
