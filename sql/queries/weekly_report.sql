-- The weekly report's figures (analytics/report.py) over two adjacent windows in one pass, split at $split
-- ("previous" before it, "current" from it on); two kinds of rows:
--
-- * dim 'none' (key NULL) and, for the $top most expensive keys of the current window, dims 'task_type',
--   'agent' and 'user': per period the rows of metrics.sql (one per model of the group's mix) with the same
--   aggregates as metrics.sql run with group "period" and "period:<dimension>"; sessions (count, P95 of
--   session cost) for dim 'none' only, NULL for the others;
-- * dim 'session' (period 'current', key the session): top_sessions.sql's $top most expensive sessions of
--   the current window, with its rank, agent, user, calls (and how many unpriced), cost and tasks by outcome.
--
-- The calls in scope (read once) are summed per period, dimension values, task and session (`by_task`) and per
-- period, task type, agent and model (`by_model`, few rows): the groups are sums of those, but for the model
-- mix of the kept users, summed from their calls; each task's outcome is decided once for all of them. A key
-- ranks by its current cost (unpriced last), then by the key (NULL after ''), as the report orders its rows;
-- the users' tasks and model mix are summed for the kept users only. gid names a group: the dimension, then
-- '=' and the key unless it is NULL.
WITH scoped AS (
    -- the calls of both windows that pass the filters
    SELECT
        CASE WHEN c.started_at < $split THEN 'previous' ELSE 'current' END AS period,
        c.task_type, c.agent_name, c.user_id, c.project_id, c.source, c.trace_id,
        COALESCE(c.session_id, c.trace_id) AS session_key, c.model, c.provider, c.status, c.cost_usd,
        c.input_tokens, c.output_tokens, c.cache_read_tokens, c.response_cache_hit
    FROM ledger_calls AS c
    WHERE {call_filters}
),
by_task AS (
    SELECT
        period, task_type, agent_name, user_id, project_id, source, trace_id, session_key,
        COUNT(*) AS calls,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(cost_usd) AS cost_usd,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(CASE WHEN response_cache_hit THEN 1 ELSE 0 END) AS response_cache_hits,
        SUM(CASE WHEN response_cache_hit IS NOT NULL THEN 1 ELSE 0 END) AS response_cache_known,
        SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_calls,
        SUM(CASE WHEN status = 'error' THEN cost_usd END) AS error_cost_usd
    FROM scoped
    GROUP BY period, task_type, agent_name, user_id, project_id, source, trace_id, session_key
),
by_model AS (
    -- per task type, agent and model (few rows): the mix and totals of the task types, agents and all calls
    SELECT
        period, task_type, agent_name, model, provider,
        COUNT(*) AS calls,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(cost_usd) AS cost_usd,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(CASE WHEN response_cache_hit THEN 1 ELSE 0 END) AS response_cache_hits,
        SUM(CASE WHEN response_cache_hit IS NOT NULL THEN 1 ELSE 0 END) AS response_cache_known
    FROM scoped
    GROUP BY period, task_type, agent_name, model, provider
),
totals AS (
    -- call_totals.sql's columns per group: summed over by_model, and over by_task for the users
    SELECT
        dim, group_key, gid, period,
        SUM(calls) AS calls,
        SUM(unpriced_calls) AS unpriced_calls,
        SUM(cost_usd) AS total_cost_usd,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        SUM(response_cache_hits) AS response_cache_hits,
        SUM(response_cache_known) AS response_cache_known
    FROM (
        SELECT
            'none' AS dim, CAST(NULL AS VARCHAR) AS group_key, 'none' AS gid,
            period, calls, unpriced_calls, cost_usd, input_tokens, output_tokens, cache_read_tokens,
            response_cache_hits, response_cache_known
        FROM by_model
        UNION ALL
        SELECT
            'task_type', task_type, 'task_type' || COALESCE('=' || task_type, ''),
            period, calls, unpriced_calls, cost_usd, input_tokens, output_tokens, cache_read_tokens,
            response_cache_hits, response_cache_known
        FROM by_model
        UNION ALL
        SELECT
            'agent', agent_name, 'agent' || COALESCE('=' || agent_name, ''),
            period, calls, unpriced_calls, cost_usd, input_tokens, output_tokens, cache_read_tokens,
            response_cache_hits, response_cache_known
        FROM by_model
        UNION ALL
        SELECT
            'user', user_id, 'user' || COALESCE('=' || user_id, ''),
            period, calls, unpriced_calls, cost_usd, input_tokens, output_tokens, cache_read_tokens,
            response_cache_hits, response_cache_known
        FROM by_task
    ) AS grouped
    GROUP BY dim, group_key, gid, period
),
kept AS (
    -- the totals and the $top most expensive current keys of each dimension
    SELECT 'none' AS gid
    UNION ALL
    SELECT gid
    FROM (
        SELECT
            gid,
            ROW_NUMBER() OVER (
                PARTITION BY dim
                ORDER BY
                    total_cost_usd IS NULL, COALESCE(total_cost_usd, 0) DESC, COALESCE(group_key, ''),
                    group_key IS NULL
            ) AS rank
        FROM totals
        WHERE period = 'current' AND dim <> 'none'
    ) AS ranked
    WHERE rank <= $top
),
per_task AS (
    -- each task's calls per group: of every task type and agent (few keys), of the kept users only
    SELECT
        gid, period, project_id, source, trace_id,
        SUM(calls) AS calls,
        SUM(cost_usd) AS cost_usd,
        SUM(error_calls) AS error_calls,
        SUM(error_cost_usd) AS error_cost_usd
    FROM (
        SELECT 'none' AS gid, period, project_id, source, trace_id, calls, cost_usd, error_calls, error_cost_usd
        FROM by_task
        UNION ALL
        SELECT
            'task_type' || COALESCE('=' || task_type, ''),
            period, project_id, source, trace_id, calls, cost_usd, error_calls, error_cost_usd
        FROM by_task
        UNION ALL
        SELECT
            'agent' || COALESCE('=' || agent_name, ''),
            period, project_id, source, trace_id, calls, cost_usd, error_calls, error_cost_usd
        FROM by_task
        UNION ALL
        SELECT
            'user' || COALESCE('=' || user_id, ''),
            period, project_id, source, trace_id, calls, cost_usd, error_calls, error_cost_usd
        FROM by_task
        WHERE 'user' || COALESCE('=' || user_id, '') IN (SELECT gid FROM kept)
    ) AS keyed
    GROUP BY gid, period, project_id, source, trace_id
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM by_task
),
{task_outcome},
tasks AS (
    SELECT
        p.gid, p.period,
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
    GROUP BY p.gid, p.period
),
per_session AS (
    SELECT
        period, session_key,
        SUM(calls) AS calls,
        SUM(unpriced_calls) AS unpriced_calls,
        SUM(cost_usd) AS cost_usd,
        MIN(agent_name) AS agent_name,
        MIN(user_id) AS user_id
    FROM by_task
    GROUP BY period, session_key
),
sessions AS (
    SELECT
        'none' AS gid, period,
        COUNT(*) AS sessions,
        quantile_cont(cost_usd, 0.95) AS p95_session_cost_usd
    FROM per_session
    GROUP BY period
),
top_sessions AS (
    -- top_sessions.sql's rank: cost (unpriced last), calls, then the session
    SELECT *
    FROM (
        SELECT
            session_key, calls, unpriced_calls, cost_usd, agent_name, user_id,
            ROW_NUMBER() OVER (ORDER BY cost_usd DESC NULLS LAST, calls DESC, session_key) AS rank
        FROM per_session
        WHERE period = 'current'
    ) AS ranked
    WHERE rank <= $top
),
session_tasks AS (
    -- the tasks of the top sessions (a task is a distinct source and trace of the session in the window)
    SELECT
        t.session_key,
        COUNT(*) AS tasks,
        SUM(CASE WHEN o.outcome = 'success' THEN 1 ELSE 0 END) AS completed_tasks,
        SUM(CASE WHEN o.outcome = 'failure' THEN 1 ELSE 0 END) AS failed_tasks
    FROM (
        SELECT DISTINCT session_key, project_id, source, trace_id
        FROM by_task
        WHERE period = 'current' AND session_key IN (SELECT session_key FROM top_sessions)
    ) AS t
    JOIN outcomes AS o ON o.project_id = t.project_id AND o.source = t.source AND o.trace_id = t.trace_id
    GROUP BY t.session_key
),
kept_users AS (
    SELECT
        'user' || COALESCE('=' || user_id, '') AS gid, period, model, provider,
        COUNT(*) AS calls, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
        SUM(cost_usd) AS cost_usd
    FROM scoped
    WHERE 'user' || COALESCE('=' || user_id, '') IN (SELECT gid FROM kept)
    GROUP BY user_id, period, model, provider
),
mix AS (
    SELECT
        gid, period, model, provider,
        SUM(calls) AS model_calls,
        SUM(input_tokens) AS model_input_tokens,
        SUM(output_tokens) AS model_output_tokens,
        SUM(cost_usd) AS model_cost_usd
    FROM (
        SELECT 'none' AS gid, period, model, provider, calls, input_tokens, output_tokens, cost_usd
        FROM by_model
        UNION ALL
        SELECT 'task_type' || COALESCE('=' || task_type, ''), period, model, provider, calls, input_tokens,
            output_tokens, cost_usd
        FROM by_model
        UNION ALL
        SELECT 'agent' || COALESCE('=' || agent_name, ''), period, model, provider, calls, input_tokens,
            output_tokens, cost_usd
        FROM by_model
        UNION ALL
        SELECT gid, period, model, provider, calls, input_tokens, output_tokens, cost_usd
        FROM kept_users
    ) AS models
    GROUP BY gid, period, model, provider
)
SELECT
    -- integer sums as BIGINT on every engine (DuckDB would widen sums of sums to HUGEINT)
    t.dim, t.period, t.group_key, m.model, m.provider,
    CAST(m.model_calls AS BIGINT) AS model_calls,
    CAST(m.model_input_tokens AS BIGINT) AS model_input_tokens,
    CAST(m.model_output_tokens AS BIGINT) AS model_output_tokens,
    m.model_cost_usd,
    CAST(t.calls AS BIGINT) AS calls,
    CAST(t.unpriced_calls AS BIGINT) AS unpriced_calls,
    t.total_cost_usd,
    CAST(t.input_tokens AS BIGINT) AS input_tokens,
    CAST(t.output_tokens AS BIGINT) AS output_tokens,
    CAST(t.cache_read_tokens AS BIGINT) AS cache_read_tokens,
    CAST(t.response_cache_hits AS BIGINT) AS response_cache_hits,
    CAST(t.response_cache_known AS BIGINT) AS response_cache_known,
    CAST(k.tasks AS BIGINT) AS tasks,
    CAST(k.completed_tasks AS BIGINT) AS completed_tasks,
    CAST(k.failed_tasks AS BIGINT) AS failed_tasks,
    k.completed_cost_usd,
    CAST(k.completed_calls AS BIGINT) AS completed_calls,
    k.failed_task_cost_usd,
    CAST(k.failed_task_calls AS BIGINT) AS failed_task_calls,
    k.failed_call_cost_usd,
    CAST(k.failed_call_calls AS BIGINT) AS failed_call_calls,
    CAST(s.sessions AS BIGINT) AS sessions,
    s.p95_session_cost_usd,
    CAST(NULL AS BIGINT) AS rank, CAST(NULL AS VARCHAR) AS agent_name, CAST(NULL AS VARCHAR) AS user_id
FROM mix AS m
JOIN kept AS g ON g.gid = m.gid
JOIN totals AS t ON t.gid = m.gid AND t.period = m.period
JOIN tasks AS k ON k.gid = m.gid AND k.period = m.period
LEFT JOIN sessions AS s ON s.gid = m.gid AND s.period = m.period
UNION ALL
SELECT
    'session', 'current', s.session_key, NULL, NULL, NULL, NULL, NULL, NULL,
    CAST(s.calls AS BIGINT), CAST(s.unpriced_calls AS BIGINT), s.cost_usd, NULL, NULL, NULL, NULL, NULL,
    CAST(k.tasks AS BIGINT), CAST(k.completed_tasks AS BIGINT), CAST(k.failed_tasks AS BIGINT), NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL,
    CAST(s.rank AS BIGINT), s.agent_name, s.user_id
FROM top_sessions AS s
JOIN session_tasks AS k ON k.session_key = s.session_key
