-- Sessions (session_id, else the trace) and the 95th percentile of their cost, linear interpolation.
-- A session whose calls are all unpriced has an unknown cost and is left out of the percentile.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
per_session AS (
    SELECT group_key, COALESCE(session_id, trace_id) AS session_key, SUM(cost_usd) AS cost_usd
    FROM scoped
    GROUP BY group_key, COALESCE(session_id, trace_id)
)
SELECT
    group_key,
    COUNT(*) AS sessions,
    quantile_cont(cost_usd, 0.95) AS p95_session_cost_usd
FROM per_session
GROUP BY group_key
