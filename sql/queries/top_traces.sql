-- The most expensive traces (tasks) in scope, per group: cost, size, duration, outcome and context.
-- Cost and counts cover the calls in scope; the outcome is the task's (task_outcome slot, whole trace).
-- A trace that involves several agents shows the alphabetically first one and counts them in `agents`.
-- Ranked with ROW_NUMBER in a subquery (portable, unlike QUALIFY); unpriced-only traces rank last.
-- The rank needs only each trace's cost and size: the other columns and the outcome (the costly part) are
-- computed for the $limit traces kept per group only.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT
        c.project_id, c.source, c.trace_id, c.session_id, c.agent_name, c.task_type, c.user_id, c.status,
        c.cost_usd, c.input_tokens, c.output_tokens, c.cache_read_tokens, c.started_at, c.ended_at,
        {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
ranked AS (
    -- every trace's rank from its cost and size alone (cheap aggregates)
    SELECT
        group_key, project_id, source, trace_id, calls, cost_usd,
        ROW_NUMBER() OVER (
            PARTITION BY group_key
            ORDER BY cost_usd DESC NULLS LAST, calls DESC, trace_id, source
        ) AS rank
    FROM (
        SELECT group_key, project_id, source, trace_id, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd
        FROM scoped
        GROUP BY group_key, project_id, source, trace_id
    ) AS sized
),
kept AS (
    SELECT * FROM ranked WHERE rank <= $limit
),
per_trace AS (
    -- the details of the kept traces only
    SELECT
        s.group_key, s.project_id, s.source, s.trace_id,
        MIN(COALESCE(s.session_id, s.trace_id)) AS session_key,
        MIN(s.agent_name) AS agent_name,
        COUNT(DISTINCT s.agent_name) AS agents,
        MIN(s.task_type) AS task_type,
        MIN(s.user_id) AS user_id,
        SUM(CASE WHEN s.cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(CASE WHEN s.status = 'error' THEN 1 ELSE 0 END) AS error_calls,
        SUM(s.input_tokens) AS input_tokens,
        SUM(s.output_tokens) AS output_tokens,
        SUM(s.cache_read_tokens) AS cache_read_tokens,
        MIN(s.started_at) AS started_at,
        MAX(COALESCE(s.ended_at, s.started_at)) AS ended_at
    FROM scoped AS s
    JOIN kept AS k
        ON k.group_key IS NOT DISTINCT FROM s.group_key AND k.project_id = s.project_id AND k.source = s.source
        AND k.trace_id = s.trace_id
    GROUP BY s.group_key, s.project_id, s.source, s.trace_id
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM kept
),
{task_outcome}
SELECT
    k.group_key, k.rank, k.source, k.trace_id, p.session_key, p.agent_name, p.agents, p.task_type, p.user_id,
    o.outcome, k.calls, p.unpriced_calls, p.error_calls, p.input_tokens, p.output_tokens, p.cache_read_tokens,
    k.cost_usd, p.started_at, p.ended_at, date_diff('millisecond', p.started_at, p.ended_at) AS duration_ms
FROM kept AS k
JOIN per_trace AS p
    ON p.group_key IS NOT DISTINCT FROM k.group_key AND p.project_id = k.project_id AND p.source = k.source
    AND p.trace_id = k.trace_id
JOIN outcomes AS o ON o.project_id = k.project_id AND o.source = k.source AND o.trace_id = k.trace_id
ORDER BY k.group_key, k.rank
