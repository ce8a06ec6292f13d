-- Every metric family of compute_metrics in one pass over the ledger: the aggregates of call_totals.sql,
-- task_outcomes.sql, session_costs.sql and model_mix.sql (same expressions, same rows), computed from one
-- scan of the calls in scope and one evaluation of the task_outcome slot instead of four scans and queries.
-- One row per group and (model, provider) of the model mix, each carrying its group's totals, tasks and
-- sessions (every group has calls, so a model row, a task and a session). group_key may be NULL (no
-- grouping, or calls without the dimension's value): the joins match it with IS NOT DISTINCT FROM.
-- The calls in scope are aggregated three times only (per task, per session, per model); the traces and the
-- totals are summed from those instead of from the calls again.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT
        c.project_id, c.source, c.trace_id, c.session_id, c.model, c.provider, c.status, c.cost_usd,
        c.input_tokens, c.output_tokens, c.cache_read_tokens, c.response_cache_hit,
        {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
per_task AS (
    SELECT
        group_key, project_id, source, trace_id,
        COUNT(*) AS calls,
        SUM(cost_usd) AS cost_usd,
        SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_calls,
        SUM(CASE WHEN status = 'error' THEN cost_usd END) AS error_cost_usd
    FROM scoped
    GROUP BY group_key, project_id, source, trace_id
),
traces AS (
    -- the tasks in scope (several rows of a task with group keys that vary within it)
    SELECT DISTINCT project_id, source, trace_id FROM per_task
),
{task_outcome},
tasks AS (
    SELECT
        p.group_key,
        COUNT(*) AS tasks,
        SUM(CASE WHEN o.outcome = 'success' THEN 1 ELSE 0 END) AS completed_tasks,
        SUM(CASE WHEN o.outcome = 'failure' THEN 1 ELSE 0 END) AS failed_tasks,
        SUM(CASE WHEN o.outcome = 'success' THEN p.cost_usd END) AS completed_cost_usd,
        SUM(CASE WHEN o.outcome = 'success' THEN p.calls ELSE 0 END) AS completed_calls,
        SUM(CASE WHEN o.outcome = 'failure' THEN p.cost_usd END) AS failed_task_cost_usd,
        SUM(CASE WHEN o.outcome = 'failure' THEN p.calls ELSE 0 END) AS failed_task_calls,
        SUM(CASE WHEN o.outcome = 'success' THEN p.error_cost_usd END) AS failed_call_cost_usd,
        SUM(CASE WHEN o.outcome = 'success' THEN p.error_calls ELSE 0 END) AS failed_call_calls
    FROM per_task AS p
    JOIN outcomes AS o ON o.project_id = p.project_id AND o.source = p.source AND o.trace_id = p.trace_id
    GROUP BY p.group_key
),
per_session AS (
    SELECT group_key, COALESCE(session_id, trace_id) AS session_key, SUM(cost_usd) AS cost_usd
    FROM scoped
    GROUP BY group_key, COALESCE(session_id, trace_id)
),
sessions AS (
    SELECT
        group_key,
        COUNT(*) AS sessions,
        quantile_cont(cost_usd, 0.95) AS p95_session_cost_usd
    FROM per_session
    GROUP BY group_key
),
mix AS (
    SELECT
        group_key,
        model,
        provider,
        COUNT(*) AS model_calls,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS model_unpriced_calls,
        SUM(input_tokens) AS model_input_tokens,
        SUM(output_tokens) AS model_output_tokens,
        SUM(cache_read_tokens) AS model_cache_read_tokens,
        SUM(CASE WHEN response_cache_hit THEN 1 ELSE 0 END) AS model_response_cache_hits,
        SUM(CASE WHEN response_cache_hit IS NOT NULL THEN 1 ELSE 0 END) AS model_response_cache_known,
        SUM(cost_usd) AS model_cost_usd
    FROM scoped
    GROUP BY group_key, model, provider
),
totals AS (
    -- call_totals.sql's columns, summed over the group's models
    SELECT
        group_key,
        SUM(model_calls) AS calls,
        SUM(model_unpriced_calls) AS unpriced_calls,
        SUM(model_cost_usd) AS total_cost_usd,
        SUM(model_input_tokens) AS input_tokens,
        SUM(model_output_tokens) AS output_tokens,
        SUM(model_cache_read_tokens) AS cache_read_tokens,
        SUM(model_response_cache_hits) AS response_cache_hits,
        SUM(model_response_cache_known) AS response_cache_known
    FROM mix
    GROUP BY group_key
)
SELECT
    m.group_key, m.model, m.provider, m.model_calls, m.model_input_tokens, m.model_output_tokens, m.model_cost_usd,
    t.calls, t.unpriced_calls, t.total_cost_usd, t.input_tokens, t.output_tokens, t.cache_read_tokens,
    t.response_cache_hits, t.response_cache_known,
    k.tasks, k.completed_tasks, k.failed_tasks, k.completed_cost_usd, k.completed_calls,
    k.failed_task_cost_usd, k.failed_task_calls, k.failed_call_cost_usd, k.failed_call_calls,
    s.sessions, s.p95_session_cost_usd
FROM mix AS m
JOIN totals AS t ON t.group_key IS NOT DISTINCT FROM m.group_key
JOIN tasks AS k ON k.group_key IS NOT DISTINCT FROM m.group_key
JOIN sessions AS s ON s.group_key IS NOT DISTINCT FROM m.group_key
