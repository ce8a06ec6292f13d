-- Token volumes and cost per UTC hour, provider, model, pricing and context (the rows of a FOCUS export);
-- with $per_call one row per call instead (trace and span ids kept). Gateway cache hits are kept apart (the
-- provider was not called; their cost is the ledger's). Unpriced calls come back with a NULL cost for the
-- caller to report.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
)
SELECT
    date_trunc('hour', started_at) AS charge_period_start,
    provider, model, price_status, cost_source,
    COALESCE(response_cache_hit, FALSE) AS response_cache_hit,
    source, agent_name, task_type, COALESCE(session_id, trace_id) AS session_key, user_id, feature, environment,
    CASE WHEN $per_call THEN trace_id END AS call_trace_id,
    CASE WHEN $per_call THEN span_id END AS call_span_id,
    COUNT(*) AS calls,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(cache_write_tokens) AS cache_write_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(reasoning_tokens) AS reasoning_tokens,
    SUM(cost_usd) AS cost_usd
FROM scoped
GROUP BY
    date_trunc('hour', started_at), provider, model, price_status, cost_source,
    COALESCE(response_cache_hit, FALSE), source, agent_name, task_type, COALESCE(session_id, trace_id),
    user_id, feature, environment,
    CASE WHEN $per_call THEN trace_id END, CASE WHEN $per_call THEN span_id END
ORDER BY charge_period_start, provider, model, session_key, call_trace_id, call_span_id
