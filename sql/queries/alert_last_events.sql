-- The latest event of each alert instance of a project: its message (JSON) says what the rule watches
-- (kind, metric, unit, operator), which the state row alone does not.
SELECT e.alert_key, e.event_id, e.event, e.severity, e.occurred_at, e.message
FROM alert_events AS e
JOIN (
    SELECT alert_key, MAX(occurred_at) AS last_at
    FROM alert_events
    WHERE project_id = $project_id
    GROUP BY alert_key
) AS l ON l.alert_key = e.alert_key AND l.last_at = e.occurred_at
WHERE e.project_id = $project_id
ORDER BY e.alert_key, e.event_id
