-- The values the dashboard's filters can take: per filter dimension (agent, task_type, model, environment),
-- every non-empty value of the project's ledger with its cost (SUM(cost_usd), NULL when all unpriced).
-- One scan of the ledger for the four dimensions instead of one call_totals query per dimension.
WITH scoped AS (
    SELECT c.agent_name, c.task_type, c.model, c.environment, c.cost_usd
    FROM ledger_calls AS c
    WHERE c.project_id = $project_id
)
SELECT 'agent' AS dimension, agent_name AS value, SUM(cost_usd) AS cost_usd
FROM scoped WHERE agent_name <> '' GROUP BY agent_name
UNION ALL
SELECT 'task_type' AS dimension, task_type AS value, SUM(cost_usd) AS cost_usd
FROM scoped WHERE task_type <> '' GROUP BY task_type
UNION ALL
SELECT 'model' AS dimension, model AS value, SUM(cost_usd) AS cost_usd
FROM scoped WHERE model <> '' GROUP BY model
UNION ALL
SELECT 'environment' AS dimension, environment AS value, SUM(cost_usd) AS cost_usd
FROM scoped WHERE environment <> '' GROUP BY environment
