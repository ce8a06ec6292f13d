-- Tasks (traces with at least one call in scope), their outcome, and the cost that went to waste.
-- The outcome of a trace comes from the task_outcome slot (sql/queries/fragments/task_outcome.sql, the rules of
-- DESIGN.md); it looks at the whole trace, so a task keeps one outcome whatever the window or filters;
-- costs are summed over the calls in scope only.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM scoped
),
{task_outcome},
per_task AS (
    SELECT
        group_key, project_id, source, trace_id,
        COUNT(*) AS calls,
        SUM(cost_usd) AS cost_usd,
        SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_calls,
        SUM(CASE WHEN status = 'error' THEN cost_usd END) AS error_cost_usd
    FROM scoped
    GROUP BY group_key, project_id, source, trace_id
)
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
