"""The metrics of DESIGN.md against a plain-Python recomputation, on a generated ledger sent through the real
OTLP receiver (and, for a source's own task-level signal, the pipeline), on DuckDB and on chDB.

The generator varies what the outcome and context rules look at: agent, workflow/task and task-type spans
at different depths, root status ERROR/OK/UNSET, explicit outcomes on non-root spans, a last call that
failed, error calls inside successful tasks, roots that never arrive, context spans sent after their calls,
sessions given on the root or on the calls (or not at all), unpriced models, cache reads, response-cache
hits known or not, calls a few seconds before midnight. The expectations are derived from the generated
spans alone; only each call's cost is read back from the ledger (pricing is tested elsewhere).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agentledger.analytics.filters import GROUP_BY
from agentledger.app.api import create_app
from agentledger.core.records import Call, SpanContext
from agentledger.core.settings import Settings
from agentledger.warehouse import connect

MODELS = [
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("claude-sonnet-4-20250514", "anthropic"),
    ("acme-private-1", "acme"),  # no price anywhere
]
AGENTS = ("planner", "coder", "support")
WORKFLOWS = ("triage", "summarize")
TASK_TYPES = ("classify", "extract")
BASE = datetime(2025, 6, 2, tzinfo=UTC)  # a Monday
STATUS = {0: "unset", 1: "ok", 2: "error"}


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _value(v: object) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}


def _span(rng, parent, start, status, attrs, **own) -> dict:
    return {
        "id": _hex(rng, 16),
        "parent": parent,
        "start": start,
        "status": status,
        "attrs": attrs,
        "agent": None,
        "task_type": None,
        "workflow": None,
        "session": None,
        "user": None,
        "outcome": None,
        "call": False,
        **own,
    }


def _otlp_traces(rng: random.Random, n: int) -> list[dict]:
    """Traces of spans (dicts with the attributes sent and the context they declare)."""
    traces = []
    for _ in range(n):
        day = rng.randrange(10)
        if rng.random() < 0.25:  # just before midnight: the last call may fall on the next day
            start = BASE + timedelta(days=day + 1, seconds=-rng.randrange(1, 30))
        else:
            start = BASE + timedelta(days=day, seconds=rng.randrange(86_400))
        session = rng.choice([None, *(f"s{i}" for i in range(12))])
        user = rng.choice([None, "u1", "u2", "u3"])
        spans, root = [], None
        kind = rng.choice(["agent", "workflow", "plain", "call"])
        if kind != "call":
            root = _span(rng, None, start, rng.choice([0, 1, 2]), {})
            if kind == "agent":
                root["agent"] = rng.choice(AGENTS)
                root["attrs"] |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": root["agent"]}
            elif kind == "workflow":
                root["workflow"] = rng.choice(WORKFLOWS)
                root["attrs"] |= {
                    "traceloop.span.kind": "workflow",
                    "traceloop.entity.name": root["workflow"],
                }
            if rng.random() < 0.3:
                root["task_type"] = rng.choice(TASK_TYPES)
                root["attrs"]["agentledger.task.type"] = root["task_type"]
            if session and rng.random() < 0.7:
                root["session"] = root["attrs"]["session.id"] = session
            if user and rng.random() < 0.7:
                root["user"] = root["attrs"]["user.id"] = user
            spans.append(root)
        parent = root["id"] if root else None
        if root and rng.random() < 0.5:
            mid = _span(rng, root["id"], start, rng.choice([0, 1]), {})
            what = rng.choice(["agent", "task", "task_type"])
            if what == "agent":
                mid["agent"] = rng.choice(AGENTS)
                mid["attrs"] |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": mid["agent"]}
            elif what == "task":
                mid["workflow"] = rng.choice(WORKFLOWS)
                mid["attrs"] |= {"traceloop.span.kind": "task", "traceloop.entity.name": mid["workflow"]}
            else:
                mid["task_type"] = mid["attrs"]["agentledger.task.type"] = rng.choice(TASK_TYPES)
            spans.append(mid)
            parent = rng.choice([root["id"], mid["id"]])
        for i in range(1 if root is None else rng.randint(1, 5)):
            model, provider = rng.choice(MODELS)
            inp = rng.randint(100, 5000)
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": inp,
                "gen_ai.usage.output_tokens": rng.randint(10, 800),
            }
            if rng.random() < 0.4:
                attrs["gen_ai.usage.cache_read.input_tokens"] = rng.randint(1, inp)
            if rng.random() < 0.5:
                attrs["agentledger.response_cache_hit"] = rng.random() < 0.4
            if rng.random() < 0.6:
                attrs["agentledger.feature"] = rng.choice(["chat-ui", "batch"])
            call_start = start + timedelta(seconds=2 + 5 * i, milliseconds=rng.randrange(1000))
            call = _span(rng, parent, call_start, rng.choices([0, 1, 2], [4, 4, 2])[0], attrs, call=True)
            if rng.random() < 0.15:
                call["agent"] = attrs["gen_ai.agent.name"] = rng.choice(AGENTS)
            if rng.random() < 0.1:
                call["task_type"] = attrs["agentledger.task.type"] = rng.choice(TASK_TYPES)
            if session and (root is None or root["session"] is None) and rng.random() < 0.8:
                call["session"] = attrs["session.id"] = session
            if user and (root is None or root["user"] is None) and rng.random() < 0.8:
                call["user"] = attrs["user.id"] = user
            spans.append(call)
        if rng.random() < 0.25:  # an explicit outcome on a span below the root
            marked = rng.choice([s for s in spans if s is not root])
            marked["outcome"] = marked["attrs"]["agentledger.task.outcome"] = rng.choice(
                ["success", "failure"]
            )
        traces.append(
            {
                "trace_id": _hex(rng, 32),
                "environment": rng.choice(["prod", "staging", None]),
                "spans": spans,
                "root_lost": root is not None and rng.random() < 0.08,  # never sent
                "late_context": rng.random() < 0.3,  # context spans sent after the calls
            }
        )
    return traces


def _requests(traces: list[dict], rng: random.Random) -> list[dict]:
    first, later = [], []
    for trace in traces:
        for span in trace["spans"]:
            if span["parent"] is None and not span["call"] and trace["root_lost"]:
                continue
            (later if trace["late_context"] and not span["call"] else first).append((trace, span))
    bodies = []
    for part in (first, later):
        rng.shuffle(part)
        for i in range(0, len(part), 50):
            by_env: dict = {}
            for trace, span in part[i : i + 50]:
                nanos = int(span["start"].timestamp() * 1_000_000) * 1000
                by_env.setdefault(trace["environment"], []).append(
                    {
                        "traceId": trace["trace_id"],
                        "spanId": span["id"],
                        **({"parentSpanId": span["parent"]} if span["parent"] else {}),
                        "name": "chat" if span["call"] else "step",
                        "kind": 1,
                        "startTimeUnixNano": str(nanos),
                        "endTimeUnixNano": str(nanos + 2_000_000_000),
                        "attributes": [{"key": k, "value": _value(v)} for k, v in span["attrs"].items()],
                        "status": {"code": span["status"]},
                    }
                )
            bodies.append(
                {
                    "resourceSpans": [
                        {
                            "resource": {
                                "attributes": [{"key": "deployment.environment.name", "value": _value(env)}]
                                if env
                                else []
                            },
                            "scopeSpans": [{"scope": {"name": "generated"}, "spans": spans}],
                        }
                        for env, spans in by_env.items()
                    ]
                }
            )
    return bodies


def _expected_otlp(traces: list[dict]) -> list[dict]:
    """Each call with the context and task outcome the rules of DESIGN.md give it, from the spans sent."""
    rows = []
    for trace in traces:
        sent = {
            s["id"]: s
            for s in trace["spans"]
            if not (s["parent"] is None and not s["call"] and trace["root_lost"])
        }
        ordered = sorted(sent.values(), key=lambda s: (s["start"], s["id"]))
        calls = [s for s in trace["spans"] if s["call"]]
        explicit = {s["outcome"] for s in sent.values() if s["outcome"]}
        roots = [s for s in sent.values() if s["parent"] is None]
        last = max(calls, key=lambda s: (s["start"], s["id"]))
        if explicit:
            outcome = "failure" if "failure" in explicit else "success"
        elif len(roots) == 1 and roots[0]["status"] != 0:
            outcome = "failure" if roots[0]["status"] == 2 else "success"
        else:
            outcome = "failure" if last["status"] == 2 else "success"
        for call in calls:
            chain, node = [], call
            while node is not None:
                chain.append(node)
                node = sent.get(node["parent"]) if node["parent"] else None

            def nearest(field, spans=chain):
                return next((s[field] for s in spans if s[field]), None)

            attrs = call["attrs"]
            rows.append(
                {
                    "source": "otlp",
                    "trace_id": trace["trace_id"],
                    "span_id": call["id"],
                    "started_at": call["start"],
                    "agent": nearest("agent"),
                    "task_type": nearest("task_type") or nearest("workflow", chain[1:]) or "chat",
                    "session": nearest("session") or nearest("session", ordered),
                    "user": nearest("user") or nearest("user", ordered),
                    "feature": attrs.get("agentledger.feature"),
                    "model": attrs["gen_ai.response.model"],
                    "provider": attrs["gen_ai.provider.name"],
                    "environment": trace["environment"],
                    "status": STATUS[call["status"]],
                    "input_tokens": attrs["gen_ai.usage.input_tokens"],
                    "output_tokens": attrs["gen_ai.usage.output_tokens"],
                    "cache_read_tokens": attrs.get("gen_ai.usage.cache_read.input_tokens", 0),
                    "response_cache_hit": attrs.get("agentledger.response_cache_hit"),
                    "outcome": outcome,
                }
            )
    return rows


def _source_signal_traces(rng: random.Random, n: int) -> tuple[list[Call], list[SpanContext], list[dict]]:
    """Traces of a source with its own task-level signal, written through the pipeline."""
    calls, spans, rows = [], [], []
    for _ in range(n):
        trace_id, root_id = _hex(rng, 32), _hex(rng, 16)
        start = BASE + timedelta(days=rng.randrange(10), seconds=rng.randrange(86_400))
        agent, session = rng.choice([None, *AGENTS]), rng.choice([None, "s3"])
        root_status = rng.choice(["unset", "ok", "error"])
        signal = rng.choice([None, "success", "failure"])
        explicit = rng.choice([None, None, "success", "failure"])
        spans.append(
            SpanContext(
                source="langfuse",
                trace_id=trace_id,
                span_id=root_id,
                kind="agent",
                started_at=start,
                status=root_status,
                agent_name=agent,
                session_id=session,
                source_outcome=signal,
            )
        )
        if explicit:
            spans.append(
                SpanContext(
                    source="langfuse",
                    trace_id=trace_id,
                    span_id=_hex(rng, 16),
                    parent_span_id=root_id,
                    kind="tool",
                    started_at=start,
                    outcome=explicit,
                )
            )
        mine = []
        for i in range(rng.randint(1, 4)):
            model, provider = rng.choice(MODELS)
            call = Call(
                source="langfuse",
                trace_id=trace_id,
                span_id=_hex(rng, 16),
                parent_span_id=root_id,
                started_at=start + timedelta(seconds=1 + 3 * i),
                provider=provider,
                model=model,
                input_tokens=rng.randint(100, 3000),
                output_tokens=rng.randint(5, 500),
                status=rng.choice(["ok", "error", "unset"]),
                operation="chat",
            )
            calls.append(call)
            mine.append(call)
        last = max(mine, key=lambda c: (c.started_at, c.span_id))
        if explicit or signal:
            outcome = explicit or signal
        elif root_status != "unset":
            outcome = "failure" if root_status == "error" else "success"
        else:
            outcome = "failure" if last.status == "error" else "success"
        rows += [
            {
                "source": "langfuse",
                "trace_id": trace_id,
                "span_id": c.span_id,
                "started_at": c.started_at,
                "agent": agent,
                "task_type": "chat",
                "session": session,
                "user": None,
                "feature": None,
                "model": c.model,
                "provider": c.provider,
                "environment": None,
                "status": c.status,
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "cache_read_tokens": 0,
                "response_cache_hit": None,
                "outcome": outcome,
            }
            for c in mine
        ]
    return calls, spans, rows


# -- the recomputation ----------------------------------------------------------------------------

KEY_OF = {
    "day": lambda r: r["started_at"].date().isoformat(),
    "week": lambda r: (r["started_at"].date() - timedelta(days=r["started_at"].weekday())).isoformat(),
    "agent": lambda r: r["agent"],
    "task_type": lambda r: r["task_type"],
    "user": lambda r: r["user"],
    "feature": lambda r: r["feature"],
    "model": lambda r: r["model"],
    "provider": lambda r: r["provider"],
    "source": lambda r: r["source"],
    "environment": lambda r: r["environment"],
}


def _sum(costs: list[float | None]) -> float | None:
    """A cost sum: 0 over no calls, unknown when every call is unpriced, else the priced calls' sum."""
    known = [c for c in costs if c is not None]
    return sum(known) if known else (0.0 if not costs else None)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def recompute(rows: list[dict]) -> dict:
    total = _sum([r["cost_usd"] for r in rows])
    tasks = {(r["source"], r["trace_id"]): r["outcome"] for r in rows}
    completed = sum(o == "success" for o in tasks.values())
    waste = _sum([r["cost_usd"] for r in rows if r["outcome"] == "failure" or r["status"] == "error"])
    sessions: dict = {}
    for r in rows:
        sessions.setdefault(r["session"] or r["trace_id"], []).append(r["cost_usd"])
    priced_sessions = [
        sum(c for c in v if c is not None) for v in sessions.values() if any(c is not None for c in v)
    ]
    said = [r["response_cache_hit"] for r in rows if r["response_cache_hit"] is not None]
    inp, read = sum(r["input_tokens"] for r in rows), sum(r["cache_read_tokens"] for r in rows)
    mix: dict = {}
    for r in rows:
        mix.setdefault((r["model"], r["provider"]), []).append(r)
    return {
        "total_cost_usd": total,
        "calls": len(rows),
        "unpriced_calls": sum(r["cost_usd"] is None for r in rows),
        "tasks": len(tasks),
        "completed_tasks": completed,
        "failed_tasks": len(tasks) - completed,
        "cost_per_completed_task_usd": _div(total, completed),
        "avg_completed_task_cost_usd": _div(
            _sum([r["cost_usd"] for r in rows if r["outcome"] == "success"]), completed
        ),
        "waste_usd": waste,
        "waste_ratio": _div(waste, total),
        "cache_hit_rate": _div(read, inp),
        "response_cache_hit_rate": _div(sum(said), len(said)),
        "sessions": len(sessions),
        "p95_session_cost_usd": float(np.percentile(priced_sessions, 95)) if priced_sessions else None,
        "input_tokens": inp,
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cache_read_tokens": read,
        "model_mix": {
            key: {
                "calls": len(part),
                "cost_usd": _sum([r["cost_usd"] for r in part]),
                "call_share": len(part) / len(rows),
                "cost_share": _div(_sum([r["cost_usd"] for r in part]), total),
            }
            for key, part in mix.items()
        },
    }


