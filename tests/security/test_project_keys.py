"""Projects and API keys end to end: a key sees and writes only its project, on every router; keys are
stored hashed, managed from the CLI, and a revoked key is refused at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from security_helpers import JSON, chat_span, fresh_span_id, fresh_trace_id, otlp_json, real_app
from typer.testing import CliRunner

from agentledger.app.cli import app as cli_app
from agentledger.core.errors import ConfigError
from agentledger.core.security import hash_key
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse
from agentledger.warehouse.keys import KeyStore

ENV_KEY = "env-key-for-default"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def litellm_payload(record_id: str) -> bytes:
    return json.dumps(
        [
            {
                "id": record_id,
                "call_type": "acompletion",
                "model": "gpt-4o-mini",
                "custom_llm_provider": "openai",
                "startTime": 1_763_000_000.0,
                "endTime": 1_763_000_002.0,
                "prompt_tokens": 50,
                "completion_tokens": 5,
                "total_tokens": 55,
                "status": "success",
            }
        ]
    ).encode()


class World:
    """Three projects with data written through every ingest path by their own keys."""

    def __init__(self, client: TestClient, wh: Warehouse) -> None:
        self.client, self.wh = client, wh
        store = KeyStore(wh)
        self.keys = {"team-a": store.create("team-a", "ci")[1], "team-b": store.create("team-b")[1]}
        self.keys["default"] = ENV_KEY
        self.traces: dict[str, list[str]] = {project: [] for project in self.keys}
        for project, key in self.keys.items():
            for path in ("/v1/traces", "/api/public/otel/v1/traces"):
                trace = fresh_trace_id()
                body = otlp_json([chat_span(trace, fresh_span_id())])
                assert client.post(path, content=body, headers={**JSON, **bearer(key)}).status_code == 200
                self.traces[project].append(trace)
            response = client.post(
                "/api/ingest/litellm",
                content=litellm_payload(f"{project}-1"),
                headers={**JSON, **bearer(key)},
            )
            assert response.status_code == 200 and response.json()["accepted"] == 1


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with real_app(tmp_path_factory.mktemp("keys"), api_keys=ENV_KEY) as (client, wh):
        yield World(client, wh)


def test_rows_carry_the_project_of_the_key_that_wrote_them(world: World) -> None:
    frame = world.wh.sql("SELECT project_id, trace_id, source FROM calls ORDER BY project_id, source")
    for project, traces in world.traces.items():
        mine = frame.filter(frame["project_id"] == project)
        assert sorted(mine.filter(mine["source"] == "otlp")["trace_id"].to_list()) == sorted(traces)
        assert mine.filter(mine["source"] == "litellm").height == 1
    assert set(frame["project_id"]) == {"team-a", "team-b", "default"}


@pytest.mark.parametrize("project", ["team-a", "team-b", "default"])
def test_every_query_router_answers_for_the_key_s_project_only(world: World, project: str) -> None:
    client, key = world.client, world.keys[project]
    others = [t for p, traces in world.traces.items() if p != project for t in traces]
    metrics = client.get("/api/metrics", params={"since": "2025-01-01"}, headers=bearer(key)).json()
    assert metrics["calls"] == 3  # two OTLP calls and one LiteLLM call: its own
    top = client.get("/api/traces/top", params={"since": "2025-01-01", "limit": 50}, headers=bearer(key))
    assert {row["trace_id"] for row in top.json()} >= set(world.traces[project])
    assert not {row["trace_id"] for row in top.json()} & set(others)
    assert client.get(f"/api/traces/{world.traces[project][0]}", headers=bearer(key)).status_code == 200
    assert client.get(f"/api/traces/{others[0]}", headers=bearer(key)).status_code == 404
    breakdown = client.get(
        "/api/breakdown", params={"since": "2025-01-01", "dim": "model"}, headers=bearer(key)
    )
    assert sum(row["calls"] for row in breakdown.json()["rows"]) == 3
    recommendations = client.get("/api/recommendations", params={"since": "2025-01-01"}, headers=bearer(key))
    assert recommendations.status_code == 200
    whatif = client.post("/api/whatif", json={"since": "2025-01-01"}, headers=bearer(key))
    assert whatif.status_code == 200 and whatif.json()["calls"] == 3


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/traces"),
        ("post", "/api/public/otel/v1/traces"),
        ("post", "/api/ingest/litellm"),
        ("get", "/api/metrics"),
        ("get", "/api/breakdown"),
        ("get", "/api/traces/top"),
        ("get", "/api/recommendations"),
        ("post", "/api/whatif"),
    ],
)
@pytest.mark.parametrize("headers", [{}, bearer("al_team-a_notarealkeyatall000000000000000"), bearer("")])
def test_missing_or_unknown_keys_are_refused_everywhere(
    world: World, method: str, path: str, headers
) -> None:
    response = world.client.request(method, path, content=b"{}", headers={**JSON, **headers})
    assert response.status_code == 401
    assert "bearer" in response.headers["www-authenticate"].lower()
    assert world.client.get("/healthz").status_code == 200  # liveness stays open


def test_keys_are_stored_as_hashes_only(world: World) -> None:
    rows = world.wh.sql("SELECT * FROM api_keys")
    dump = json.dumps(rows.to_dicts(), default=str)
    for project in ("team-a", "team-b"):
        key = world.keys[project]
        assert key not in dump and key[len(f"al_{project}_") :] not in dump
        assert hash_key(key) in rows["key_hash"].to_list()


def test_a_revoked_key_is_refused_at_once(tmp_path: Path) -> None:
    with real_app(tmp_path) as (client, wh):
        store = KeyStore(wh)
        row, key = store.create("team-c")
        body = otlp_json([chat_span(fresh_trace_id(), fresh_span_id())])
        assert client.post("/v1/traces", content=body, headers={**JSON, **bearer(key)}).status_code == 200
        assert client.get("/api/metrics", headers=bearer(key)).status_code == 200
        store.revoke(row.key_id)
        assert client.get("/api/metrics", headers=bearer(key)).status_code == 401
        assert client.post("/v1/traces", content=body, headers={**JSON, **bearer(key)}).status_code == 401
        assert client.get("/api/metrics").status_code == 401  # revoking the only key does not open the API


@pytest.mark.parametrize("url", ["duckdb", "chdb"])
def test_key_store_on_both_engines(tmp_path: Path, url: str) -> None:
    wh = connect(f"duckdb:///{tmp_path / 'k.duckdb'}" if url == "duckdb" else f"chdb:///{tmp_path / 'ch'}")
    try:
        store = KeyStore(wh)
        assert not store.any_keys()
        row, key = store.create("team-a", "ci")
        other, _ = store.create("team-b")
        assert store.project_for_hash(hash_key(key)) == "team-a" and store.any_keys()
        revoked = store.revoke(row.key_id)
        assert revoked.revoked_at is not None and store.revoke(row.key_id).revoked_at == revoked.revoked_at
        assert store.project_for_hash(hash_key(key)) is None
        assert [(k.key_id, k.active) for k in store.list()] == [(row.key_id, False), (other.key_id, True)]
        assert [k.key_id for k in store.list("team-b")] == [other.key_id]
        with pytest.raises(ConfigError, match="no API key with id"):
            store.revoke("nope")
    finally:
        wh.close()


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    runner = CliRunner()
    created = runner.invoke(
        cli_app, ["keys", "create", "--project", "team-a", "--name", "ci", "--warehouse", url]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("al_team-a_") and "\n" not in key  # stdout: the key alone, once
    listed = runner.invoke(cli_app, ["keys", "list", "--warehouse", url], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and key not in listed.output and key[:16] in listed.output
    wh = connect(url)
    try:
        key_id = KeyStore(wh).list()[0].key_id
    finally:
        wh.close()
    assert key_id in listed.output and "team-a" in listed.output and "ci" in listed.output
    revoked = runner.invoke(cli_app, ["keys", "revoke", key_id, "--warehouse", url])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    bad = runner.invoke(cli_app, ["keys", "create", "--project", "no spaces", "--warehouse", url])
    assert bad.exit_code == 1 and "not a valid project id" in bad.output


def test_serve_warns_when_it_listens_beyond_loopback_without_any_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: started.append(host))
    monkeypatch.delenv("AGENTLEDGER_API_KEYS", raising=False)
    url = f"duckdb:///{tmp_path / 'serve.duckdb'}"
    runner = CliRunner()
    open_api = runner.invoke(
        cli_app, ["serve", "--host", "0.0.0.0", "--warehouse", url], env={"COLUMNS": "300"}
    )
    assert open_api.exit_code == 0 and "no API key exists" in open_api.output
    wh = connect(url)
    try:
        KeyStore(wh).create("team-a")
    finally:
        wh.close()
    closed = runner.invoke(
        cli_app, ["serve", "--host", "0.0.0.0", "--warehouse", url], env={"COLUMNS": "300"}
    )
    local = runner.invoke(cli_app, ["serve", "--warehouse", url], env={"COLUMNS": "300"})
    assert "Warning" not in closed.output and "Warning" not in local.output
    assert started == ["0.0.0.0", "0.0.0.0", "127.0.0.1"]


@pytest.mark.parametrize("project", ["team-a", "team-b", "default"])
def test_alerts_and_reports_answer_for_the_key_s_project_only(world: World, project: str) -> None:
    client, key = world.client, world.keys[project]
    # Every project's three calls are in ISO week 2025-W46: each key's report holds its own three only.
    response = client.get("/api/reports/weekly", params={"week": "2025-W46"}, headers=bearer(key))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["project_id"] == project
    assert report["totals"]["calls"] == 3
    # Alert state and history are the key's project's (none fired here), and the rules file configures the
    # server's own project: other projects' keys may neither read nor replace it.
    assert client.get("/api/alerts/state", headers=bearer(key)).json() == []
    assert client.get("/api/alerts/history", headers=bearer(key)).json() == []
    rules = client.get("/api/alerts/rules", headers=bearer(key))
    replaced = client.put("/api/alerts/rules", json={"rules": []}, headers=bearer(key))
    if project == "default":
        assert rules.status_code == 200 and replaced.status_code == 200
    else:
        assert rules.status_code == 403 and replaced.status_code == 403
        assert "default" in rules.json()["detail"]


@pytest.mark.parametrize("project", ["team-a", "team-b", "default"])
def test_the_focus_export_holds_the_key_s_project_only(world: World, project: str) -> None:
    import csv
    import io

    client, key = world.client, world.keys[project]
    response = client.get("/api/export/focus", params={"since": "2025-01-01"}, headers=bearer(key))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and {row["BillingAccountId"] for row in rows} == {project}
    covered = int(response.headers["x-agentledger-calls"])
    left_out = int(response.headers["x-agentledger-unpriced-excluded"])
    assert covered + left_out == 3  # its own three calls, however many are priced
    metrics = client.get("/api/metrics", params={"since": "2025-01-01"}, headers=bearer(key)).json()
    assert sum(float(row["BilledCost"]) for row in rows) == pytest.approx(metrics["total_cost_usd"], rel=1e-9)
    assert client.get("/api/export/focus").status_code == 401


def test_a_key_revoked_by_another_process_is_refused_at_once_on_a_shared_clickhouse(tmp_path: Path) -> None:
    """On a ClickHouse server the API and `agentledger keys revoke` run in different processes: the server
    never hears of the revocation, and must still refuse the key at the very next request."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from agentledger.app.auth import build_authenticator, key_cache_seconds
    from agentledger.core.security import Unauthorized
    from agentledger.core.settings import Settings

    wh = connect(f"chdb:///{tmp_path / 'ch'}")  # the ClickHouse engine and SQL, in this process
    try:
        row, key = KeyStore(wh).create("team-a")
        settings = Settings(_env_file=None)
        assert key_cache_seconds(settings, wh) > 0  # chDB: one process, whose own changes drop the cache
        wh.url = "clickhouse://agentledger:***@ledger.internal:8123/agentledger"  # a server others share
        auth = build_authenticator(settings, wh)
        assert [auth.project_for(key) for _ in range(3)] == ["team-a"] * 3
        other_process = KeyStore(wh)
        other_process._put(replace(row, revoked_at=datetime.now(UTC)))  # its write, not this process's
        with pytest.raises(Unauthorized, match="revoked"):
            auth.project_for(key)
    finally:
        wh.close()


