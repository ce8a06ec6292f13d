-- Reference: the straightforward formulation this query had before it was rewritten for speed, kept as the
-- specification the fast one in sql/queries/ is checked against (tests/analytics/test_query_rewrites.py).
-- The most expensive traces (tasks) in scope, per group: cost, size, duration, outcome and context.
-- Cost and counts cover the calls in scope; the outcome is the task's (task_outcome slot, whole trace).
-- A trace that involves several agents shows the alphabetically first one and counts them in `agents`.
-- Ranked with ROW_NUMBER in a subquery (portable, unlike QUALIFY); unpriced-only traces rank last.
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
{task_outcome},
per_trace AS (
    SELECT
        group_key, project_id, source, trace_id,
        MIN(COALESCE(session_id, trace_id)) AS session_key,
        MIN(agent_name) AS agent_name,
        COUNT(DISTINCT agent_name) AS agents,
        MIN(task_type) AS task_type,
        MIN(user_id) AS user_id,
        COUNT(*) AS calls,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_calls,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(cost_usd) AS cost_usd,
        MIN(started_at) AS started_at,
        MAX(COALESCE(ended_at, started_at)) AS ended_at
    FROM scoped
    GROUP BY group_key, project_id, source, trace_id
),
ranked AS (
    SELECT
        p.group_key, p.source, p.trace_id, p.session_key, p.agent_name, p.agents, p.task_type, p.user_id,
        p.calls, p.unpriced_calls, p.error_calls, p.input_tokens, p.output_tokens, p.cache_read_tokens,
        p.cost_usd, p.started_at, p.ended_at, o.outcome,
        ROW_NUMBER() OVER (
            PARTITION BY p.group_key
            ORDER BY p.cost_usd DESC NULLS LAST, p.calls DESC, p.trace_id, p.source
        ) AS rank
    FROM per_trace AS p
    JOIN outcomes AS o ON o.project_id = p.project_id AND o.source = p.source AND o.trace_id = p.trace_id
)
SELECT
    group_key, rank, source, trace_id, session_key, agent_name, agents, task_type, user_id, outcome,
    calls, unpriced_calls, error_calls, input_tokens, output_tokens, cache_read_tokens, cost_usd,
    started_at, ended_at, date_diff('millisecond', started_at, ended_at) AS duration_ms
FROM ranked
WHERE rank <= $limit
ORDER BY group_key, rank
