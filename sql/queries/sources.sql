-- Every collector cursor: where each source was read up to, when it last ran, and its last error.
SELECT source_key, value, updated_at, last_run_at, last_error, records
FROM cursors
ORDER BY source_key
