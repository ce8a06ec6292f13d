-- The most expensive sessions in scope (session_id, else the trace), per group: cost, tasks by outcome,
-- calls, tokens and duration. Cost and counts cover the calls in scope; each task's outcome is the
-- task_outcome slot's (whole trace). A session with several agents shows the alphabetically first.
-- The rank needs only each session's cost and size: the other columns and the tasks' outcomes (the costly
-- part) are computed for the $limit sessions kept per group only. A task is a distinct (source, trace_id) of
-- the session (the project is fixed by the filter).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT
        c.project_id, c.source, c.trace_id, c.session_id, c.agent_name, c.user_id, c.cost_usd,
        c.input_tokens, c.output_tokens, c.cache_read_tokens, c.started_at, c.ended_at,
        {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
ranked AS (
    -- every session's rank from its cost and size alone (cheap aggregates)
    SELECT
        group_key, session_key, calls, cost_usd,
        ROW_NUMBER() OVER (PARTITION BY group_key ORDER BY cost_usd DESC NULLS LAST, calls DESC, session_key) AS rank
    FROM (
        SELECT group_key, COALESCE(session_id, trace_id) AS session_key, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd
        FROM scoped
        GROUP BY group_key, COALESCE(session_id, trace_id)
    ) AS sized
),
kept AS (
    SELECT * FROM ranked WHERE rank <= $limit
),
kept_calls AS (
    SELECT s.*, k.session_key
    FROM scoped AS s
    JOIN kept AS k
        ON k.group_key IS NOT DISTINCT FROM s.group_key AND k.session_key = COALESCE(s.session_id, s.trace_id)
),
per_session AS (
    -- the details of the kept sessions only
    SELECT
        group_key, session_key,
        MIN(agent_name) AS agent_name,
        COUNT(DISTINCT agent_name) AS agents,
        MIN(user_id) AS user_id,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cache_read_tokens) AS cache_read_tokens,
        MIN(started_at) AS started_at,
        MAX(COALESCE(ended_at, started_at)) AS ended_at
    FROM kept_calls
    GROUP BY group_key, session_key
),
session_traces AS (
    -- the tasks of the kept sessions
    SELECT DISTINCT group_key, session_key, project_id, source, trace_id FROM kept_calls
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM session_traces
),
{task_outcome},
session_tasks AS (
    SELECT
        t.group_key, t.session_key,
        COUNT(*) AS tasks,
        COUNT(CASE WHEN o.outcome = 'success' THEN 1 END) AS completed_tasks,
        COUNT(CASE WHEN o.outcome = 'failure' THEN 1 END) AS failed_tasks
    FROM session_traces AS t
    JOIN outcomes AS o ON o.project_id = t.project_id AND o.source = t.source AND o.trace_id = t.trace_id
    GROUP BY t.group_key, t.session_key
)
SELECT
    k.group_key, k.rank, k.session_key, p.agent_name, p.agents, p.user_id, t.tasks, t.completed_tasks,
    t.failed_tasks, k.calls, p.unpriced_calls, p.input_tokens, p.output_tokens, p.cache_read_tokens, k.cost_usd,
    p.started_at, p.ended_at, date_diff('millisecond', p.started_at, p.ended_at) AS duration_ms
FROM kept AS k
JOIN per_session AS p ON p.group_key IS NOT DISTINCT FROM k.group_key AND p.session_key = k.session_key
JOIN session_tasks AS t ON t.group_key IS NOT DISTINCT FROM k.group_key AND t.session_key = k.session_key
ORDER BY k.group_key, k.rank
