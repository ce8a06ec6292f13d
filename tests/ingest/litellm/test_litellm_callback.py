"""The LiteLLM callback with the REAL litellm package, posting to a REAL agentledger receiver (uvicorn, in a thread)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no network

import litellm
import pytest
import uvicorn
from conftest import REPO, Ledger
from fastapi import FastAPI
from pydantic import SecretStr

from agentledger.core.settings import Settings
from agentledger.ingest.litellm_callback import AgentLedgerLogger, LoggerStats
from agentledger.ingest.litellm_receiver import build_litellm_router

KEY = "al-callback-key-0123456789"
MESSAGES = [{"role": "user", "content": "Say hi"}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class ThreadedServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        if not _wait_for(lambda: self._server.started, 20):
            raise RuntimeError("uvicorn did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)


@pytest.fixture
def agentledger_server(ledger: Ledger) -> Iterator[ThreadedServer]:
    app = FastAPI()
    settings = Settings(_env_file=None, api_keys=[SecretStr(KEY)])
    app.include_router(build_litellm_router(ledger.pipeline.ingest, settings))
    with ThreadedServer(app) as server:
        yield server


@pytest.fixture
def register() -> Iterator[Callable[[AgentLedgerLogger], AgentLedgerLogger]]:
    """Register loggers as ``litellm.callbacks`` and take them out of every litellm list afterwards."""
    registered: list[AgentLedgerLogger] = []

    def add(logger: AgentLedgerLogger) -> AgentLedgerLogger:
        registered.append(logger)
        litellm.callbacks = list(registered)
        return logger

    yield add
    litellm.callbacks = []
    for logger in registered:
        logger.close(timeout=0)  # nothing left for the interpreter's exit flush to wait on
        litellm.logging_callback_manager.remove_callback_from_all_lists(logger)
        if logger in litellm.input_callback:
            litellm.input_callback.remove(logger)


def test_completion_ends_up_in_the_ledger(
    agentledger_server: ThreadedServer, register: Any, ledger: Ledger
) -> None:
    logger = register(AgentLedgerLogger(agentledger_server.url, KEY, flush_interval=0.05))
    response = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hi", max_tokens=32,
                                  metadata={"tags": ["agent:greeter", "feature:onboarding"]})  # fmt: skip
    assert _wait_for(lambda: logger.stats().sent == 1), logger.stats()
    [call] = ledger.calls()
    assert call["source"] == "litellm"
    assert call["span_id"] == response.id
    assert call["model"] == "gpt-4o-mini" and call["provider"] == "openai"
    assert call["operation"] == "chat" and call["status"] == "ok" and call["finish_reason"] == "stop"
    assert call["input_tokens"] == response.usage.prompt_tokens
    assert call["output_tokens"] == response.usage.completion_tokens
    assert call["max_tokens"] == 32
    assert call["agent_name"] == "greeter" and call["feature"] == "onboarding"
    reported = response._hidden_params["response_cost"]
    assert reported > 0 and call["cost_reported_usd"] == pytest.approx(reported)
    assert call["cost_usd"] == pytest.approx(reported, rel=0.05)  # our own price agrees with LiteLLM's
    assert call["prompt_hash"] is not None
    assert logger.stats().dropped == 0


def test_calls_of_several_providers_are_stored_under_the_canonical_provider(
    agentledger_server: ThreadedServer, register: Any, ledger: Ledger
) -> None:
    """The live callback: LiteLLM's own custom_llm_provider (vertex_ai, bedrock, xai …) is stored as the OTel
    GenAI value the other sources write for the same provider."""
    logger = register(AgentLedgerLogger(agentledger_server.url, KEY, flush_interval=0.05))
    expected = {
        "vertex_ai/gemini-2.5-pro": "gcp.vertex_ai",
        "gemini/gemini-2.5-flash": "gcp.gemini",
        "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0": "aws.bedrock",
        "xai/grok-3": "x_ai",
        "mistral/mistral-large-latest": "mistral_ai",
        "azure/my-gpt-4o-deployment": "azure.ai.openai",
    }
    for model in expected:
        litellm.completion(model=model, messages=MESSAGES, mock_response="hi")
    assert _wait_for(lambda: logger.stats().sent == len(expected)), logger.stats()
    stored = {call["model"]: call["provider"] for call in ledger.calls()}
    assert sorted(stored.values()) == sorted(expected.values()), stored


def test_async_success_and_failure_events(
    agentledger_server: ThreadedServer, register: Any, ledger: Ledger
) -> None:
    logger = register(AgentLedgerLogger(agentledger_server.url, KEY, flush_interval=0.05))

    async def calls() -> None:
        await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hello",
                                  metadata={"trace_id": "task-42"})  # fmt: skip
        with pytest.raises(litellm.exceptions.InternalServerError):
            await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response=Exception("upstream down"),
                                      metadata={"trace_id": "task-42"})  # fmt: skip
        await asyncio.sleep(0.2)

    asyncio.run(calls())
    assert _wait_for(lambda: logger.stats().sent == 2), logger.stats()
    calls_by_status = {c["status"]: c for c in ledger.calls()}
    assert set(calls_by_status) == {"ok", "error"}
    assert calls_by_status["error"]["error_type"] == "InternalServerError"
    assert calls_by_status["ok"]["trace_id"] == calls_by_status["error"]["trace_id"] == "task-42"


def test_agentledger_down_never_slows_or_breaks_llm_calls(register: Any) -> None:
    litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="warm-up")  # imports, cost map
    logger = register(
        AgentLedgerLogger(f"http://127.0.0.1:{_free_port()}", KEY, flush_interval=0.01, timeout=1.0)
    )
    durations = []
    for _ in range(20):
        started = time.perf_counter()
        response = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hi")
        durations.append(time.perf_counter() - started)
        assert response.choices[0].message.content == "hi"
    assert max(durations) < 1.0, durations
    # LiteLLM runs sync success handlers on a thread pool, reading the callback list when they run, so the
    # warm-up call may reach the logger too: at least the 20 calls, and all of them kept.
    assert _wait_for(lambda: logger.stats().queued >= 20 and logger.stats().failed_posts >= 1), logger.stats()
    started = time.perf_counter()
    assert logger.flush(timeout=0.3) is False  # nothing to deliver to; bounded wait
    assert time.perf_counter() - started < 1.5
    stats = logger.stats()
    assert stats.sent == 0 and stats.dropped == 0 and stats.queued >= 20  # kept for when agentledger is back


def test_queue_is_bounded_and_drops_the_oldest() -> None:
    logger = AgentLedgerLogger(
        f"http://127.0.0.1:{_free_port()}", max_queue=5, batch_size=1000, flush_interval=60
    )
    for i in range(20):
        logger.log_success_event({"standard_logging_object": {"id": f"p-{i}"}}, None, None, None)
    stats = logger.stats()
    assert (stats.queued, stats.dropped) == (5, 15)
    assert list(logger._queue) == [f'{{"id":"p-{i}"}}'.encode() for i in range(15, 20)]
    assert logger.close(timeout=0) is False
    logger.log_success_event({"standard_logging_object": {"id": "late"}}, None, None, None)
    assert logger.stats() == LoggerStats(queued=0, sent=0, dropped=21, failed_posts=0)


def test_hooks_never_raise() -> None:
    logger = AgentLedgerLogger(f"http://127.0.0.1:{_free_port()}", batch_size=1000, flush_interval=60)
    circular: dict[str, Any] = {"id": "loop"}
    circular["self"] = circular
    logger.log_success_event({"standard_logging_object": circular}, None, None, None)
    logger.log_failure_event({}, None, None, None)  # no payload: nothing to send
    asyncio.run(logger.async_log_success_event({"standard_logging_object": None}, None, None, None))
    stats = logger.stats()
    assert (stats.queued, stats.dropped) == (0, 1)
    logger.close(timeout=0)


def test_refused_key_is_logged_without_the_key(
    agentledger_server: ThreadedServer, caplog: pytest.LogCaptureFixture, ledger: Ledger
) -> None:
    wrong_key = "al-wrong-key-abcdefghijkl"
    logger = AgentLedgerLogger(agentledger_server.url, wrong_key, flush_interval=0.05)
    with caplog.at_level(logging.DEBUG, logger="agentledger.ingest.litellm_callback"):
        logger.log_success_event({"standard_logging_object": {"id": "x"}}, None, None, None)
        assert logger.flush(timeout=10)
    assert logger.stats().dropped == 1 and ledger.calls() == []
    logger.close(timeout=0)
    assert any("HTTP 401" in r.getMessage() for r in caplog.records)
    assert all(wrong_key not in r.getMessage() and KEY not in r.getMessage() for r in caplog.records)


def test_env_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLEDGER_URL", "http://ledger.internal:4318/")
    monkeypatch.setenv("AGENTLEDGER_API_KEY", KEY)
    logger = AgentLedgerLogger()
    assert logger.endpoint == "http://ledger.internal:4318/api/ingest/litellm"
    assert logger._headers["Authorization"] == f"Bearer {KEY}"


_EXITING_PROGRAM = textwrap.dedent(
    """
    import os, litellm
    from agentledger.ingest.litellm_callback import AgentLedgerLogger, LoggerStats
    litellm.callbacks = [AgentLedgerLogger(flush_interval=30)]  # only the exit flush can send it in time
    litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "bye"}], mock_response="bye")
    import time; time.sleep(0.5)  # let LiteLLM's logging thread hand the event over
    """
)


@pytest.mark.slow  # a fresh interpreter importing litellm
def test_queued_payloads_are_flushed_at_exit(agentledger_server: ThreadedServer, ledger: Ledger) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), AGENTLEDGER_URL=agentledger_server.url, AGENTLEDGER_API_KEY=KEY,
               LITELLM_LOCAL_MODEL_COST_MAP="True")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _EXITING_PROGRAM],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [c["model"] for c in ledger.calls()] == ["gpt-4o-mini"]
