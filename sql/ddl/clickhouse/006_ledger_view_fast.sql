-- The ledger view of 003, same rows, without de-duplicating the whole table on every read (ClickHouse dialect
-- of sql/ddl/duckdb/006_ledger_view_fast.sql, which explains the rule and why this shape is cheap).
-- The rows of the first stored source by priority (otlp > langfuse > litellm > helicone > others by name), and
-- the rows without a response_id, stay without a look-up; only the response ids of the other sources' rows are
-- looked up (IN sets, built once per query), and their winning rows come back by (project, response id, source).
-- Tables read here are FINAL through the session's `final` setting, like every other read.
-- The view's columns are fixed when it is created: a migration that adds columns to `calls` re-creates it.

CREATE OR REPLACE VIEW ledger_calls AS
SELECT c.*
FROM calls AS c
WHERE c.response_id IS NULL
   OR c.response_id = ''
   OR c.source = (
       SELECT substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                    source = 'litellm', 3, source = 'helicone', 4, 9)), source)), 2)
       FROM (SELECT DISTINCT source FROM calls)
   )
UNION ALL
SELECT c.*
FROM calls AS c
WHERE (c.project_id, c.response_id, c.source) IN (
    -- per response id of a row of a non-first source: the winning source, when it is not the first one
    SELECT project_id, response_id, best_source
    FROM (
        SELECT
            project_id,
            assumeNotNull(response_id) AS response_id,
            substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                  source = 'litellm', 3, source = 'helicone', 4, 9)), source)), 2)
                AS best_source
        FROM calls
        WHERE response_id IN (
            SELECT response_id
            FROM calls
            WHERE response_id != ''
              AND source != (
                  SELECT substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                               source = 'litellm', 3, source = 'helicone', 4, 9)),
                                              source)), 2)
                  FROM (SELECT DISTINCT source FROM calls)
              )
        )
        GROUP BY project_id, response_id
    )
    WHERE best_source != (
        SELECT substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                     source = 'litellm', 3, source = 'helicone', 4, 9)), source)), 2)
        FROM (SELECT DISTINCT source FROM calls)
    )
);
