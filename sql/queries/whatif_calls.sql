-- The calls a what-if replay reprices: one row per LLM call in the window [since, until) that passes the
-- filters, with its token volumes, hashes, recorded cost and how it was priced, and the outcome of its task
-- (task_outcome slot, sql/queries/fragments/task_outcome.sql).
--
-- A call's step is its position among all LLM calls of its trace by start time (then span id), counted from
-- the trace's first call even when that one is outside the window or the filters. Most traces lie wholly in
-- scope, and there the step is the call's position among the trace's rows here: `step` is NULL for them and
-- analytics.whatif.load_calls numbers those rows itself (they come unordered; it orders them by start time
-- then identity, the order the replay walks caches in). Only the calls of the traces with calls out of scope
-- are numbered here, among all the trace's calls.
--
-- Cost: the scope reads only the columns returned; the calls are joined once to their trace's outcome and
-- looked up by identity only in the (few) traces partly out of scope. Numbering every trace's calls here
-- and sorting the rows here (each carrying every column) took most of the query's time.
WITH scoped AS (
    -- the ledger (one row per call across sources, sql/ddl/<dialect>/003_ledger_view.sql), as the metrics read it
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id, c.session_id, c.agent_name, c.task_type,
        c.provider, c.model, c.model_requested, c.operation, c.started_at,
        c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, c.output_tokens, c.reasoning_tokens,
        c.max_tokens, c.finish_reason, c.status, c.response_cache_hit, c.prompt_hash, c.prefix_hash, c.tags,
        c.cost_usd, c.cost_source
    FROM ledger_calls AS c
    WHERE {call_filters}
),
traces AS (
    SELECT project_id, source, trace_id, COUNT(*) AS scoped_calls
    FROM scoped
    GROUP BY project_id, source, trace_id
),
{task_outcome},
partial AS (
    -- the traces with more LLM calls than the scope holds
    SELECT t.project_id, t.source, t.trace_id
    FROM (
        SELECT c.project_id, c.source, c.trace_id, COUNT(*) AS calls
        FROM calls AS c
        WHERE c.trace_id IN (SELECT trace_id FROM traces)
        GROUP BY c.project_id, c.source, c.trace_id
    ) AS z
    JOIN traces AS t ON t.project_id = z.project_id AND t.source = z.source AND t.trace_id = z.trace_id
    WHERE z.calls > t.scoped_calls
),
positions AS (
    -- every LLM call of those traces, numbered by start time
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id,
        ROW_NUMBER() OVER (
            PARTITION BY c.project_id, c.source, c.trace_id ORDER BY c.started_at, c.span_id
        ) AS step
    FROM calls AS c
    JOIN partial AS p ON c.project_id = p.project_id AND c.source = p.source AND c.trace_id = p.trace_id
    -- the semi-join reads only those traces' calls and tells the planner they are few, so that the scope's
    -- rows look steps up here rather than these being looked up in a hash table of every row in scope
    WHERE c.trace_id IN (SELECT trace_id FROM partial)
)
SELECT
    s.project_id, s.source, s.trace_id, s.span_id, s.session_id, s.agent_name, s.task_type,
    s.provider, s.model, s.model_requested, s.operation, s.started_at,
    s.input_tokens, s.cache_read_tokens, s.cache_write_tokens, s.output_tokens, s.reasoning_tokens,
    s.max_tokens, s.finish_reason, s.status, s.response_cache_hit, s.prompt_hash, s.prefix_hash, s.tags,
    s.cost_usd, s.cost_source,
    o.outcome, p.step
FROM scoped AS s
JOIN outcomes AS o ON o.project_id = s.project_id AND o.source = s.source AND o.trace_id = s.trace_id
LEFT JOIN positions AS p
    ON p.project_id = s.project_id AND p.source = s.source AND p.trace_id = s.trace_id AND p.span_id = s.span_id
