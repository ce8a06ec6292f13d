-- Input spent on a repeated prefix (system prompt + tool definitions, fingerprinted as prefix_hash), per group.
-- A call repeats a prefix when the same prefix_hash was sent earlier in its trace. The prefix's size is not
-- recorded, so it is estimated as the smallest input_tokens among the trace's calls that share it (an upper
-- bound: no call can send less than its prefix). repeated_prefix_cached_tokens is the part of those repeats
-- that the provider's prompt cache served (at most the prefix estimate, at most the call's cache reads).
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM ledger_calls AS c
    WHERE {call_filters}
),
traces AS (
    SELECT DISTINCT project_id, source, trace_id FROM scoped
),
prefixes AS (
    SELECT
        c.project_id, c.source, c.trace_id, c.span_id,
        ROW_NUMBER() OVER (
            PARTITION BY c.project_id, c.source, c.trace_id, c.prefix_hash ORDER BY c.started_at, c.span_id
        ) AS prefix_seen,
        MIN(c.input_tokens) OVER (PARTITION BY c.project_id, c.source, c.trace_id, c.prefix_hash) AS prefix_tokens
    FROM calls AS c
    JOIN traces AS t ON c.project_id = t.project_id AND c.source = t.source AND c.trace_id = t.trace_id
    WHERE c.prefix_hash IS NOT NULL
),
marked AS (
    SELECT
        s.group_key, s.input_tokens, s.cache_read_tokens, s.prefix_hash,
        CASE WHEN p.prefix_seen > 1 THEN p.prefix_tokens ELSE 0 END AS repeated_tokens
    FROM scoped AS s
    LEFT JOIN prefixes AS p
        ON p.project_id = s.project_id AND p.source = s.source AND p.trace_id = s.trace_id AND p.span_id = s.span_id
)
SELECT
    group_key,
    COUNT(*) AS calls,
    SUM(input_tokens) AS input_tokens,
    SUM(CASE WHEN prefix_hash IS NOT NULL THEN 1 ELSE 0 END) AS calls_with_prefix,
    SUM(CASE WHEN repeated_tokens > 0 THEN 1 ELSE 0 END) AS repeat_calls,
    SUM(repeated_tokens) AS repeated_prefix_tokens,
    SUM(CASE WHEN repeated_tokens < cache_read_tokens THEN repeated_tokens ELSE cache_read_tokens END)
        AS repeated_prefix_cached_tokens
FROM marked
GROUP BY group_key
ORDER BY group_key