def _same(got: float | None, expected: float | None) -> bool:
    """Equal to rounding, and unknown (null) exactly where the recomputation is: never a $0 for a null."""
    if got is None or expected is None:
        return got is None and expected is None
    return got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def assert_same(got: dict, expected: dict, where: str) -> None:
    mix = {(m["model"], m["provider"]): m for m in got["model_mix"]}
    assert set(mix) == set(expected["model_mix"]), where
    for key, entry in expected["model_mix"].items():
        for name, value in entry.items():
            assert _same(mix[key][name], value), (where, key, name, mix[key][name], value)
    for name, value in expected.items():
        if name != "model_mix":
            assert _same(got[name], value), (where, name, got[name], value)


# -- the ledger, through the product ----------------------------------------------------------------


@pytest.fixture(scope="module", params=["duckdb", "chdb"])
def ledger(request, tmp_path_factory):
    """(HTTP client on the app, expected rows with each call's stored cost) per backend."""
    root = tmp_path_factory.mktemp(request.param)
    url = f"duckdb:///{root / 'l.duckdb'}" if request.param == "duckdb" else f"chdb:///{root / 'ch'}"
    rng = random.Random(20250602)
    traces = _otlp_traces(rng, 120 if request.param == "duckdb" else 60)
    calls, spans, signal_rows = _source_signal_traces(rng, 30)
    expected = _expected_otlp(traces) + signal_rows
    wh = connect(url)
    wh.migrate()
    app = create_app(Settings(warehouse=url, _env_file=None), wh)
    with TestClient(app) as client:
        for body in _requests(traces, rng):
            answer = client.post("/v1/traces", json=body)
            assert answer.status_code == 200 and not answer.json(), answer.text
        app.state.pipeline.ingest(calls, spans)
        stored = wh.sql(
            "SELECT source, span_id, cost_usd, agent_name, task_type, session_id, user_id, status FROM calls",
            {},
        )
        by_key = {(r["source"], r["span_id"]): r for r in stored.iter_rows(named=True)}
        assert len(by_key) == len(expected)
        for row in expected:
            row["stored"] = by_key[(row["source"], row["span_id"])]
            row["cost_usd"] = row["stored"]["cost_usd"]
        yield client, expected
    wh.close()


