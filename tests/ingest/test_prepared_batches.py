"""Prepared batches that crossed a process boundary (pickled: only their Arrow tables travel, the records are
rebuilt from them where the write needs them) are written as the batches prepared in the writing process are,
and requests written together store what the same requests written one by one store."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentledger.core.pricing import Pricer
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline, PreparedBatch
from agentledger.ingest.twins import SDK_SCOPE_TAG
from agentledger.warehouse import connect

T0 = datetime(2025, 6, 2, 8, tzinfo=UTC)
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514", "no-such-model"]


def _requests(seed: int) -> list[tuple[list[Call], list[SpanContext]]]:
    """Agent traces cut into requests the way exporters cut them: children before their parents, traces split
    across requests, some records sent again with new values, and some calls recorded twice (a provider SDK's
    span under an instrumentation's, with one response id)."""
    rng = random.Random(seed)
    records: list[Call | SpanContext] = []
    for t in range(rng.randint(2, 6)):
        trace = f"t{t}"
        start = T0 + timedelta(minutes=t)
        records.append(
            SpanContext(
                source="otlp",
                trace_id=trace,
                span_id="root",
                kind="agent",
                agent_name=rng.choice(["planner", "support", None]),
                session_id=rng.choice([f"s{t % 2}", None]),
                user_id=rng.choice(["u1", None]),
                started_at=start,
                ended_at=start + timedelta(seconds=60),
            )
        )
        parents = ["root"]
        if rng.random() < 0.5:
            records.append(
                SpanContext(
                    source="otlp",
                    trace_id=trace,
                    span_id="wf",
                    parent_span_id="root",
                    kind="workflow",
                    workflow_name=rng.choice(["triage", "refund"]),
                    task_type=rng.choice(["billing", None]),
                    started_at=start,
                )
            )
            parents.append("wf")
        for c in range(rng.randint(1, 6)):
            begin = start + timedelta(seconds=5 * c)
            call = Call(
                source="otlp",
                trace_id=trace,
                span_id=f"c{c}",
                parent_span_id=rng.choice(parents),
                started_at=begin,
                ended_at=begin + timedelta(seconds=3),
                operation="chat",
                model=rng.choice(MODELS),
                input_tokens=rng.randint(100, 5000),
                output_tokens=rng.randint(1, 500),
                session_id=rng.choice([None, None, "own-session"]),
                response_id=f"r-{trace}-{c}" if rng.random() < 0.7 else None,
            )
            records.append(call)
            if call.response_id and rng.random() < 0.3:  # the provider SDK's own span of the same API call
                records.append(
                    Call(
                        source="otlp",
                        trace_id=trace,
                        span_id=f"c{c}-sdk",
                        parent_span_id=call.span_id,
                        started_at=begin,
                        ended_at=begin + timedelta(seconds=2),
                        operation="chat",
                        model=call.model,
                        input_tokens=call.input_tokens,
                        response_id=call.response_id,
                        tags={SDK_SCOPE_TAG: "com.anthropic.sdk"},
                    )
                )
    records.reverse()  # children end, and are exported, before their parents
    for _ in range(len(records) // 3):  # ... mostly
        i, j = rng.randrange(len(records)), rng.randrange(len(records))
        records[i], records[j] = records[j], records[i]
    for record in rng.sample(records, len(records) // 5):  # sent again, with a new value
        again = pickle.loads(pickle.dumps(record))
        if isinstance(again, Call):
            again.output_tokens += 7
        else:
            again.user_id = "u2"
        records.append(again)
    requests = []
    while records:
        size = rng.randint(1, 8)
        part, records = records[:size], records[size:]
        requests.append(
            ([r for r in part if isinstance(r, Call)], [r for r in part if isinstance(r, SpanContext)])
        )
    return requests


def _copy(records: list) -> list:
    return pickle.loads(pickle.dumps(records))  # each pipeline stamps and prices its own records


def _ledger(wh) -> tuple[list, list]:
    calls = wh.sql("SELECT * EXCLUDE (ingested_at) FROM calls ORDER BY trace_id, span_id").rows()
    spans = wh.sql("SELECT * FROM spans ORDER BY trace_id, span_id").rows()
    return calls, spans


@pytest.mark.parametrize("seed", range(12))
def test_batches_sent_across_processes_store_what_one_by_one_ingests_store(tmp_path: Path, seed: int) -> None:
    requests = _requests(seed)
    one_by_one = Pipeline(connect(f"duckdb:///{tmp_path / 'one.duckdb'}"), Pricer())
    for calls, spans in requests:
        one_by_one.ingest(_copy(calls), _copy(spans))
    local = Pipeline(connect(f"duckdb:///{tmp_path / 'local.duckdb'}"), Pricer())
    sent = Pipeline(connect(f"duckdb:///{tmp_path / 'sent.duckdb'}"), Pricer())
    rng = random.Random(seed)
    position = 0
    while position < len(requests):
        group = requests[position : position + rng.randint(1, 4)]
        position += len(group)
        prepared = [local.prepare(_copy(c), _copy(s)) for c, s in group]
        travelled = [pickle.loads(pickle.dumps(sent.prepare(_copy(c), _copy(s)))) for c, s in group]
        assert all(b._calls is None and b._rows is None for b in travelled)  # only the tables travelled
        assert [b.call_keys for b in travelled] == [b.call_keys for b in prepared]
        assert [b.row_keys for b in travelled] == [b.row_keys for b in prepared]
        assert local.write(prepared) == sent.write(travelled)
    expected = _ledger(one_by_one.warehouse)
    assert expected[0], "the workload has calls"
    assert _ledger(local.warehouse) == expected
    assert _ledger(sent.warehouse) == expected


def test_a_travelled_batch_rebuilds_the_records_it_was_prepared_from() -> None:
    calls, spans = _requests(3)[0]
    batch = Pipeline(connect("duckdb:///:memory:"), Pricer()).prepare(_copy(calls), _copy(spans))
    travelled = pickle.loads(pickle.dumps(batch))
    assert isinstance(travelled, PreparedBatch) and travelled.size == batch.size
    assert travelled.rows == batch.rows
    assert travelled.resolved == batch.resolved
    assert travelled.response_ids() == batch.response_ids()
    assert travelled.operations() == batch.operations()
    some = batch.row_keys[::2]
    assert travelled.rows_of(some) == [batch.rows[k] for k in some]
    # the rebuilt calls carry their resolved context; every other field is the call's own
    own = [(c.key(), c.model, c.input_tokens, c.cost_usd, c.response_id, c.tags) for c in batch.calls]
    assert [
        (c.key(), c.model, c.input_tokens, c.cost_usd, c.response_id, c.tags) for c in travelled.calls
    ] == own
    assert [c.agent_name for c in travelled.calls] == [r.agent_name for r in batch.resolved]
