-- Totals over LLM calls: cost (unpriced calls are counted, never summed as 0), tokens, cache use.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
)
SELECT
    group_key,
    COUNT(*) AS calls,
    SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
    SUM(cost_usd) AS total_cost_usd,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens,
    SUM(CASE WHEN response_cache_hit THEN 1 ELSE 0 END) AS response_cache_hits,
    SUM(CASE WHEN response_cache_hit IS NOT NULL THEN 1 ELSE 0 END) AS response_cache_known
FROM scoped
GROUP BY group_key
