"""The sync runner: cursor order and bookkeeping, malformed records, failures, several sources."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentledger.analytics.sources import list_sources
from agentledger.core.errors import ConfigError, InputError, TransientError
from agentledger.core.records import Call
from agentledger.ingest.collectors.base import Normalized, Page
from agentledger.ingest.collectors.helicone import HeliconeCollector
from agentledger.ingest.collectors.langfuse import LangfuseCollector
from agentledger.ingest.config import parse_config
from agentledger.ingest.pipeline import Pipeline
from agentledger.ingest.sync import sync_all, sync_collector
from agentledger.warehouse.base import cursor_key, cursor_project

from .contract import open_warehouse

T0 = datetime(2025, 3, 1, tzinfo=UTC)


class ListCollector:
    """An in-memory source: records with an id and a minute offset, two per page, oldest first."""

    name = "memory"

    def __init__(
        self, records: list[dict[str, Any]], fail_with: Exception | None = None, key: str = "memory:test"
    ):
        self.records, self.fail_with, self.source_key = records, fail_with, key
        self.seen_cursor: str | None = "unset"

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        self.seen_cursor = cursor
        todo = [r for r in self.records if cursor is None or "minute" not in r or _ts(r).isoformat() > cursor]
        for i in range(0, len(todo), 2):
            if self.fail_with is not None and i >= 2:
                raise self.fail_with
            chunk = todo[i : i + 2]
            yield Page(chunk, _ts(chunk[-1]).isoformat())

    def normalize(self, record: dict[str, Any], *, project_id: str) -> Normalized:
        if "minute" not in record:
            raise InputError(f"record {record.get('id')} has no minute")
        call = Call(
            source="memory", trace_id="t", span_id=record["id"], started_at=_ts(record), project_id=project_id
        )
        return Normalized(calls=[call])

    def record_id(self, record: dict[str, Any]) -> str:
        return str(record.get("id", "<no id>"))


def _ts(record: dict[str, Any]) -> datetime:
    return T0 + timedelta(minutes=record["minute"])


def records(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "minute": i} for i in range(n)]


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Any]:
    warehouse = open_warehouse(tmp_path, "sync")
    yield warehouse
    warehouse.close()


def test_cursor_row_records_value_time_and_count(wh) -> None:
    report = sync_collector(ListCollector(records(5)), Pipeline(wh), wh, project_id="p")
    cursor = wh.get_cursor(cursor_key("memory:test", "p"))
    assert (report.pages, report.records, report.calls) == (3, 5, 5)
    assert cursor.value == (T0 + timedelta(minutes=4)).isoformat() == report.cursor_after
    assert cursor.records == 5 and cursor.last_error is None and cursor.last_run_at == report.started_at
    again = ListCollector(records(5))
    sync_collector(again, Pipeline(wh), wh, project_id="p")
    assert again.seen_cursor == cursor.value  # the next run starts from the stored cursor


def test_malformed_records_are_logged_with_their_id_and_counted(wh, caplog) -> None:
    rows = records(2) + [{"id": "broken-7"}, {"id": "r2", "minute": 2}, {"id": "r3", "minute": 3}]
    with caplog.at_level(logging.WARNING, logger="agentledger.ingest.sync"):
        report = sync_collector(ListCollector(rows), Pipeline(wh), wh, project_id="p")
    assert report.ok and report.malformed == 1 and report.malformed_ids == ["broken-7"] and report.calls == 4
    assert "broken-7" in caplog.text
    assert wh.sql("SELECT count(*) AS n FROM calls")["n"][0] == 4


def test_a_failure_keeps_the_last_good_cursor_and_records_a_redacted_error(wh) -> None:
    boom = TransientError("Helicone down; request had Authorization: Bearer sk-abcdefgh12345678")
    with pytest.raises(TransientError):
        sync_collector(ListCollector(records(6), fail_with=boom), Pipeline(wh), wh, project_id="p")
    cursor = wh.get_cursor(cursor_key("memory:test", "p"))
    assert cursor.value == (T0 + timedelta(minutes=1)).isoformat()  # page 1 written, page 2 never came
    assert "TransientError" in cursor.last_error and "sk-abcdefgh12345678" not in cursor.last_error
    report = sync_collector(
        ListCollector(records(6), fail_with=boom), Pipeline(wh), wh, project_id="p", raise_errors=False
    )
    assert report.error and "Helicone down" in report.error


def test_bugs_propagate_even_when_errors_are_reported(wh) -> None:
    with pytest.raises(ZeroDivisionError):
        sync_collector(
            ListCollector(records(6), fail_with=ZeroDivisionError("bug")),
            Pipeline(wh),
            wh,
            project_id="p",
            raise_errors=False,
        )


def test_a_backfill_below_the_cursor_does_not_move_it_back(wh) -> None:
    sync_collector(ListCollector(records(6)), Pipeline(wh), wh, project_id="p")
    newest = wh.get_cursor(cursor_key("memory:test", "p")).value

    class Backfill(ListCollector):
        def fetch(self, cursor, *, since=None, until=None):
            yield Page(self.records[:2], _ts(self.records[1]).isoformat())

    sync_collector(
        Backfill(records(6)), Pipeline(wh), wh, project_id="p", since=T0, until=T0 + timedelta(minutes=2)
    )
    assert wh.get_cursor(cursor_key("memory:test", "p")).value == newest


def test_sync_all_runs_every_enabled_source_and_reports_failures(wh) -> None:
    config = parse_config(
        {
            "sources": [
                {"type": "helicone", "name": "good"},
                {"type": "langfuse", "name": "no-keys"},
                {"type": "helicone", "name": "off", "enabled": False},
                {"type": "helicone", "name": "down", "project_id": "other"},
            ]
        }
    )
    built: list[str] = []

    def build(source: Any, env: Any = None) -> ListCollector:
        built.append(source.label)
        if source.label == "no-keys":
            raise ConfigError("source 'no-keys': environment variable LANGFUSE_PUBLIC_KEY is not set")
        fail = TransientError("503 from Helicone") if source.label == "down" else None
        return ListCollector(records(4), fail_with=fail, key=f"memory:{source.label}")

    reports = sync_all(config, Pipeline(wh), wh, project_id="main", build=build)
    assert built == ["good", "no-keys", "down"]
    assert [(r.source_key, r.ok) for r in reports] == [
        ("project:main memory:good", True),
        ("project:main no-keys", False),
        ("project:other memory:down", False),
    ]
    assert "LANGFUSE_PUBLIC_KEY" in reports[1].error and "503" in reports[2].error
    projects = wh.sql("SELECT project_id, count(*) AS n FROM calls GROUP BY 1 ORDER BY 1").to_dicts()
    assert projects == [{"project_id": "main", "n": 4}, {"project_id": "other", "n": 2}]


def test_a_source_that_cannot_be_built_is_listed_with_its_error_until_it_runs(wh) -> None:
    config = parse_config({"sources": [{"type": "helicone"}, {"type": "langfuse", "name": "lf"}]})
    keys: dict[str, str] = {}

    def build(source: Any, env: Any = None) -> ListCollector:
        if source.label not in keys:
            raise ConfigError(f"source {source.label!r}: environment variable HELICONE_API_KEY is not set")
        return ListCollector(records(2), key=f"memory:{source.label} key {keys[source.label]}")

    sync_all(config, Pipeline(wh), wh, build=build)
    listed = list_sources(wh).select("source_key", "value", "last_error", "last_run_at").to_dicts()
    assert [(r["source_key"], r["value"]) for r in listed] == [("helicone", None), ("lf", None)]
    assert all("HELICONE_API_KEY" in r["last_error"] and r["last_run_at"] is not None for r in listed)

    keys["helicone"] = "1a2b3c4d"  # the variable is set now: the source runs under its own cursor
    sync_all(config, Pipeline(wh), wh, build=build)
    listed = list_sources(wh).select("source_key", "last_error").to_dicts()
    assert [r["source_key"] for r in listed] == ["lf", "memory:helicone key 1a2b3c4d"]
    assert listed[1]["last_error"] is None


def test_one_source_read_into_two_projects_keeps_a_cursor_for_each(wh) -> None:
    first = ListCollector(records(4))
    sync_collector(first, Pipeline(wh), wh, project_id="team-a")
    second = ListCollector(records(4))
    sync_collector(second, Pipeline(wh), wh, project_id="team-b")
    assert first.seen_cursor is None and second.seen_cursor is None  # team-b reads its whole history too
    default = ListCollector(records(4))
    sync_collector(default, Pipeline(wh), wh, project_id="default")
    assert default.seen_cursor is None
    again = ListCollector(records(4))
    sync_collector(again, Pipeline(wh), wh, project_id="team-b")
    assert again.seen_cursor == (T0 + timedelta(minutes=3)).isoformat()
    counts = wh.sql("SELECT project_id, count(*) AS n FROM calls GROUP BY 1 ORDER BY 1").rows()
    assert counts == [("default", 4), ("team-a", 4), ("team-b", 4)]
    assert list_sources(wh, "team-a")["source_key"].to_list() == ["project:team-a memory:test"]
    assert list_sources(wh)["source_key"].to_list() == ["memory:test"]  # the default project's own key
    assert list_sources(wh, "nobody").is_empty()


def test_ordinary_cursor_keys_keep_their_stored_format() -> None:
    assert (
        cursor_key("langfuse:https://cloud.langfuse.com", "default") == "langfuse:https://cloud.langfuse.com"
    )
    assert cursor_key("memory:test", "team-a.v2_x") == "project:team-a.v2_x memory:test"


# A source's own key never starts with "project:" (it starts with the collector's name).
@given(
    project=st.text(max_size=20),
    source_key=st.text(min_size=1, max_size=20).filter(lambda k: not k.startswith("project:")),
)
def test_any_project_id_round_trips_through_its_cursor_key(project: str, source_key: str) -> None:
    assert cursor_project(cursor_key(source_key, project)) == project


def test_project_ids_with_spaces_keep_their_own_cursors(wh) -> None:
    # Read one way, "project:a b x" is project "a b"'s cursor of x; read another, project "a"'s of "b x".
    assert cursor_key("x", "a b") != cursor_key("b x", "a")
    sync_collector(ListCollector(records(4)), Pipeline(wh), wh, project_id="team a")
    sync_collector(ListCollector(records(2), key="a memory:test"), Pipeline(wh), wh, project_id="team")
    assert list_sources(wh, "team a")["value"].to_list() == [(T0 + timedelta(minutes=3)).isoformat()]
    assert list_sources(wh, "team")["value"].to_list() == [(T0 + timedelta(minutes=1)).isoformat()]
    again = ListCollector(records(4))
    sync_collector(again, Pipeline(wh), wh, project_id="team a")
    assert again.seen_cursor == (T0 + timedelta(minutes=3)).isoformat()


def test_two_accounts_on_one_host_keep_a_cursor_each_and_an_earlier_cursor_is_taken_over(wh) -> None:
    host = "https://cloud.langfuse.com"
    team_a = LangfuseCollector(host, "pk-lf-team-a", "sk-lf-secret-a")
    team_b = LangfuseCollector(host, "pk-lf-team-b", "sk-lf-secret-b")
    assert team_a.source_key != team_b.source_key
    assert team_a.source_key.startswith(f"langfuse:{host} key ") and "secret" not in team_a.source_key
    assert "sk-helicone-1" not in HeliconeCollector("sk-helicone-1").source_key
    assert HeliconeCollector("sk-helicone-1").source_key != HeliconeCollector("sk-helicone-2").source_key

    # A cursor stored under the former name (the host alone) is where the next run starts, once.
    earlier = ListCollector(records(4), key="memory:host")
    sync_collector(earlier, Pipeline(wh), wh, project_id="p")
    renamed = ListCollector(records(6), key="memory:host key 1a2b3c4d")
    renamed.previous_source_key = "memory:host"
    sync_collector(renamed, Pipeline(wh), wh, project_id="p")
    assert renamed.seen_cursor == (T0 + timedelta(minutes=3)).isoformat()
    again = ListCollector(records(6), key="memory:host key 1a2b3c4d")
    sync_collector(again, Pipeline(wh), wh, project_id="p")
    assert again.seen_cursor == (T0 + timedelta(minutes=5)).isoformat()


def test_an_earlier_cursor_is_taken_over_by_the_first_account_only(wh) -> None:
    # Before accounts were told apart, one cursor named after the host alone.
    sync_collector(ListCollector(records(4), key="memory:host"), Pipeline(wh), wh, project_id="p")
    first = ListCollector(records(6), key="memory:host key aaaaaaaa")
    first.previous_source_key = "memory:host"
    sync_collector(first, Pipeline(wh), wh, project_id="p")
    assert first.seen_cursor == (T0 + timedelta(minutes=3)).isoformat()
    # An account added on that host later reads its own history, not from where the other account stood.
    added = ListCollector(records(6), key="memory:host key bbbbbbbb")
    added.previous_source_key = "memory:host"
    sync_collector(added, Pipeline(wh), wh, project_id="p")
    assert added.seen_cursor is None
    again = ListCollector(records(6), key="memory:host key aaaaaaaa")
    again.previous_source_key = "memory:host"
    sync_collector(again, Pipeline(wh), wh, project_id="p")
    assert again.seen_cursor == (T0 + timedelta(minutes=5)).isoformat()
