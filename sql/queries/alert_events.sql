-- The alert history: the latest notified changes of a project (fired, escalated, reminder, resolved), newest
-- first, optionally of one rule and since a moment; `message` is the notification as JSON.
SELECT event_id, alert_key, rule_name, group_key, event, severity, occurred_at, value, threshold, level,
       message
FROM alert_events
WHERE project_id = $project_id
  AND ($rule IS NULL OR rule_name = $rule)
  AND ($since IS NULL OR occurred_at >= $since)
ORDER BY occurred_at DESC, event_id DESC
LIMIT $limit
