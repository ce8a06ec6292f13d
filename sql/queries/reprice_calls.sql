-- Whole call rows in scope, one page at a time in a stable order (identity and start never change on a
-- re-price, so OFFSET paging sees every call once), for re-pricing with the current prices.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM calls AS c
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
)
SELECT *
FROM scoped
ORDER BY started_at, source, trace_id, span_id
LIMIT $limit OFFSET $offset
