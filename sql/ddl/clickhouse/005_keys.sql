-- API keys; the twin of sql/ddl/duckdb/005_keys.sql. A ReplacingMergeTree ordered by key_id: revoking
-- re-inserts the whole row with revoked_at set, and reads are FINAL, so the newest version wins.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      String,
    project_id  LowCardinality(String),
    name        Nullable(String),
    prefix      String,
    key_hash    String,
    created_at  DateTime64(6, 'UTC'),
    revoked_at  Nullable(DateTime64(6, 'UTC'))
)
ENGINE = ReplacingMergeTree
ORDER BY key_id;
