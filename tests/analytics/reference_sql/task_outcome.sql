-- Reference: the straightforward formulation this query had before it was rewritten for speed, kept as the
-- specification the fast one in sql/queries/ is checked against (tests/analytics/test_query_rewrites.py).
-- The one definition of a task's outcome, shared by every query that needs it (template slot "task_outcome").
-- Expects a CTE `traces (project_id, source, trace_id)` before it; defines `outcomes (project_id, source,
-- trace_id, outcome)`, one row per trace, outcome 'success' or 'failure'.
-- Outcome of a trace, first rule that applies (DESIGN.md "Tasks, sessions and outcomes"):
--   1. an explicit outcome on any span (failure wins over success);
--   2. a source's own task-level signal (same precedence);
--   3. the status of the trace's root when there is exactly one root and its status is set
--      (a parentless span; a parentless call without a span row is its own root);
--   4. success unless the trace's last LLM call (by started_at) errored.
-- Outcomes look at the whole trace, not only the calls in scope, so a task keeps one outcome
-- whatever the window or filters.
signals AS (
    SELECT
        s.project_id, s.source, s.trace_id,
        MAX(CASE WHEN s.outcome = 'failure' THEN 1 ELSE 0 END) AS explicit_failure,
        MAX(CASE WHEN s.outcome = 'success' THEN 1 ELSE 0 END) AS explicit_success,
        MAX(CASE WHEN s.source_outcome = 'failure' THEN 1 ELSE 0 END) AS source_failure,
        MAX(CASE WHEN s.source_outcome = 'success' THEN 1 ELSE 0 END) AS source_success
    FROM spans AS s
    JOIN traces AS t ON s.project_id = t.project_id AND s.source = t.source AND s.trace_id = t.trace_id
    GROUP BY s.project_id, s.source, s.trace_id
),
roots AS (
    SELECT s.project_id, s.source, s.trace_id, s.span_id, s.status
    FROM spans AS s
    JOIN traces AS t ON s.project_id = t.project_id AND s.source = t.source AND s.trace_id = t.trace_id
    WHERE s.parent_span_id IS NULL OR s.parent_span_id = ''
    UNION ALL
    SELECT c.project_id, c.source, c.trace_id, c.span_id, c.status
    FROM calls AS c
    JOIN traces AS t ON c.project_id = t.project_id AND c.source = t.source AND c.trace_id = t.trace_id
    WHERE (c.parent_span_id IS NULL OR c.parent_span_id = '')
      AND NOT EXISTS (
          SELECT 1 FROM spans AS s2
          WHERE s2.project_id = c.project_id AND s2.source = c.source
            AND s2.trace_id = c.trace_id AND s2.span_id = c.span_id
      )
),
root_status AS (
    SELECT project_id, source, trace_id, COUNT(*) AS roots, MIN(status) AS status
    FROM roots
    GROUP BY project_id, source, trace_id
),
ranked_calls AS (
    SELECT
        c.project_id, c.source, c.trace_id, c.status,
        ROW_NUMBER() OVER (
            PARTITION BY c.project_id, c.source, c.trace_id
            ORDER BY c.started_at DESC, c.span_id DESC
        ) AS rn
    FROM calls AS c
    JOIN traces AS t ON c.project_id = t.project_id AND c.source = t.source AND c.trace_id = t.trace_id
),
outcomes AS (
    SELECT
        t.project_id, t.source, t.trace_id,
        CASE
            WHEN g.explicit_failure = 1 THEN 'failure'
            WHEN g.explicit_success = 1 THEN 'success'
            WHEN g.source_failure = 1 THEN 'failure'
            WHEN g.source_success = 1 THEN 'success'
            WHEN r.roots = 1 AND r.status = 'error' THEN 'failure'
            WHEN r.roots = 1 AND r.status = 'ok' THEN 'success'
            WHEN l.status = 'error' THEN 'failure'
            ELSE 'success'
        END AS outcome
    FROM traces AS t
    LEFT JOIN signals AS g ON g.project_id = t.project_id AND g.source = t.source AND g.trace_id = t.trace_id
    LEFT JOIN root_status AS r ON r.project_id = t.project_id AND r.source = t.source AND r.trace_id = t.trace_id
    LEFT JOIN ranked_calls AS l
        ON l.project_id = t.project_id AND l.source = t.source AND l.trace_id = t.trace_id AND l.rn = 1
)
