-- Output verbosity against the requested max_tokens, per group: percentiles of output tokens, of max_tokens,
-- and of their ratio over the calls that set a max_tokens (linear interpolation, like every percentile here).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
)
SELECT
    group_key,
    COUNT(*) AS calls,
    SUM(CASE WHEN max_tokens > 0 THEN 1 ELSE 0 END) AS calls_with_max_tokens,
    quantile_cont(output_tokens, 0.5) AS p50_output_tokens,
    quantile_cont(output_tokens, 0.99) AS p99_output_tokens,
    quantile_cont(CASE WHEN max_tokens > 0 THEN max_tokens END, 0.5) AS p50_max_tokens,
    quantile_cont(CASE WHEN max_tokens > 0 THEN CAST(output_tokens AS DOUBLE) / max_tokens END, 0.5)
        AS p50_output_ratio,
    quantile_cont(CASE WHEN max_tokens > 0 THEN CAST(output_tokens AS DOUBLE) / max_tokens END, 0.99)
        AS p99_output_ratio
FROM scoped
GROUP BY group_key
ORDER BY group_key
