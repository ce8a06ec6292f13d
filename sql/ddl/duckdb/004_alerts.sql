-- Alerts, deliveries and the scheduler's own state. Every mutable table is written by full-row upserts
-- keyed by its primary key (INSERT OR REPLACE here, plain inserts into ReplacingMergeTree on ClickHouse),
-- so the same statements serve both warehouses. The twin is sql/ddl/clickhouse/004_alerts.sql.

-- The current state of each alert instance (a rule, or one group of a grouped rule, or one budget period).
CREATE TABLE IF NOT EXISTS alert_state (
    project_id      VARCHAR NOT NULL,
    alert_key       VARCHAR NOT NULL,    -- rule name, "|group_by=value", "|period" for budgets
    rule_name       VARCHAR NOT NULL,
    group_key       VARCHAR,
    status          VARCHAR NOT NULL,    -- firing | resolved
    level           DOUBLE,              -- budget level crossed (0.5, 0.8, 1.0); 1 for other rules
    value           DOUBLE,              -- last measured value (NULL: no data)
    threshold       DOUBLE,
    fired_at        TIMESTAMPTZ,         -- start of the current (or last) firing
    resolved_at     TIMESTAMPTZ,
    evaluated_at    TIMESTAMPTZ NOT NULL,
    notified_at     TIMESTAMPTZ,         -- last notification of this firing (cooldowns count from it)
    notified_level  DOUBLE,
    PRIMARY KEY (project_id, alert_key)
);

-- Alert history: one row per notified change (fired, escalated, reminder, resolved) with the message sent.
CREATE TABLE IF NOT EXISTS alert_events (
    event_id    VARCHAR NOT NULL,
    project_id  VARCHAR NOT NULL,
    alert_key   VARCHAR NOT NULL,
    rule_name   VARCHAR NOT NULL,
    group_key   VARCHAR,
    event       VARCHAR NOT NULL,        -- fired | escalated | reminder | resolved
    severity    VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    value       DOUBLE,
    threshold   DOUBLE,
    level       DOUBLE,
    message     VARCHAR NOT NULL,        -- the AlertMessage as JSON
    PRIMARY KEY (event_id)
);

-- The outbox: one row per (event or report, channel). A delivery stays pending/failed until a send
-- succeeds (sent) or it is given up (abandoned); later evaluations retry the failed ones.
CREATE TABLE IF NOT EXISTS alert_deliveries (
    delivery_id      VARCHAR NOT NULL,
    project_id       VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL,   -- alert | report | test
    ref              VARCHAR NOT NULL,   -- the event_id, or the report's ISO week
    channel          VARCHAR NOT NULL,
    channel_type     VARCHAR NOT NULL,   -- slack | email | webhook
    status           VARCHAR NOT NULL,   -- pending | sent | failed | abandoned
    attempts         BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ,
    last_attempt_at  TIMESTAMPTZ,
    sent_at          TIMESTAMPTZ,
    last_error       VARCHAR,
    payload          VARCHAR NOT NULL,   -- the message rendered for this channel, as JSON
    PRIMARY KEY (delivery_id)
);

-- Every attempt to send, successful or not.
CREATE TABLE IF NOT EXISTS alert_delivery_attempts (
    delivery_id  VARCHAR NOT NULL,
    attempt      BIGINT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL,
    ok           BOOLEAN NOT NULL,
    error        VARCHAR,
    duration_ms  DOUBLE,
    PRIMARY KEY (delivery_id, attempt)
);

-- Each scheduled run of a job, claimed under its run key (the report's ISO week, the alert slot) before
-- it does anything: a restarted scheduler skips what is done.
CREATE TABLE IF NOT EXISTS scheduler_runs (
    project_id   VARCHAR NOT NULL,
    job          VARCHAR NOT NULL,
    run_key      VARCHAR NOT NULL,
    owner        VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,       -- running | done | failed
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    error        VARCHAR,
    PRIMARY KEY (project_id, job, run_key)
);

-- Who may run scheduled jobs: one owner at a time, until expires_at unless renewed.
CREATE TABLE IF NOT EXISTS scheduler_leases (
    name         VARCHAR NOT NULL,
    owner        VARCHAR NOT NULL,
    acquired_at  TIMESTAMPTZ NOT NULL,
    renewed_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name)
);
