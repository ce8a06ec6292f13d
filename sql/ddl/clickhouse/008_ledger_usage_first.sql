-- The ledger view with the rule of sql/ddl/duckdb/008_ledger_usage_first.sql (ClickHouse dialect; that file
-- explains it): per (project, response id), a source whose record carries usage (input + output tokens > 0)
-- wins over one whose record has none, then source priority (otlp > langfuse > litellm > helicone > others by
-- name). The rows without a response_id, and the first stored source's rows that carry usage or whose response
-- id no other source recorded, stay without a look-up; the response ids of the other sources' rows are looked
-- up (IN sets, built once per query) and their winning source's rows come back, but for those the first branch
-- returned already.
-- Tables read here are FINAL through the session's `final` setting, like every other read.
-- The view's columns are fixed when it is created: a migration that adds columns to `calls` re-creates it.

CREATE OR REPLACE VIEW ledger_calls AS
SELECT c.*
FROM calls AS c
WHERE c.response_id IS NULL
   OR c.response_id = ''
   OR (
       c.source = (
           SELECT substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                        source = 'litellm', 3, source = 'helicone', 4, 9)), source)), 2)
           FROM (SELECT DISTINCT source FROM calls)
       )
       AND (
           c.input_tokens + c.output_tokens > 0
           OR c.response_id NOT IN (
               -- the response ids other sources recorded
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
       )
   )
UNION ALL
SELECT c.*
FROM calls AS c
WHERE (c.project_id, c.response_id, c.source) IN (
    -- per response id another source recorded: the winning source, unless it is the first source and the first
    -- branch returned all its rows (a small set: the first source wins most of them with usage)
    SELECT project_id, response_id, best_source
    FROM (
        SELECT
            project_id,
            assumeNotNull(response_id) AS response_id,
            substring(min(concat(
                if(input_tokens + output_tokens > 0, '0', '1'),
                toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2, source = 'litellm', 3,
                                 source = 'helicone', 4, 9)),
                source
            )), 3) AS best_source,
            countIf(input_tokens + output_tokens = 0 AND source = (
                SELECT substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                             source = 'litellm', 3, source = 'helicone', 4, 9)), source)), 2)
                FROM (SELECT DISTINCT source FROM calls)
            )) AS bare_first
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
    WHERE bare_first > 0 OR best_source != (
        SELECT substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                     source = 'litellm', 3, source = 'helicone', 4, 9)), source)), 2)
        FROM (SELECT DISTINCT source FROM calls)
    )
)
AND NOT (
    -- returned by the first branch (whose other rows of the first source have a response id not in this set)
    c.input_tokens + c.output_tokens > 0
    AND c.source = (
        SELECT substring(min(concat(toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2,
                                                     source = 'litellm', 3, source = 'helicone', 4, 9)), source)), 2)
        FROM (SELECT DISTINCT source FROM calls)
    )
);

-- Calls recorded by more than one source: the key of every record, the first one being a row kept.
CREATE OR REPLACE VIEW ledger_links AS
SELECT
    project_id,
    assumeNotNull(response_id) AS response_id,
    count() AS records,
    arrayMap(x -> x.4, arraySort(groupArray((
        if(input_tokens + output_tokens > 0, 0, 1),
        multiIf(source = 'otlp', 1, source = 'langfuse', 2, source = 'litellm', 3, source = 'helicone', 4, 9),
        source,
        concat(source, ':', trace_id, ':', span_id)
    )))) AS linked_sources
FROM calls
WHERE response_id IS NOT NULL AND response_id != ''
GROUP BY project_id, response_id
HAVING uniqExact(source) > 1;
