-- Sessions (session_id, else the trace) and the 95th percentile of their cost, linear interpolation.
-- A session whose calls are all unpriced has an unknown cost and is left out of the percentile.
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
per_session AS (
    SELECT group_key, COALESCE(session_id, trace_id) AS session_key, SUM(cost_usd) AS cost_usd
    FROM scoped
    GROUP BY group_key, COALESCE(session_id, trace_id)
)
SELECT
    group_key,
    COUNT(*) AS sessions,
    quantile_cont(cost_usd, 0.95) AS p95_session_cost_usd
FROM per_session
GROUP BY group_key
