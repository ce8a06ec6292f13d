-- The ledger rule in its plainest form (the reference the migrations' cheap views must match): per
-- (project_id, response_id), the rows of the source with the smallest rank '<0 with usage|1 without>'
-- '<priority>' '<source>' stay; rows without a response_id always stay.
CREATE OR REPLACE VIEW ledger_calls_reference AS
SELECT c.*
FROM calls AS c
LEFT JOIN (
    SELECT
        project_id,
        response_id,
        substr(MIN(CASE WHEN input_tokens + output_tokens > 0 THEN '0' ELSE '1' END || CAST(CASE source
            WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
        END AS VARCHAR) || source), 3) AS best_source
    FROM calls
    WHERE response_id IS NOT NULL AND response_id <> ''
    GROUP BY project_id, response_id
) AS b ON b.project_id = c.project_id AND b.response_id = c.response_id
WHERE c.response_id IS NULL OR c.response_id = '' OR c.source = b.best_source
