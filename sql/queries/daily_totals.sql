-- The totals of call_totals.sql per UTC day, model, provider, agent and task type: the rows the Overview sums
-- into its spend per day by model and its top cost drivers of two weeks (analytics.metrics.overview_series),
-- one pass for both. The day is grouped as a DATE and formatted per group only: formatting the day of every
-- call costs more than the aggregation itself.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters
    SELECT
        c.started_at, c.model, c.provider, c.agent_name, c.task_type, c.cost_usd, c.input_tokens, c.output_tokens,
        c.cache_read_tokens, c.response_cache_hit
    FROM ledger_calls AS c
    WHERE {call_filters}
),
per_day AS (
    SELECT
        CAST(started_at AS DATE) AS day,
        model,
        provider,
        agent_name,
        task_type,
        COUNT(*) AS calls,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(cost_usd) AS total_cost_usd,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(CASE WHEN response_cache_hit THEN 1 ELSE 0 END) AS response_cache_hits,
        SUM(CASE WHEN response_cache_hit IS NOT NULL THEN 1 ELSE 0 END) AS response_cache_known
    FROM scoped
    GROUP BY CAST(started_at AS DATE), model, provider, agent_name, task_type
)
SELECT
    CAST(day AS VARCHAR) AS day, model, provider, agent_name, task_type, calls, unpriced_calls, total_cost_usd,
    input_tokens, output_tokens, cache_read_tokens, response_cache_hits, response_cache_known
FROM per_day
