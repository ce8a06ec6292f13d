-- The one definition of a task's outcome, shared by every query that needs it (template slot "task_outcome").
-- Expects a CTE `traces (project_id, source, trace_id)` before it; defines `outcomes (project_id, source,
-- trace_id, outcome)`, one row per trace, outcome 'success' or 'failure'.
-- Outcome of a trace, first rule that applies (DESIGN.md "Tasks, sessions and outcomes"):
--   1. an explicit outcome on any span (failure wins over success);
--   2. a source's own task-level signal (same precedence);
--   3. the status of the trace's root when there is exactly one root and its status is set
--      (a parentless span; a parentless call without a span row is its own root);
--   4. success unless the trace's last LLM call (by started_at, then span_id) errored.
-- Outcomes look at the whole trace, not only the calls in scope, so a task keeps one outcome
-- whatever the window or filters.
--
-- Cost: one grouped pass over the spans that can decide an outcome (those with an outcome or without a
-- parent), restricted to the traces in scope by a semi-join on trace_id (the exact (project_id, source,
-- trace_id) match is the LEFT JOINs'); no window function. Parentless calls, usually none, are the only
-- calls looked up in `spans` by identity, among the spans sharing their span ids only. The calls of a trace
-- are grouped (its last call) only for the traces that rules 1-3 leave undecided.
trace_signals AS (
    SELECT
        s.project_id, s.source, s.trace_id,
        MAX(CASE WHEN s.outcome = 'failure' THEN 1 ELSE 0 END) AS explicit_failure,
        MAX(CASE WHEN s.outcome = 'success' THEN 1 ELSE 0 END) AS explicit_success,
        MAX(CASE WHEN s.source_outcome = 'failure' THEN 1 ELSE 0 END) AS source_failure,
        MAX(CASE WHEN s.source_outcome = 'success' THEN 1 ELSE 0 END) AS source_success,
        SUM(CASE WHEN s.parent_span_id IS NULL OR s.parent_span_id = '' THEN 1 ELSE 0 END) AS span_roots,
        MIN(CASE WHEN s.parent_span_id IS NULL OR s.parent_span_id = '' THEN s.status END) AS span_root_status
    FROM spans AS s
    WHERE s.trace_id IN (SELECT trace_id FROM traces)
      AND (s.outcome IS NOT NULL OR s.source_outcome IS NOT NULL OR s.parent_span_id IS NULL OR s.parent_span_id = '')
    GROUP BY s.project_id, s.source, s.trace_id
),
root_calls AS (
    -- parentless calls of the traces in scope (usually none)
    SELECT c.project_id, c.source, c.trace_id, c.span_id, c.status
    FROM calls AS c
    WHERE c.trace_id IN (SELECT trace_id FROM traces)
      AND (c.parent_span_id IS NULL OR c.parent_span_id = '')
),
call_roots AS (
    -- parentless calls with no span row of the same identity (written around the pipeline) are roots too
    SELECT c.project_id, c.source, c.trace_id, COUNT(*) AS call_roots, MIN(c.status) AS call_root_status
    FROM root_calls AS c
    LEFT JOIN (
        SELECT project_id, source, trace_id, span_id FROM spans
        WHERE span_id IN (SELECT span_id FROM root_calls)
    ) AS s
        ON s.project_id = c.project_id AND s.source = c.source AND s.trace_id = c.trace_id AND s.span_id = c.span_id
    WHERE s.span_id IS NULL
    GROUP BY c.project_id, c.source, c.trace_id
),
decided AS (
    -- rules 1-3; NULL where none applies
    SELECT
        t.project_id, t.source, t.trace_id,
        CASE
            WHEN g.explicit_failure = 1 THEN 'failure'
            WHEN g.explicit_success = 1 THEN 'success'
            WHEN g.source_failure = 1 THEN 'failure'
            WHEN g.source_success = 1 THEN 'success'
            -- exactly one root: then at most one of the two root sets is non-empty
            WHEN COALESCE(g.span_roots, 0) + COALESCE(r.call_roots, 0) = 1
                AND COALESCE(g.span_root_status, r.call_root_status) = 'error' THEN 'failure'
            WHEN COALESCE(g.span_roots, 0) + COALESCE(r.call_roots, 0) = 1
                AND COALESCE(g.span_root_status, r.call_root_status) = 'ok' THEN 'success'
        END AS outcome
    FROM traces AS t
    LEFT JOIN trace_signals AS g ON g.project_id = t.project_id AND g.source = t.source AND g.trace_id = t.trace_id
    LEFT JOIN call_roots AS r ON r.project_id = t.project_id AND r.source = t.source AND r.trace_id = t.trace_id
),
last_calls AS (
    -- rule 4, for the undecided traces only
    SELECT c.project_id, c.source, c.trace_id, arg_max(c.status, (c.started_at, c.span_id)) AS status
    FROM calls AS c
    WHERE c.trace_id IN (SELECT trace_id FROM decided WHERE outcome IS NULL)
    GROUP BY c.project_id, c.source, c.trace_id
),
outcomes AS (
    SELECT
        d.project_id, d.source, d.trace_id,
        CASE
            WHEN d.outcome IS NOT NULL THEN d.outcome
            WHEN l.status = 'error' THEN 'failure'
            ELSE 'success'
        END AS outcome
    FROM decided AS d
    LEFT JOIN last_calls AS l ON l.project_id = d.project_id AND l.source = d.source AND l.trace_id = d.trace_id
)