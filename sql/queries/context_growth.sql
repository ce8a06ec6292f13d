-- Context growth: input tokens by step within a task, per group. The step of a call is its position among
-- all LLM calls of its trace (by started_at), counted from the trace's first call even when that one is
-- outside the window. Steps past $max_steps are left out (runaway tails would flatten the chart).
-- The calls to number are found by trace id alone (one key to probe instead of three; a trace id shared by
-- another project or source is numbered in its own partition and dropped by the join on the full identity),
-- and the calls in scope carry only the columns used.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.project_id, c.source, c.trace_id, c.span_id, c.input_tokens, c.cache_read_tokens, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM scoped
),
positions AS (
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id,
        ROW_NUMBER() OVER (
            PARTITION BY c.project_id, c.source, c.trace_id ORDER BY c.started_at, c.span_id
        ) AS step
    FROM calls AS c
    WHERE c.trace_id IN (SELECT trace_id FROM traces)
)
SELECT
    s.group_key,
    p.step,
    COUNT(*) AS calls,
    AVG(s.input_tokens) AS mean_input_tokens,
    quantile_cont(s.input_tokens, 0.5) AS p50_input_tokens,
    quantile_cont(s.input_tokens, 0.9) AS p90_input_tokens,
    AVG(s.cache_read_tokens) AS mean_cache_read_tokens
FROM scoped AS s
JOIN positions AS p
    ON p.project_id = s.project_id AND p.source = s.source AND p.trace_id = s.trace_id AND p.span_id = s.span_id
WHERE p.step <= $max_steps
GROUP BY s.group_key, p.step
ORDER BY s.group_key, p.step
