-- Per source of a project: how many calls it brought, the time span they cover, and the latest ingest.
SELECT
    source,
    COUNT(*) AS calls,
    COUNT(*) - COUNT(cost_usd) AS unpriced_calls,
    MIN(started_at) AS first_call_at,
    MAX(started_at) AS last_call_at,
    MAX(ingested_at) AS last_ingested_at
FROM calls
WHERE project_id = $project_id
GROUP BY source
ORDER BY source