def test_duckdb_lookups_are_cached_and_this_process_s_revocation_still_applies_at_once(
    tmp_path: Path,
) -> None:
    from agentledger.app.auth import build_authenticator
    from agentledger.core.security import Unauthorized
    from agentledger.core.settings import Settings

    wh = connect(f"duckdb:///{tmp_path / 'k.duckdb'}")
    try:
        store = KeyStore(wh)
        row, key = store.create("team-a")
        auth = build_authenticator(Settings(_env_file=None), wh)
        lookups = []
        real = auth._lookup
        auth._lookup = lambda h: lookups.append(h) or real(h)
        assert [auth.project_for(key) for _ in range(5)] == ["team-a"] * 5 and len(lookups) == 1
        store.revoke(row.key_id)
        with pytest.raises(Unauthorized):
            auth.project_for(key)
    finally:
        wh.close()


def test_every_route_needs_a_key_and_answers_for_the_key_s_project_only(world: World) -> None:
    """Every operation of the app's OpenAPI schema (so a route added later is covered too): without a key it
    is refused; with project A's key, nothing of another project's traces appears in any answer."""
    client = world.client
    operations = [
        (method, path)
        for path, ops in client.app.openapi()["paths"].items()
        for method in ops
        if path != "/healthz"
    ]
    # The ingest, query, recommendation and alert routers are all there.
    assert len(operations) >= 20, operations
    for method, path in operations:
        response = client.request(
            method, path.replace("{trace_id}", world.traces["team-a"][0]), content=b"{}"
        )
        assert response.status_code == 401, (method, path, response.status_code)
    params = {"since": "2025-01-01", "week": "2025-W46", "limit": 1000}
    for project, key in world.keys.items():
        others = [t for p, traces in world.traces.items() if p != project for t in traces]
        for method, path in operations:
            if method != "get":
                continue
            if "{trace_id}" in path:
                for trace in others:
                    refused = client.get(path.replace("{trace_id}", trace), headers=bearer(key))
                    assert refused.status_code == 404, (project, path, refused.status_code)
                continue
            response = client.get(path, params=params, headers=bearer(key))
            assert response.status_code in (200, 403), (
                project,
                path,
                response.status_code,
                response.text[:300],
            )
            leaked = [trace for trace in others if trace in response.text]
            assert not leaked, (project, path, leaked)
        # The counts each analytics route reports are its own project's three calls.
        sessions = client.get("/api/sessions/top", params=params, headers=bearer(key)).json()
        series = client.get("/api/timeseries", params=params, headers=bearer(key)).json()["rows"]
        audit = client.get("/api/audit", params=params, headers=bearer(key)).json()["by_model"]
        assert sum(row["calls"] for row in series) == 3 and sum(row["calls"] for row in audit) == 3
        assert sum(row["calls"] for row in sessions) <= 3


