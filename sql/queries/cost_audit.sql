-- Reported vs computed cost per source, provider and model. Sums compare only the calls that have both,
-- and a call disagrees when |reported - computed| > $tolerance * |computed| (any reported cost against a
-- computed 0). Also counts what has no computed price (unpriced, or priced only by the source's report).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM calls AS c
    WHERE {call_filters}
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
