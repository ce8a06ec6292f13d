-- The calls whose reported and computed costs disagree beyond $tolerance (relative to the computed cost),
-- the largest absolute gap first.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM calls AS c
    WHERE {call_filters}
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
