-- Where money went to waste, by reason, per group: dollars, calls, traces and the costliest example traces.
-- Reasons (a call can carry several; only the first two are DESIGN.md's waste_usd and they never overlap):
--   failed_task       every call in scope of a task whose outcome is failure (task_outcome slot);
--   failed_call       an error call in scope of a task whose outcome is success (retries, failed tools);
--   runaway_loop      calls past step $runaway_threshold of their task, and repeats (2nd and later) of a
--                     prompt_hash sent 3 times or more in the trace: the spend past where the loop should stop;
--   duplicate_call    a call whose prompt_hash was already sent earlier in the same trace (all but the first);
--   truncated_output  finish_reason length (OpenAI), max_tokens (Anthropic) or MAX_TOKENS (Gemini).
-- Steps and repeats count over the whole trace (earlier calls may be outside the window), like outcomes.
-- Every row carries its reason's totals; rows are the reason's top $examples traces by cost.
-- Without window functions over the traces' calls: repeats come from one grouped pass per (trace, prompt)
-- (how many times, and the first call by started_at then span_id), and steps are numbered only in the
-- traces longer than $runaway_threshold calls, the only ones where a step can pass it. The calls in scope are
-- joined to their outcome once; the repeats and late steps, usually few, are joined to them (not the reverse).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id, c.status, c.cost_usd, c.prompt_hash, c.finish_reason,
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
    SELECT s.group_key, s.source, s.trace_id, s.cost_usd, s.status, s.finish_reason, o.outcome
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
)
SELECT
    group_key, reason,
    reason_cost_usd AS cost_usd,
    reason_calls AS calls,
    reason_unpriced_calls AS unpriced_calls,
    reason_traces AS traces,
    example_rank, trace_id AS example_trace_id, cost_usd AS example_cost_usd
FROM ranked
WHERE example_rank <= $examples
ORDER BY group_key, reason, example_rank
