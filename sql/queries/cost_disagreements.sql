-- The calls whose reported and computed costs disagree beyond $tolerance (relative to the computed cost),
-- the largest absolute gap first.
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
SELECT
    source, trace_id, span_id, provider, model, started_at,
    input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
    cost_reported_usd, cost_computed_usd, cost_usd, price_status, cost_source,
    cost_reported_usd - cost_computed_usd AS gap_usd
FROM scoped
WHERE cost_reported_usd IS NOT NULL AND cost_computed_usd IS NOT NULL
  AND ABS(cost_reported_usd - cost_computed_usd) > $tolerance * ABS(cost_computed_usd)
ORDER BY ABS(cost_reported_usd - cost_computed_usd) DESC, source, trace_id, span_id
LIMIT $limit
