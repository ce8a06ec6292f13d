-- Whole call rows in scope, one page at a time in a stable order (identity and start never change on a
-- re-price, so OFFSET paging sees every call once), for re-pricing with the current prices.
WITH scoped AS (
    -- the calls in the window [since, until) that pass the filters; group_key comes from an allow-listed expression
    SELECT c.*, {group} AS group_key
    FROM calls AS c
    WHERE {call_filters}
)
SELECT *
FROM scoped
ORDER BY started_at, source, trace_id, span_id
LIMIT $limit OFFSET $offset
