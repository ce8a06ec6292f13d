-- One row per applied re-price (`agentledger reprice`); the twin of sql/ddl/duckdb/002_reprices.sql.
-- Rows are written once and never updated, so a plain MergeTree is enough.
CREATE TABLE IF NOT EXISTS reprices (
    run_id           String,
    project_id       LowCardinality(String),
    started_at       DateTime64(6, 'UTC'),
    finished_at      DateTime64(6, 'UTC'),
    window_since     Nullable(DateTime64(6, 'UTC')),
    window_until     Nullable(DateTime64(6, 'UTC')),
    filters          Nullable(String),
    cost_policy      LowCardinality(String),
    calls_examined   Int64,
    calls_changed    Int64,
    cost_before_usd  Nullable(Float64),
    cost_after_usd   Nullable(Float64),
    delta_usd        Float64
)
ENGINE = MergeTree
ORDER BY (project_id, started_at, run_id);
