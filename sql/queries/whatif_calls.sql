-- The calls a what-if replay reprices: one row per LLM call in the window [since, until) that passes the
-- filters, with its token volumes, hashes, recorded cost and how it was priced, the outcome of its task
-- (task_outcome slot, sql/queries/fragments/task_outcome.sql) and its step: its position among all LLM calls
-- of its trace by start time, counted from the trace's first call even when that one is outside the window.
-- Ordered by start time (then identity), the order the replay walks caches in.
WITH scoped AS (
    -- the ledger (one row per call across sources, sql/ddl/<dialect>/003_ledger_view.sql), as the metrics read it
    SELECT c.*
    FROM ledger_calls AS c
    WHERE {call_filters}
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM scoped
),
{task_outcome},
positions AS (
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id,
        ROW_NUMBER() OVER (
            PARTITION BY c.project_id, c.source, c.trace_id ORDER BY c.started_at, c.span_id
        ) AS step
    FROM calls AS c
    JOIN traces AS t ON c.project_id = t.project_id AND c.source = t.source AND c.trace_id = t.trace_id
)
SELECT
    s.project_id, s.source, s.trace_id, s.span_id, s.session_id, s.user_id, s.agent_name, s.task_type,
    s.provider, s.model, s.model_requested, s.started_at,
    s.input_tokens, s.cache_read_tokens, s.cache_write_tokens, s.output_tokens, s.reasoning_tokens,
    s.max_tokens, s.finish_reason, s.status, s.response_cache_hit, s.prompt_hash, s.prefix_hash, s.tags,
    s.cost_usd, s.cost_source, s.price_status,
    o.outcome, p.step
FROM scoped AS s
JOIN outcomes AS o ON o.project_id = s.project_id AND o.source = s.source AND o.trace_id = s.trace_id
JOIN positions AS p
    ON p.project_id = s.project_id AND p.source = s.source AND p.trace_id = s.trace_id AND p.span_id = s.span_id
ORDER BY s.started_at, s.source, s.trace_id, s.span_id
