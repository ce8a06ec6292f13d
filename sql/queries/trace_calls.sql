-- One trace's LLM calls in order (the dashboard's drill-down): step index from the trace's first call,
-- tokens, cost, latency, status and span ids, with the task's outcome (task_outcome slot) on every row.
-- A trace id recorded by two sources lists both sources' calls; steps count per source. The calls come from
-- the ledger (ledger_calls): a call that two sources recorded (one response id) is listed, and costed, once,
-- as in every total.
WITH traces AS (
    SELECT DISTINCT project_id, source, trace_id
    FROM ledger_calls
    WHERE project_id = $project_id AND trace_id = $trace_id
),
{task_outcome}
SELECT
    ROW_NUMBER() OVER (
        PARTITION BY c.source ORDER BY c.started_at, c.span_id
    ) AS step,
    c.source, c.trace_id, c.span_id, c.parent_span_id, c.session_id, c.user_id, c.agent_name, c.task_type,
    c.provider, c.model, c.started_at, c.ended_at, c.latency_ms, c.ttft_ms,
    c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, c.output_tokens, c.reasoning_tokens,
    c.max_tokens, c.finish_reason, c.status, c.error_type, c.response_cache_hit, c.prompt_hash, c.prefix_hash,
    c.cost_usd, c.cost_reported_usd, c.cost_computed_usd, c.price_status, c.cost_source, o.outcome
FROM ledger_calls AS c
JOIN outcomes AS o ON o.project_id = c.project_id AND o.source = c.source AND o.trace_id = c.trace_id
WHERE c.project_id = $project_id AND c.trace_id = $trace_id
ORDER BY c.source, step
