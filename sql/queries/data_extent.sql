-- The time span of a project's calls: the dashboard's default window ends at the last one.
SELECT COUNT(*) AS calls, MIN(started_at) AS first_call_at, MAX(started_at) AS last_call_at
FROM calls
WHERE project_id = $project_id
