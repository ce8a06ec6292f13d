-- The calls in scope, shared by every query that reads calls under the analytics filters (template slot
-- "call_filters", written `WHERE {call_filters}` over the calls alias `c`): the project, the window
-- [since, until) and the equality filters of analytics.filters.Filters, each ignored when its parameter is NULL.
c.project_id = $project_id
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
