-- Reference: the straightforward formulation this query had before it was rewritten for speed, kept as the
-- specification the fast one in sql/queries/ is checked against (tests/analytics/test_query_rewrites.py).
-- Context growth: input tokens by step within a task, per group. The step of a call is its position among
-- all LLM calls of its trace (by started_at), counted from the trace's first call even when that one is
-- outside the window. Steps past $max_steps are left out (runaway tails would flatten the chart).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE c.project_id = $project_id
      AND ($since IS NULL OR c.started_at >= $since)
      AND ($until IS NULL OR c.started_at < $until)
      AND ($agent IS NULL OR c.agent_name = $agent)
      AND ($task_type IS NULL OR c.task_type = $task_type)
      AND ($user IS NULL OR c.user_id = $user)
      AND ($feature IS NULL OR c.feature = $feature)
      AND ($model IS NULL OR c.model = $model)
      AND ($provider IS NULL OR c.provider = $provider)
      AND ($source IS NULL OR c.source = $source)
      AND ($environment IS NULL OR c.environment = $environment)
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
    JOIN traces AS t ON c.project_id = t.project_id AND c.source = t.source AND c.trace_id = t.trace_id
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
