-- Alerts, deliveries and the scheduler's own state; the twin of sql/ddl/duckdb/004_alerts.sql.
-- Every table is a ReplacingMergeTree ordered by the DuckDB primary key: a full-row insert replaces the
-- row with the same key (the newest insert wins; reads are FINAL), which is how the alert store upserts.

CREATE TABLE IF NOT EXISTS alert_state (
    project_id      LowCardinality(String),
    alert_key       String,
    rule_name       String,
    group_key       Nullable(String),
    status          LowCardinality(String),
    level           Nullable(Float64),
    value           Nullable(Float64),
    threshold       Nullable(Float64),
    fired_at        Nullable(DateTime64(6, 'UTC')),
    resolved_at     Nullable(DateTime64(6, 'UTC')),
    evaluated_at    DateTime64(6, 'UTC'),
    notified_at     Nullable(DateTime64(6, 'UTC')),
    notified_level  Nullable(Float64)
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, alert_key);

CREATE TABLE IF NOT EXISTS alert_events (
    event_id    String,
    project_id  LowCardinality(String),
    alert_key   String,
    rule_name   String,
    group_key   Nullable(String),
    event       LowCardinality(String),
    severity    LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    value       Nullable(Float64),
    threshold   Nullable(Float64),
    level       Nullable(Float64),
    message     String
)
ENGINE = ReplacingMergeTree
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS alert_deliveries (
    delivery_id      String,
    project_id       LowCardinality(String),
    kind             LowCardinality(String),
    ref              String,
    channel          String,
    channel_type     LowCardinality(String),
    status           LowCardinality(String),
    attempts         Int64,
    created_at       DateTime64(6, 'UTC'),
    next_attempt_at  Nullable(DateTime64(6, 'UTC')),
    last_attempt_at  Nullable(DateTime64(6, 'UTC')),
    sent_at          Nullable(DateTime64(6, 'UTC')),
    last_error       Nullable(String),
    payload          String
)
ENGINE = ReplacingMergeTree
ORDER BY delivery_id;

CREATE TABLE IF NOT EXISTS alert_delivery_attempts (
    delivery_id  String,
    attempt      Int64,
    attempted_at DateTime64(6, 'UTC'),
    ok           Bool,
    error        Nullable(String),
    duration_ms  Nullable(Float64)
)
ENGINE = ReplacingMergeTree
ORDER BY (delivery_id, attempt);

CREATE TABLE IF NOT EXISTS scheduler_runs (
    project_id   LowCardinality(String),
    job          LowCardinality(String),
    run_key      String,
    owner        String,
    status       LowCardinality(String),
    started_at   DateTime64(6, 'UTC'),
    finished_at  Nullable(DateTime64(6, 'UTC')),
    error        Nullable(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, job, run_key);

CREATE TABLE IF NOT EXISTS scheduler_leases (
    name         String,
    owner        String,
    acquired_at  DateTime64(6, 'UTC'),
    renewed_at   DateTime64(6, 'UTC'),
    expires_at   DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY name;
