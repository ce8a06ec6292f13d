-- Record one applied re-price run in `reprices` (sql/ddl/*/002_reprices.sql).
INSERT INTO reprices (
    run_id, project_id, started_at, finished_at, window_since, window_until, filters, cost_policy,
    calls_examined, calls_changed, cost_before_usd, cost_after_usd, delta_usd
)
VALUES (
    $run_id, $project_id, $started_at, $finished_at, $window_since, $window_until, $filters, $cost_policy,
    $calls_examined, $calls_changed, $cost_before_usd, $cost_after_usd, $delta_usd
)
