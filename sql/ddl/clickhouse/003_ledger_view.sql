-- The ledger: one row per LLM call across sources (ClickHouse dialect of sql/ddl/duckdb/003_ledger_view.sql,
-- which explains the rule and the source priority: otlp > langfuse > litellm > helicone > others by name).
-- Calls sharing (project_id, response_id) across sources count once; rows without a response_id all stay.
-- Tables read here are FINAL through the session's `final` setting, like every other read.
-- The view's columns are fixed when it is created: a migration that adds columns to `calls` re-creates it.

CREATE OR REPLACE VIEW ledger_calls AS
SELECT c.*
FROM calls AS c
LEFT JOIN (
    -- the winning source of every shared response id, as '<priority><source>' (the smallest wins)
    SELECT
        project_id,
        assumeNotNull(response_id) AS response_id,
        min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2, source = 'litellm', 3,
                                    source = 'helicone', 4, 9)), source)) AS best_rank
    FROM calls
    WHERE response_id IS NOT NULL AND response_id != ''
    GROUP BY project_id, response_id
) AS b ON b.project_id = c.project_id AND b.response_id = c.response_id
WHERE c.response_id IS NULL
   OR c.response_id = ''
   OR concat(toString(multiIf(c.source = 'otlp', 1, c.source = 'langfuse', 2, c.source = 'litellm', 3,
                              c.source = 'helicone', 4, 9)), c.source) = b.best_rank;

-- Calls recorded by more than one source: the key of every record, the first one being the row kept.
CREATE OR REPLACE VIEW ledger_links AS
SELECT
    project_id,
    assumeNotNull(response_id) AS response_id,
    count() AS records,
    arrayMap(x -> x.2, arraySort(groupArray((
        multiIf(source = 'otlp', 1, source = 'langfuse', 2, source = 'litellm', 3, source = 'helicone', 4, 9),
        concat(source, ':', trace_id, ':', span_id)
    )))) AS linked_sources
FROM calls
WHERE response_id IS NOT NULL AND response_id != ''
GROUP BY project_id, response_id
HAVING uniqExact(source) > 1;
