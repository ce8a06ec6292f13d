-- Reported vs computed cost per source, provider and model. Sums compare only the calls that have both,
-- and a call disagrees when |reported - computed| > $tolerance * |computed| (any reported cost against a
-- computed 0). Also counts what has no computed price (unpriced, or priced only by the source's report).
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
    source, provider, model,
    COUNT(*) AS calls,
    SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
    SUM(CASE WHEN cost_computed_usd IS NULL AND cost_reported_usd IS NOT NULL THEN 1 ELSE 0 END)
        AS reported_only_calls,
    SUM(CASE WHEN cost_reported_usd IS NOT NULL AND cost_computed_usd IS NOT NULL THEN 1 ELSE 0 END)
        AS compared_calls,
    SUM(CASE WHEN cost_computed_usd IS NOT NULL THEN cost_reported_usd END) AS reported_usd,
    SUM(CASE WHEN cost_reported_usd IS NOT NULL THEN cost_computed_usd END) AS computed_usd,
    SUM(
        CASE
            WHEN cost_reported_usd IS NOT NULL AND cost_computed_usd IS NOT NULL
             AND ABS(cost_reported_usd - cost_computed_usd) > $tolerance * ABS(cost_computed_usd) THEN 1
            ELSE 0
        END
    ) AS disagreeing_calls,
    SUM(cost_usd) AS cost_usd
FROM scoped
GROUP BY source, provider, model
ORDER BY source, provider, model
