-- Where money went to waste, by reason, per group: dollars, calls, traces and the costliest example traces.
-- Reasons (a call can carry several; only the first two are DESIGN.md's waste_usd and they never overlap):
--   failed_task       every call in scope of a task whose outcome is failure (task_outcome slot);
--   failed_call       an error call in scope of a task whose outcome is success (retries, failed tools);
--   runaway_loop      calls past step $runaway_threshold of their task, and repeats (2nd and later) of a
--                     prompt_hash sent 3 times or more in the trace: the spend past where the loop should stop;
--   duplicate_call    a call whose prompt_hash was already sent earlier in the same trace (all but the first);
--   truncated_output  finish_reason length (OpenAI), max_tokens (Anthropic) or MAX_TOKENS (Gemini).
-- Steps and repeats count over the whole trace (earlier calls may be outside the window), like outcomes.
-- Every row carries its reason's totals; rows are the reason's top $examples traces by cost (kind 'reason').
-- Rows of kind 'cell' follow: per group and (agent, task type, model) of the calls in scope, their calls, cost
-- and unpriced calls, and those of the two waste reasons (failed_task_*, failed_call_*), so that the scope's
-- totals and the waste split by any of the three dimensions need no second pass over the tasks' outcomes
-- (analytics.waste.waste_summary). Columns that do not apply to a row's kind are NULL.
-- Without window functions over the traces' calls: repeats come from one grouped pass per (trace, prompt)
-- (how many times, and the first call by started_at then span_id), and steps are numbered only in the
-- traces longer than $runaway_threshold calls, the only ones where a step can pass it. The calls in scope are
-- joined to their outcome once; the repeats and late steps, usually few, are joined to them (not the reverse).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id, c.status, c.cost_usd, c.prompt_hash, c.finish_reason,
        c.agent_name, c.task_type, c.model,
        {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM scoped
),
{task_outcome},
prompts AS (
    -- every call of the traces in scope, per prompt (a NULL prompt_hash is a group too, for the trace's length)
    SELECT
        c.project_id, c.source, c.trace_id, c.prompt_hash,
        COUNT(*) AS sent,
        arg_min(c.span_id, (c.started_at, c.span_id)) AS first_span_id
    FROM calls AS c
    WHERE c.trace_id IN (SELECT trace_id FROM traces)
    GROUP BY c.project_id, c.source, c.trace_id, c.prompt_hash
),
repeats AS (
    SELECT project_id, source, trace_id, prompt_hash, sent, first_span_id
    FROM prompts
    WHERE prompt_hash IS NOT NULL AND sent > 1
),
long_traces AS (
    SELECT project_id, source, trace_id
    FROM prompts
    GROUP BY project_id, source, trace_id
    HAVING SUM(sent) > $runaway_threshold
),
steps AS (
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id,
        ROW_NUMBER() OVER (
            PARTITION BY c.project_id, c.source, c.trace_id ORDER BY c.started_at, c.span_id
        ) AS step
    FROM calls AS c
    JOIN long_traces AS l ON l.project_id = c.project_id AND l.source = c.source AND l.trace_id = c.trace_id
),
judged AS (
    -- every call in scope with its task's outcome
    SELECT
        s.group_key, s.source, s.trace_id, s.cost_usd, s.status, s.finish_reason, s.agent_name, s.task_type, s.model,
        o.outcome
    FROM scoped AS s
    JOIN outcomes AS o ON o.project_id = s.project_id AND o.source = s.source AND o.trace_id = s.trace_id
),
repeated AS (
    -- the calls in scope that repeat an earlier prompt of their trace (small: joined from the repeats)
    SELECT
        s.group_key, s.source, s.trace_id, s.span_id, s.cost_usd,
        CASE WHEN r.sent >= 3 THEN 1 ELSE 0 END AS looping
    FROM repeats AS r
    JOIN scoped AS s
        ON s.project_id = r.project_id AND s.source = r.source AND s.trace_id = r.trace_id
        AND s.prompt_hash = r.prompt_hash
    WHERE s.span_id <> r.first_span_id
),
late_steps AS (
    -- the calls in scope past step $runaway_threshold of their task
    SELECT s.group_key, s.source, s.trace_id, s.span_id, s.cost_usd
    FROM steps AS p
    JOIN scoped AS s
        ON s.project_id = p.project_id AND s.source = p.source AND s.trace_id = p.trace_id AND s.span_id = p.span_id
    WHERE p.step > $runaway_threshold
),
runaway AS (
    -- either reason, each call once
    SELECT group_key, source, trace_id, span_id, cost_usd FROM repeated WHERE looping = 1
    UNION
    SELECT group_key, source, trace_id, span_id, cost_usd FROM late_steps
),
reasons AS (
    SELECT group_key, 'failed_task' AS reason, source, trace_id, cost_usd FROM judged WHERE outcome = 'failure'
    UNION ALL
    SELECT group_key, 'failed_call' AS reason, source, trace_id, cost_usd FROM judged
    WHERE outcome = 'success' AND status = 'error'
    UNION ALL
    SELECT group_key, 'runaway_loop' AS reason, source, trace_id, cost_usd FROM runaway
    UNION ALL
    SELECT group_key, 'duplicate_call' AS reason, source, trace_id, cost_usd FROM repeated
    UNION ALL
    SELECT group_key, 'truncated_output' AS reason, source, trace_id, cost_usd FROM judged
    WHERE LOWER(finish_reason) IN ('length', 'max_tokens')
),
per_trace AS (
    SELECT
        group_key, reason, source, trace_id,
        COUNT(*) AS calls,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
        SUM(cost_usd) AS cost_usd
    FROM reasons
    GROUP BY group_key, reason, source, trace_id
),
ranked AS (
    SELECT
        group_key, reason, source, trace_id, cost_usd,
        SUM(calls) OVER (PARTITION BY group_key, reason) AS reason_calls,
        SUM(unpriced_calls) OVER (PARTITION BY group_key, reason) AS reason_unpriced_calls,
        SUM(cost_usd) OVER (PARTITION BY group_key, reason) AS reason_cost_usd,
        COUNT(*) OVER (PARTITION BY group_key, reason) AS reason_traces,
        ROW_NUMBER() OVER (
            PARTITION BY group_key, reason ORDER BY cost_usd DESC NULLS LAST, calls DESC, trace_id, source
        ) AS example_rank
    FROM per_trace
),
cells AS (
    -- per group and (agent, task type, model): every call in scope, and the calls of the two waste reasons
    SELECT
        group_key, agent_name, task_type, model,
        SUM(calls) AS calls,
        SUM(unpriced_calls) AS unpriced_calls,
        SUM(cost_usd) AS cost_usd,
        SUM(failed_task_calls) AS failed_task_calls,
        SUM(failed_task_cost_usd) AS failed_task_cost_usd,
        SUM(failed_call_calls) AS failed_call_calls,
        SUM(failed_call_cost_usd) AS failed_call_cost_usd
    FROM (
        SELECT
            group_key, agent_name, task_type, model,
            COUNT(*) AS calls,
            SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,
            SUM(cost_usd) AS cost_usd,
            0 AS failed_task_calls,
            CAST(NULL AS DOUBLE) AS failed_task_cost_usd,
            0 AS failed_call_calls,
            CAST(NULL AS DOUBLE) AS failed_call_cost_usd
        FROM scoped
        GROUP BY group_key, agent_name, task_type, model
        UNION ALL
        SELECT
            group_key, agent_name, task_type, model,
            0 AS calls,
            0 AS unpriced_calls,
            CAST(NULL AS DOUBLE) AS cost_usd,
            SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failed_task_calls,
            SUM(CASE WHEN outcome = 'failure' THEN cost_usd END) AS failed_task_cost_usd,
            SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS failed_call_calls,
            SUM(CASE WHEN outcome = 'success' THEN cost_usd END) AS failed_call_cost_usd
        FROM judged
        WHERE outcome = 'failure' OR (outcome = 'success' AND status = 'error')
        GROUP BY group_key, agent_name, task_type, model
    ) AS parts
    GROUP BY group_key, agent_name, task_type, model
)
SELECT *
FROM (
    -- integer columns cast alike in both parts (ClickHouse has no common type for its signed and unsigned ones)
    SELECT
        'reason' AS kind, group_key, reason,
        reason_cost_usd AS cost_usd,
        CAST(reason_calls AS BIGINT) AS calls,
        CAST(reason_unpriced_calls AS BIGINT) AS unpriced_calls,
        CAST(reason_traces AS BIGINT) AS traces,
        CAST(example_rank AS BIGINT) AS example_rank, trace_id AS example_trace_id, cost_usd AS example_cost_usd,
        CAST(NULL AS VARCHAR) AS agent_name, CAST(NULL AS VARCHAR) AS task_type, CAST(NULL AS VARCHAR) AS model,
        CAST(NULL AS BIGINT) AS failed_task_calls, CAST(NULL AS DOUBLE) AS failed_task_cost_usd,
        CAST(NULL AS BIGINT) AS failed_call_calls, CAST(NULL AS DOUBLE) AS failed_call_cost_usd
    FROM ranked
    WHERE example_rank <= $examples
    UNION ALL
    SELECT
        'cell' AS kind, group_key, CAST(NULL AS VARCHAR) AS reason,
        cost_usd, CAST(calls AS BIGINT) AS calls, CAST(unpriced_calls AS BIGINT) AS unpriced_calls,
        CAST(NULL AS BIGINT) AS traces, CAST(NULL AS BIGINT) AS example_rank, CAST(NULL AS VARCHAR) AS example_trace_id,
        CAST(NULL AS DOUBLE) AS example_cost_usd,
        agent_name, task_type, model,
        CAST(failed_task_calls AS BIGINT) AS failed_task_calls, failed_task_cost_usd,
        CAST(failed_call_calls AS BIGINT) AS failed_call_calls, failed_call_cost_usd
    FROM cells
) AS result_rows
ORDER BY kind DESC, group_key, reason, example_rank, agent_name, task_type, model
