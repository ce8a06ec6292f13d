-- Calls without a computed price (no catalog entry, no override), per source, provider, model and price
-- status, with their token volume: 'unpriced' ones have no cost at all, 'reported_only' ones count the
-- source's reported cost. Nothing hides behind $0.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM calls AS c
    WHERE {call_filters}
)
SELECT
    source, provider, model, price_status,
    COUNT(*) AS calls,
    SUM(input_tokens) AS input_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(cache_write_tokens) AS cache_write_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(reasoning_tokens) AS reasoning_tokens,
    SUM(cost_usd) AS cost_usd,
    MIN(started_at) AS first_call_at,
    MAX(started_at) AS last_call_at
FROM scoped
WHERE cost_computed_usd IS NULL
GROUP BY source, provider, model, price_status
ORDER BY calls DESC, source, provider, model, price_status
