-- Reference: the straightforward formulation this query had before it was rewritten for speed, kept as the
-- specification the fast one in sql/queries/ is checked against (tests/analytics/test_query_rewrites.py).
-- The most expensive sessions in scope (session_id, else the trace), per group: cost, tasks by outcome,
-- calls, tokens and duration. Cost and counts cover the calls in scope; each task's outcome is the
-- task_outcome slot's (whole trace). A session with several agents shows the alphabetically first.
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
per_session AS (
    SELECT
        s.group_key,
        COALESCE(s.session_id, s.trace_id) AS session_key,
        MIN(s.agent_name) AS agent_name,
        COUNT(DISTINCT s.agent_name) AS agents,
        MIN(s.user_id) AS user_id,
        COUNT(DISTINCT s.source || ':' || s.trace_id) AS tasks,
        COUNT(DISTINCT CASE WHEN o.outcome = 'success' THEN s.source || ':' || s.trace_id END) AS completed_tasks,
        COUNT(DISTINCT CASE WHEN o.outcome = 'failure' THEN s.source || ':' || s.trace_id END) AS failed_tasks,
        COUNT(*) AS calls,
        SUM(CASE WHEN s.cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(s.input_tokens) AS input_tokens,
        SUM(s.output_tokens) AS output_tokens,
        SUM(s.cache_read_tokens) AS cache_read_tokens,
        SUM(s.cost_usd) AS cost_usd,
        MIN(s.started_at) AS started_at,
        MAX(COALESCE(s.ended_at, s.started_at)) AS ended_at
    FROM scoped AS s
    JOIN outcomes AS o ON o.project_id = s.project_id AND o.source = s.source AND o.trace_id = s.trace_id
    GROUP BY s.group_key, COALESCE(s.session_id, s.trace_id)
),
ranked AS (
    SELECT
        per_session.*,
        ROW_NUMBER() OVER (
            PARTITION BY group_key
            ORDER BY cost_usd DESC NULLS LAST, calls DESC, session_key
        ) AS rank
    FROM per_session
)
SELECT
    group_key, rank, session_key, agent_name, agents, user_id, tasks, completed_tasks, failed_tasks,
    calls, unpriced_calls, input_tokens, output_tokens, cache_read_tokens, cost_usd,
    started_at, ended_at, date_diff('millisecond', started_at, ended_at) AS duration_ms
FROM ranked
WHERE rank <= $limit
ORDER BY group_key, rank
