-- Every alert instance of a project (a rule, one group of a grouped rule, one budget period) with its
-- current state: the alert store reads it before each evaluation round, the dashboard shows it.
SELECT project_id, alert_key, rule_name, group_key, status, level, value, threshold,
       fired_at, resolved_at, evaluated_at, notified_at, notified_level
FROM alert_state
WHERE project_id = $project_id
ORDER BY alert_key