def test_calls_inherit_agent_task_type_session_and_user_from_the_nearest_ancestor(ledger):
    _, expected = ledger
    for row in expected:
        stored = row["stored"]
        got = (
            stored["agent_name"],
            stored["task_type"],
            stored["session_id"],
            stored["user_id"],
            stored["status"],
        )
        assert got == (row["agent"], row["task_type"], row["session"], row["user"], row["status"]), row[
            "span_id"
        ]
    assert any(r["cost_usd"] is None for r in expected) and any(r["outcome"] == "failure" for r in expected)


def _parse(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _windows(expected: list[dict]) -> list[dict]:
    starts = sorted(r["started_at"] for r in expected)
    return [
        {},
        {"since": "2025-06-03", "until": "2025-06-08"},  # days: [since 00:00, until 00:00)
        {"since": starts[7].isoformat(), "until": starts[-7].isoformat()},  # bounds exactly on calls
        {"since": "2025-06-05T02:00:00+02:00", "until": "2025-06-09T12:30:00"},  # an offset; naive = UTC
    ]


@pytest.mark.parametrize("group_by", [None, *GROUP_BY])
def test_metrics_equal_the_recomputation_from_raw_rows(ledger, group_by):
    client, expected = ledger
    for window in _windows(expected):
        since, until = _parse(window.get("since")), _parse(window.get("until"))
        rows = [
            r
            for r in expected
            if (since is None or r["started_at"] >= since) and (until is None or r["started_at"] < until)
        ]
        params = window if group_by is None else {**window, "group_by": group_by}
        got = client.get("/api/metrics", params=params).json()
        if group_by is None:
            assert_same(got, recompute(rows), str(window))
            continue
        groups: dict = {}
        for r in rows:
            groups.setdefault(KEY_OF[group_by](r), []).append(r)
        assert {g["key"] for g in got["groups"]} == set(groups), window
        for entry in got["groups"]:
            assert_same(entry, recompute(groups[entry["key"]]), f"{window} {group_by}={entry['key']}")


def test_filters_and_the_focus_export_follow_the_same_rows(ledger):
    client, expected = ledger
    for name, value in [
        ("agent", "planner"),
        ("model", "acme-private-1"),
        ("task_type", "triage"),
        ("user", "u2"),
    ]:
        rows = [r for r in expected if KEY_OF[name](r) == value]
        assert_same(
            client.get("/api/metrics", params={name: value}).json(), recompute(rows), f"{name}={value}"
        )
    window = {"since": "2025-06-03", "until": "2025-06-08"}
    metrics = client.get("/api/metrics", params=window).json()
    export = client.get("/api/export/focus", params=window)
    billed = [line.split(",")[1] for line in export.text.splitlines()[1:]]
    assert export.text.splitlines()[0].split(",")[1] == "BilledCost"
    assert sum(float(b) for b in billed) == pytest.approx(metrics["total_cost_usd"], rel=1e-9)
    assert int(export.headers["X-AgentLedger-Unpriced-Excluded"]) == metrics["unpriced_calls"] > 0
