-- The ledger view (003, made cheap by 006) with one change to its rule: among the sources that recorded a call
-- (rows sharing project_id and response_id), a source whose record carries the call's usage wins over one whose
-- record has none, and source priority (otlp > langfuse > litellm > helicone > others by name) decides between
-- equals. An application's OTLP span of a streamed call often has no usage (the OpenAI client streams without
-- it unless asked), while the gateway in front of it (LiteLLM, Helicone) counted the tokens and the cost: the
-- bare span, kept by priority alone, showed the call as unpriced with 0 tokens. All rows of the winning source
-- stay, as before (duplicates inside one source are that source's own distinct calls).
--
-- "Carries usage" is input_tokens + output_tokens > 0. The rank of a row is '<0 with usage|1 without>'
-- '<priority>' '<source>'; the winning source of a response id is the one of its smallest rank.
--
-- Cheap as 006: the rows of the first stored source by priority that carry usage can never be outranked, nor
-- can its rows whose response id no other source recorded; they stay without a look-up, like the rows without a
-- response_id (first branch, a scan). Only the response ids of the other sources' rows are looked up, and their
-- winning source's rows come back (second branch), but for those the first branch returned already. A response
-- id the first source wins with a record that carries usage, and no bare record of its own, has nothing left
-- to return: it is left out of the look-up's result, which keeps the join (and on ClickHouse the IN set) as
-- small as in 006.

CREATE OR REPLACE VIEW ledger_calls AS
SELECT c.*
FROM calls AS c
WHERE c.response_id IS NULL
   OR c.response_id = ''
   OR (
       c.source = (
               SELECT substr(MIN(CAST(CASE source
                   WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
               END AS VARCHAR) || source), 2)
               FROM (SELECT DISTINCT source FROM calls) AS stored
           )
       AND (
           c.input_tokens + c.output_tokens > 0
           OR c.response_id NOT IN (
               -- the response ids other sources recorded
               SELECT response_id FROM calls
               WHERE response_id <> ''
                 -- as an IN list the source filter reaches the scan: with one source, no response_id is read
                 AND source IN (
                     SELECT source FROM (SELECT DISTINCT source FROM calls) AS stored
                     WHERE source <> (
               SELECT substr(MIN(CAST(CASE source
                   WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
               END AS VARCHAR) || source), 2)
               FROM (SELECT DISTINCT source FROM calls) AS stored
           )
                 )
           )
       )
   )
UNION ALL
SELECT c.*
FROM calls AS c
JOIN (
    -- per response id another source recorded: the winning source, unless it is the first source and the first
    -- branch returned all its rows (a small set: the first source wins most of them with usage)
    SELECT
        project_id,
        response_id,
        substr(MIN(CASE WHEN input_tokens + output_tokens > 0 THEN '0' ELSE '1' END || CAST(CASE source
            WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
        END AS VARCHAR) || source), 3) AS best_source
    FROM calls
    WHERE response_id IN (
        SELECT response_id FROM calls
        WHERE response_id <> ''
          AND source IN (
              SELECT source FROM (SELECT DISTINCT source FROM calls) AS stored
              WHERE source <> (
               SELECT substr(MIN(CAST(CASE source
                   WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
               END AS VARCHAR) || source), 2)
               FROM (SELECT DISTINCT source FROM calls) AS stored
           )
          )
    )
    GROUP BY project_id, response_id
    HAVING SUM(CASE WHEN input_tokens + output_tokens = 0 AND source = (
               SELECT substr(MIN(CAST(CASE source
                   WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
               END AS VARCHAR) || source), 2)
               FROM (SELECT DISTINCT source FROM calls) AS stored
           ) THEN 1 ELSE 0 END) > 0
        OR substr(MIN(CASE WHEN input_tokens + output_tokens > 0 THEN '0' ELSE '1' END || CAST(CASE source
               WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
           END AS VARCHAR) || source), 3) <> (
               SELECT substr(MIN(CAST(CASE source
                   WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
               END AS VARCHAR) || source), 2)
               FROM (SELECT DISTINCT source FROM calls) AS stored
           )
) AS b ON b.project_id = c.project_id AND b.response_id = c.response_id AND b.best_source = c.source
-- returned by the first branch (whose other rows of the first source have a response id not in this set)
WHERE NOT (c.input_tokens + c.output_tokens > 0 AND c.source = (
               SELECT substr(MIN(CAST(CASE source
                   WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
               END AS VARCHAR) || source), 2)
               FROM (SELECT DISTINCT source FROM calls) AS stored
           ));

-- Calls recorded by more than one source: the key of every record, the first one being a row kept.
CREATE OR REPLACE VIEW ledger_links AS
SELECT
    project_id,
    response_id,
    COUNT(*) AS records,
    LIST(source || ':' || trace_id || ':' || span_id ORDER BY
        CASE WHEN input_tokens + output_tokens > 0 THEN 0 ELSE 1 END,
        CASE source WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9 END,
        source, trace_id, span_id) AS linked_sources
FROM calls
WHERE response_id IS NOT NULL AND response_id <> ''
GROUP BY project_id, response_id
HAVING COUNT(DISTINCT source) > 1;
