-- The deliveries (one per channel) of the events alert_events.sql lists for the same parameters: where
-- each notification went, whether it was sent, after how many attempts, and the last error.
SELECT d.ref AS event_id, d.delivery_id, d.channel, d.channel_type, d.status, d.attempts,
       d.created_at, d.last_attempt_at, d.sent_at, d.last_error
FROM alert_deliveries AS d
WHERE d.project_id = $project_id
  AND d.kind = 'alert'
  AND d.ref IN (
      SELECT event_id
      FROM alert_events
      WHERE project_id = $project_id
        AND ($rule IS NULL OR rule_name = $rule)
        AND ($since IS NULL OR occurred_at >= $since)
      ORDER BY occurred_at DESC, event_id DESC
      LIMIT $limit
  )
ORDER BY d.ref, d.channel, d.delivery_id
