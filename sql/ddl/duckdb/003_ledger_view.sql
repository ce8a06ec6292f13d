-- The ledger: one row per LLM call across sources. The same call can reach the warehouse twice (LiteLLM
-- logging into Langfuse while its own spend logs are also pulled; Helicone in front of an app that also
-- exports OTLP). Sources that see the same call record the same `response_id` (the provider's response id,
-- a generation id, a LiteLLM call id), so calls sharing (project_id, response_id) are one call: the row of
-- the highest-priority source stays, the others drop out of the metrics. Rows without a response_id always
-- stay. Duplicates inside one source are not touched (that source says they are distinct calls).
--
-- Priority: otlp > langfuse > litellm > helicone > any other source (then by name, so the choice is stable).
-- Tokens and cost of one call agree across sources; what differs is the context around it, and the order
-- follows how much of it each source carries: the application's own OTLP spans hold the full span tree
-- (agents, workflows, explicit task type and outcome attributes); Langfuse holds a trace tree and scores;
-- LiteLLM holds exact usage and spend but a flat request; Helicone a flat request grouped by session.
--
-- The metric queries read `ledger_calls`; drill-downs, per-source audits and re-pricing read `calls`.
-- Which records were merged is listed by `ledger_links`.
-- The view selects c.*: a migration that adds columns to `calls` must re-create it (CREATE OR REPLACE).

CREATE OR REPLACE VIEW ledger_calls AS
SELECT c.*
FROM calls AS c
LEFT JOIN (
    -- the winning source of every shared response id, as '<priority><source>' (the smallest wins)
    SELECT
        project_id,
        response_id,
        MIN(CAST(CASE source
            WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
        END AS VARCHAR) || source) AS best_rank
    FROM calls
    WHERE response_id IS NOT NULL AND response_id <> ''
    GROUP BY project_id, response_id
) AS b ON b.project_id = c.project_id AND b.response_id = c.response_id
WHERE c.response_id IS NULL
   OR c.response_id = ''
   OR CAST(CASE c.source
          WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9
      END AS VARCHAR) || c.source = b.best_rank;

-- Calls recorded by more than one source: the key of every record, the first one being the row kept.
CREATE OR REPLACE VIEW ledger_links AS
SELECT
    project_id,
    response_id,
    COUNT(*) AS records,
    LIST(source || ':' || trace_id || ':' || span_id ORDER BY
        CASE source WHEN 'otlp' THEN 1 WHEN 'langfuse' THEN 2 WHEN 'litellm' THEN 3 WHEN 'helicone' THEN 4 ELSE 9 END,
        source, trace_id, span_id) AS linked_sources
FROM calls
WHERE response_id IS NOT NULL AND response_id <> ''
GROUP BY project_id, response_id
HAVING COUNT(DISTINCT source) > 1;
