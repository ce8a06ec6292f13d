-- The ledger rule in its plainest form, ClickHouse dialect (see ledger_calls.duckdb.sql).
CREATE OR REPLACE VIEW ledger_calls_reference AS
SELECT c.*
FROM calls AS c
LEFT JOIN (
    SELECT
        project_id,
        response_id,
        substring(min(concat(
            if(input_tokens + output_tokens > 0, '0', '1'),
            toString(multiIf(source = 'otlp', 1, source = 'langfuse', 2, source = 'litellm', 3,
                             source = 'helicone', 4, 9)),
            source
        )), 3) AS best_source
    FROM calls
    WHERE response_id IS NOT NULL AND response_id != ''
    GROUP BY project_id, response_id
) AS b ON b.project_id = c.project_id AND b.response_id = c.response_id
WHERE c.response_id IS NULL OR c.response_id = '' OR c.source = b.best_source