def test_up_warns_too_when_its_api_listens_beyond_loopback_without_any_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    ran: list[str] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **kw: ran.append(self.config.host))
    monkeypatch.delenv("AGENTLEDGER_API_KEYS", raising=False)
    monkeypatch.setenv("AGENTLEDGER_HOST", "0.0.0.0")
    url = f"duckdb:///{tmp_path / 'up.duckdb'}"
    result = CliRunner().invoke(
        cli_app, ["up", "--no-ui", "--no-demo", "--warehouse", url], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert "no API key exists" in result.output and ran == ["0.0.0.0"]


@pytest.mark.parametrize(
    "header",
    ["Authorization=Bearer%20{key}", "Authorization=Bearer {key}", "x-api-key={key}"],
)
def test_the_otel_sdk_sends_the_key_from_otel_exporter_otlp_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    """The standard way to configure an OTLP exporter (OTEL_EXPORTER_OTLP_HEADERS, read by the real OTel SDK
    exporter over real HTTP) authenticates, and the spans land in the key's project."""
    import socket
    import threading
    import time

    import uvicorn
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentledger.app.api import create_app
    from agentledger.core.settings import Settings

    settings = Settings(
        _env_file=None, warehouse=f"duckdb:///{tmp_path / 'otel.duckdb'}", config_file=tmp_path / "a.yaml"
    )
    wh = connect(settings.warehouse)
    _, key = KeyStore(wh).create("team.otel-1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, wh), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 2,
        }
        with provider.get_tracer("t").start_as_current_span("chat gpt-4o", attributes=attributes):
            pass
        spans = memory.get_finished_spans()
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{port}/v1/traces")
        assert OTLPSpanExporter(timeout=10).export(spans).name == "FAILURE"  # no key: 401
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", header.format(key=key))
        assert OTLPSpanExporter(timeout=10).export(spans).name == "SUCCESS"
        stored = wh.sql("SELECT project_id, count(*) AS n FROM calls GROUP BY project_id").to_dicts()
        assert stored == [{"project_id": "team.otel-1", "n": 1}]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        wh.close()


def test_keys_are_managed_through_the_server_that_holds_a_duckdb_ledger(
    tmp_path: Path, server_factory
) -> None:
    """A DuckDB file has one writing process: while `agentledger serve` holds it, `agentledger keys` asks the
    server (through the control file it publishes beside the ledger), and a revoked key is refused at once."""
    import httpx

    ledger = tmp_path / "held.duckdb"
    url = f"duckdb:///{ledger}"
    server = server_factory(url)
    control = Path(f"{ledger}.server.json")
    assert control.is_file() and control.stat().st_mode & 0o777 == 0o600  # the owner's alone
    runner = CliRunner()
    created = runner.invoke(cli_app, ["keys", "create", "--project", "team-a", "--warehouse", url])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("al_team-a_") and "asking it" in " ".join(created.output.split())
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{server.url}/api/metrics", headers=bearer).status_code == 200
    listed = runner.invoke(cli_app, ["keys", "list", "--warehouse", url], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and key[:16] in listed.output and key not in listed.output
    key_id = next(line.split("│")[1].strip() for line in listed.output.splitlines() if "team-a" in line)
    revoked = runner.invoke(cli_app, ["keys", "revoke", key_id, "--warehouse", url])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert httpx.get(f"{server.url}/api/metrics", headers=bearer).status_code == 401  # at once
    unknown = runner.invoke(cli_app, ["keys", "revoke", "no?pe", "--warehouse", url])
    assert unknown.exit_code == 1 and "no API key with id 'no?pe'" in unknown.output
    invalid = runner.invoke(cli_app, ["keys", "create", "--project", "no spaces", "--warehouse", url])
    assert invalid.exit_code == 1 and "not a valid project id" in invalid.output
    # never through a proxy from the environment (it would see the admin token)
    proxied = runner.invoke(
        cli_app,
        ["keys", "list", "--warehouse", url],
        env={"HTTP_PROXY": "http://127.0.0.1:9", "ALL_PROXY": ""},
    )
    assert proxied.exit_code == 0, proxied.output
    # the admin endpoints take the control file's token, not an API key, and are not in the public schema
    assert httpx.get(f"{server.url}/api/admin/keys").status_code == 401
    assert (
        httpx.get(f"{server.url}/api/admin/keys", headers={"X-Agentledger-Admin": "guess"}).status_code == 401
    )
    assert not any("admin" in path for path in httpx.get(f"{server.url}/openapi.json").json()["paths"])
    server.stop()
    assert not control.exists()  # withdrawn on shutdown
    after = runner.invoke(cli_app, ["keys", "list", "--warehouse", url], env={"COLUMNS": "200"})
    assert after.exit_code == 0 and "asking it" not in after.output and key_id in after.output


def test_a_stale_control_file_of_a_killed_server_is_named_not_trusted(tmp_path: Path, server_factory) -> None:
    ledger = tmp_path / "held.duckdb"
    url = f"duckdb:///{ledger}"
    server = server_factory(url)
    server.process.kill()  # SIGKILL: no shutdown, the control file stays
    server.process.wait(10)
    assert Path(f"{ledger}.server.json").is_file()
    listed = CliRunner().invoke(cli_app, ["keys", "list", "--warehouse", url])
    assert listed.exit_code == 0, listed.output  # the file is free again: opened directly


def test_a_ledger_under_home_is_found_by_the_server_and_the_commands(tmp_path: Path, server_factory) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = "duckdb:///~/ledger.duckdb"
    server = server_factory(url, {"HOME": str(home)})
    assert (home / "ledger.duckdb.server.json").is_file()
    created = CliRunner().invoke(
        cli_app, ["keys", "create", "--project", "p", "--warehouse", url], env={"HOME": str(home)}
    )
    assert created.exit_code == 0, created.output
    server.stop()
    metrics = CliRunner().invoke(cli_app, ["metrics", "--warehouse", url], env={"HOME": str(home)})
    assert metrics.exit_code == 0, metrics.output  # the file under ~ exists: not "no ledger at"


def test_the_control_file_is_the_owners_alone_and_replaces_a_link_without_following_it(
    tmp_path: Path,
) -> None:
    from agentledger.app.admin import ControlFile, local_url
    from agentledger.core.settings import Settings

    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched")
    path = tmp_path / "ledger.duckdb.server.json"
    path.symlink_to(target)
    control = ControlFile(path, "http://127.0.0.1:1")
    control.publish()
    assert not path.is_symlink() and path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["token"] == control.token and target.read_text() == "untouched"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    control.withdraw()
    assert not path.exists()
    for host, url in (
        ("::", "http://[::1]:7"),
        ("0.0.0.0", "http://127.0.0.1:7"),
        ("fd00::2", "http://[fd00::2]:7"),
    ):
        assert local_url(Settings(host=host, port=7, _env_file=None)) == url
