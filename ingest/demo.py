"""A realistic synthetic agent workload, emitted as OTLP export requests (GenAI semantic conventions).

The demo goes through the same decode -> mapping -> pricing -> warehouse path as real traffic. It has
several agents and task types, a model mix across price tiers, a shared system prompt, context that grows per
step, provider cache reads, failed calls with retries, failed tasks, a runaway loop, sessions and users, spread
over several weeks. The same seed and end date always give the same requests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status


@dataclass(frozen=True)
class _Model:
    provider: str
    name: str
    caches: bool  # whether the provider's prompt cache serves repeated prefixes of this model


@dataclass(frozen=True)
class _TaskType:
    name: str
    models: tuple[tuple[str, float], ...]  # model name and weight
    steps: tuple[int, int]  # LLM calls per task, min and max
    user_tokens: tuple[int, int]  # new input per step
    output_tokens: tuple[int, int]
    max_tokens: int
    fail_rate: float  # share of tasks that fail
    interactive: bool = True


MODELS = {
    m.name: m
    for m in (
        _Model("openai", "gpt-4o", True),
        _Model("openai", "gpt-4o-mini", True),
        _Model("openai", "o3-mini", True),
        _Model("anthropic", "claude-sonnet-4-20250514", True),
        _Model("anthropic", "claude-3-5-haiku-20241022", True),
        _Model("openai", "text-embedding-3-small", False),
        # A self-hosted model with no public price: shows up as unpriced, never as $0.
        _Model("vllm", "llama-3.1-70b-internal", False),
    )
}

AGENTS: dict[str, tuple[int, tuple[_TaskType, ...]]] = {
    # agent name -> (system prompt tokens, task types)
    "support-bot": (
        2400,
        (
            _TaskType(
                "classify", (("gpt-4o", 0.75), ("gpt-4o-mini", 0.25)), (1, 1), (150, 400), (5, 25), 4096, 0.01
            ),
            _TaskType(
                "answer",
                (("gpt-4o", 0.5), ("claude-sonnet-4-20250514", 0.5)),
                (2, 6),
                (200, 900),
                (150, 600),
                4096,
                0.06,
            ),
            _TaskType(
                "summarize",
                (("gpt-4o-mini", 0.7), ("llama-3.1-70b-internal", 0.3)),
                (1, 2),
                (1500, 4000),
                (100, 300),
                1024,
                0.02,
                False,
            ),
        ),
    ),
    "research-agent": (
        3200,
        (
            _TaskType("plan", (("o3-mini", 1.0),), (1, 2), (300, 800), (400, 1500), 8192, 0.05),
            _TaskType("search", (("text-embedding-3-small", 1.0),), (2, 5), (50, 300), (0, 0), 0, 0.0, False),
            _TaskType(
                "synthesize",
                (("claude-sonnet-4-20250514", 0.8), ("gpt-4o", 0.2)),
                (3, 9),
                (800, 2500),
                (300, 1200),
                4096,
                0.12,
            ),
        ),
    ),
    "code-assistant": (
        1800,
        (
            _TaskType(
                "generate",
                (("claude-sonnet-4-20250514", 0.6), ("gpt-4o", 0.4)),
                (2, 8),
                (400, 1600),
                (200, 1400),
                4096,
                0.1,
            ),
            _TaskType(
                "review",
                (("claude-3-5-haiku-20241022", 0.7), ("gpt-4o-mini", 0.3)),
                (1, 3),
                (800, 3000),
                (80, 400),
                2048,
                0.04,
            ),
        ),
    ),
}

FEATURES = {"support-bot": "helpdesk", "research-agent": "insights", "code-assistant": "ide"}
CACHE_TTL = timedelta(minutes=5)


def _kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000) * 1000


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def trace(self) -> bytes:
        return self._rng.getrandbits(128).to_bytes(16, "big")

    def span(self) -> bytes:
        return self._rng.getrandbits(64).to_bytes(8, "big")


class _TraceBuilder:
    """Builds the spans of one task: a root agent span, a task span, and the LLM calls under it."""

    def __init__(
        self,
        rng: random.Random,
        ids: _Ids,
        agent: str,
        system_tokens: int,
        task: _TaskType,
        session_id: str,
        user_id: str,
        start: datetime,
    ) -> None:
        self.rng, self.ids, self.agent, self.task = rng, ids, agent, task
        self.system_tokens, self.session_id, self.user_id = system_tokens, session_id, user_id
        self.trace_id = ids.trace()
        self.root_id, self.task_span_id = ids.span(), ids.span()
        self.start = self.clock = start
        self.spans: list[Span] = []
        self.last_cache_use: dict[str, datetime] = {}

    def build(self, *, runaway: bool = False) -> list[Span]:
        model = MODELS[self._pick_model()]
        failed = self.rng.random() < self.task.fail_rate
        steps = 40 if runaway else self.rng.randint(*self.task.steps)
        history = 0
        for step in range(steps):
            new_input = self.rng.randint(*self.task.user_tokens)
            if runaway:
                new_input, history = self.task.user_tokens[0], 0  # the loop re-sends the same prompt
            # A transient provider error now and then, retried at once: the retry is waste.
            if self.rng.random() < 0.04:
                self._call(model, step, history + new_input, error=True)
            output = self._call(model, step, history + new_input, error=False)
            history += new_input + output
        last_error = failed and self.rng.random() < 0.5
        if last_error:
            self._call(model, steps, history, error=True)
        self._wrap(failed=failed or runaway, explicit=failed and not last_error)
        return self.spans

    def _pick_model(self) -> str:
        names = [m for m, _ in self.task.models]
        weights = [w for _, w in self.task.models]
        return self.rng.choices(names, weights)[0]

    def _call(self, model: _Model, step: int, context_tokens: int, *, error: bool) -> int:
        rng, task = self.rng, self.task
        embedding = model.name.startswith("text-embedding")
        system = 0 if embedding else self.system_tokens
        input_tokens = system + context_tokens
        cache_read = cache_write = 0
        if model.caches and system >= 1024:
            warm = (
                self.clock - self.last_cache_use.get(model.name, datetime.min.replace(tzinfo=UTC)) < CACHE_TTL
            )
            # Only some deployments turned prompt caching on: a saving the recommendations can find.
            if self.agent != "support-bot":
                if warm:
                    cache_read = system
                elif model.provider == "anthropic":
                    cache_write = system
            self.last_cache_use[model.name] = self.clock
        output = 0 if embedding or error else rng.randint(*task.output_tokens)
        reasoning = int(output * rng.uniform(0.3, 0.7)) if model.name.startswith("o3") else 0
        latency = timedelta(milliseconds=(200 if embedding else 400 + output * 12 + rng.randint(0, 600)))
        truncated = not error and task.max_tokens and output >= task.output_tokens[1] * 0.98
        span_start, span_end = self.clock, self.clock + latency
        attrs = [
            _kv("gen_ai.operation.name", "embeddings" if embedding else "chat"),
            _kv("gen_ai.provider.name", model.provider),
            _kv("gen_ai.request.model", model.name),
            _kv("gen_ai.response.model", model.name),
            _kv("gen_ai.usage.input_tokens", input_tokens),
            _kv("gen_ai.usage.output_tokens", output),
            _kv("gen_ai.conversation.id", self.session_id),
            _kv("agentledger.feature", FEATURES[self.agent]),
            _kv("gen_ai.response.id", f"resp_{self.ids.span().hex()}"),
        ]
        if not embedding:
            attrs.append(
                _kv(
                    "gen_ai.system_instructions",
                    json.dumps([{"type": "text", "content": f"You are {self.agent}. Policy v3."}]),
                )
            )
            attrs.append(
                _kv(
                    "gen_ai.input.messages",
                    json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": self._prompt_text(step)}]}]
                    ),
                )
            )
            if task.max_tokens:
                attrs.append(_kv("gen_ai.request.max_tokens", task.max_tokens))
            attrs.append(_kv("gen_ai.response.finish_reasons", "length" if truncated else "stop"))
        if cache_read:
            attrs.append(_kv("gen_ai.usage.cache_read.input_tokens", cache_read))
        if cache_write:
            attrs.append(_kv("gen_ai.usage.cache_creation.input_tokens", cache_write))
        if reasoning:
            attrs.append(_kv("gen_ai.usage.reasoning.output_tokens", reasoning))
        status = Status(code=Status.STATUS_CODE_ERROR, message="429 Too Many Requests") if error else Status()
        if error:
            attrs.append(_kv("error.type", "RateLimitError"))
        self.spans.append(
            Span(
                trace_id=self.trace_id,
                span_id=self.ids.span(),
                parent_span_id=self.task_span_id,
                name=f"{'embeddings' if embedding else 'chat'} {model.name}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=_ns(span_start),
                end_time_unix_nano=_ns(span_end),
                attributes=attrs,
                status=status,
            )
        )
        self.clock = span_end + timedelta(milliseconds=rng.randint(50, 4000))
        return output

    def _prompt_text(self, step: int) -> str:
        # Classification prompts repeat often (the same ticket templates): exact duplicates a response cache would serve.
        if self.task.name == "classify" and self.rng.random() < 0.3:
            return f"Classify ticket template #{self.rng.randint(1, 8)}"
        return f"{self.task.name} request {self.rng.getrandbits(48):x} step {step}"

    def _wrap(self, *, failed: bool, explicit: bool) -> None:
        end = self.clock
        task_attrs = [
            _kv("agentledger.task.type", self.task.name),
            _kv("gen_ai.operation.name", "invoke_workflow"),
            _kv("gen_ai.workflow.name", self.task.name),
        ]
        if explicit:
            task_attrs.append(_kv("agentledger.task.outcome", "failure"))
        self.spans.append(
            Span(
                trace_id=self.trace_id,
                span_id=self.task_span_id,
                parent_span_id=self.root_id,
                name=f"invoke_workflow {self.task.name}",
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=_ns(self.start),
                end_time_unix_nano=_ns(end),
                attributes=task_attrs,
            )
        )
        root_status = (
            Status(code=Status.STATUS_CODE_ERROR, message="task failed")
            if failed and not explicit
            else Status()
        )
        self.spans.append(
            Span(
                trace_id=self.trace_id,
                span_id=self.root_id,
                name=f"invoke_agent {self.agent}",
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=_ns(self.start),
                end_time_unix_nano=_ns(end),
                status=root_status,
                attributes=[
                    _kv("gen_ai.operation.name", "invoke_agent"),
                    _kv("gen_ai.agent.name", self.agent),
                    _kv("gen_ai.agent.version", "2026.11"),
                    _kv("gen_ai.conversation.id", self.session_id),
                    _kv("user.id", self.user_id),
                ],
            )
        )


def generate_sessions(
    sessions: int = 300,
    seed: int = 7,
    end: datetime | None = None,
    days: int = 28,
    traces_per_request: int = 20,
) -> Iterator[tuple[ExportTraceServiceRequest, int]]:
    """Yield OTLP export requests for ``sessions`` sessions spread over ``days`` days before ``end``, each with
    the number of sessions complete once it is written (the last request's is ``sessions``)."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    end = (end or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    users = [f"user-{i:03d}" for i in range(max(5, sessions // 6))]
    runaway_session = rng.randrange(sessions)
    pending: list[list[Span]] = []
    for s in range(sessions):
        agent = rng.choice(list(AGENTS))
        system_tokens, tasks = AGENTS[agent]
        # Traffic grows over the weeks and dips at weekends.
        day_offset = days * (1 - rng.random() ** 1.3)
        start = end - timedelta(days=day_offset) + timedelta(minutes=rng.randint(0, 59))
        session_id, user_id = f"sess-{seed}-{s:05d}", rng.choice(users)
        for t in range(rng.randint(1, 4)):
            task = rng.choice(tasks)
            builder = _TraceBuilder(rng, ids, agent, system_tokens, task, session_id, user_id, start)
            pending.append(builder.build(runaway=(s == runaway_session and t == 0)))
            start = builder.clock + timedelta(seconds=rng.randint(5, 300))
            if len(pending) >= traces_per_request:
                yield _request(pending), s  # sessions 0 .. s-1 are complete; s may go on
                pending = []
    if pending:
        yield _request(pending), sessions


def _request(traces: list[list[Span]]) -> ExportTraceServiceRequest:
    spans = [span for trace in traces for span in trace]
    resource = Resource(
        attributes=[_kv("service.name", "agents-demo"), _kv("deployment.environment.name", "production")]
    )
    scope = InstrumentationScope(name="agentledger.demo", version="1")
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])]
    )
