-- Provider cache writes never read: a call that wrote to the prompt cache (cache_write_tokens > 0) with no
-- later call of the same model in the same session (session_id, else the trace) reading from the cache
-- (cache_read_tokens > 0) within 5 minutes of its start (Anthropic's default cache lifetime).
-- Later reads are looked for among all calls of those sessions, also outside the window.
-- Rows per group, provider, model and UTC day (the caller prices the write premium at that day's rates),
-- with the trace that left the most tokens unread as the example and the group's count of distinct traces.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
sessions AS (
    -- only sessions with a cache write in scope can leave one unread; the window below covers their calls
    SELECT DISTINCT project_id, COALESCE(session_id, trace_id) AS session_key FROM scoped WHERE cache_write_tokens > 0
),
cache_use AS (
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id,
        MIN(CASE WHEN c.cache_read_tokens > 0 THEN c.started_at END) OVER (
            PARTITION BY c.project_id, COALESCE(c.session_id, c.trace_id), c.model
            ORDER BY c.started_at, c.span_id
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        ) AS next_read_at
    FROM calls AS c
    JOIN sessions AS x ON c.project_id = x.project_id AND COALESCE(c.session_id, c.trace_id) = x.session_key
    WHERE c.cache_write_tokens > 0 OR c.cache_read_tokens > 0
),
unread AS (
    SELECT
        s.group_key, s.provider, s.model,
        CAST(CAST(date_trunc('day', s.started_at) AS DATE) AS VARCHAR) AS day,
        s.source, s.trace_id, s.cache_write_tokens
    FROM scoped AS s
    JOIN cache_use AS u
        ON u.project_id = s.project_id AND u.source = s.source AND u.trace_id = s.trace_id AND u.span_id = s.span_id
    WHERE s.cache_write_tokens > 0
      AND (u.next_read_at IS NULL OR u.next_read_at > s.started_at + INTERVAL 5 MINUTE)
),
per_trace AS (
    SELECT group_key, provider, model, day, source, trace_id,
        COUNT(*) AS calls, SUM(cache_write_tokens) AS cache_write_tokens
    FROM unread
    GROUP BY group_key, provider, model, day, source, trace_id
),
group_traces AS (
    SELECT group_key, COUNT(DISTINCT source || ':' || trace_id) AS traces FROM unread GROUP BY group_key
),
ranked AS (
    SELECT
        per_trace.*,
        ROW_NUMBER() OVER (
            PARTITION BY group_key, provider, model, day ORDER BY cache_write_tokens DESC, trace_id, source
        ) AS example_rank
    FROM per_trace
)
SELECT
    r.group_key, r.provider, r.model, r.day,
    SUM(r.calls) AS calls,
    SUM(r.cache_write_tokens) AS cache_write_tokens,
    MIN(CASE WHEN r.example_rank = 1 THEN r.trace_id END) AS example_trace_id,
    MIN(g.traces) AS group_traces
FROM ranked AS r
JOIN group_traces AS g ON g.group_key = r.group_key OR (g.group_key IS NULL AND r.group_key IS NULL)
GROUP BY r.group_key, r.provider, r.model, r.day
ORDER BY r.group_key, r.provider, r.model, r.day
