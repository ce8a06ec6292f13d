-- Per model and provider: calls, tokens and cost (NULL when every call of the model is unpriced).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
)
SELECT
    group_key,
    model,
    provider,
    COUNT(*) AS calls,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(cost_usd) AS cost_usd
FROM scoped
GROUP BY group_key, model, provider
