-- Runaway tasks: traces with a call in the window (and scope) whose whole trace made more than $max_calls
-- LLM calls or cost more than $max_cost_usd (either limit may be NULL: not checked). Counted over the
-- whole trace, like task outcomes, so a loop that started before the window is still seen whole.
-- `offending` is the number of such traces; rows are the $limit costliest (unpriced-only ones last).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM calls AS c
    WHERE {call_filters}
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM scoped
),
per_trace AS (
    SELECT
        c.source, c.trace_id,
        MIN(COALESCE(c.session_id, c.trace_id)) AS session_key,
        MIN(c.agent_name) AS agent_name,
        MIN(c.task_type) AS task_type,
        COUNT(*) AS calls,
        SUM(c.cost_usd) AS cost_usd,
        MIN(c.started_at) AS started_at,
        MAX(c.started_at) AS last_call_at
    FROM calls AS c
    JOIN traces AS t ON c.project_id = t.project_id AND c.source = t.source AND c.trace_id = t.trace_id
    GROUP BY c.source, c.trace_id
),
offenders AS (
    SELECT
        per_trace.*,
        COUNT(*) OVER () AS offending,
        ROW_NUMBER() OVER (ORDER BY cost_usd DESC NULLS LAST, calls DESC, trace_id, source) AS rank
    FROM per_trace
    WHERE ($max_calls IS NOT NULL AND calls > $max_calls)
       OR ($max_cost_usd IS NOT NULL AND cost_usd > $max_cost_usd)
)
SELECT
    rank, source, trace_id, session_key, agent_name, task_type, calls, cost_usd, started_at, last_call_at,
    offending
FROM offenders
WHERE rank <= $limit
ORDER BY rank
