-- Stored results of heavy analytics and the change token they are valid for; the twin of
-- sql/ddl/duckdb/007_snapshots.sql. ReplacingMergeTrees: the newest insert of a key wins (reads are FINAL).
-- Snapshots of a version that is gone are never served again; DuckDB deletes them when it stores a new one,
-- here a TTL drops every snapshot 30 days after it was computed (a current one is simply computed again).

CREATE TABLE IF NOT EXISTS ledger_versions (
    project_id  LowCardinality(String),
    version     String,
    changed_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY project_id;

CREATE TABLE IF NOT EXISTS snapshots (
    project_id      LowCardinality(String),
    kind            LowCardinality(String),
    key             String,
    ledger_version  Nullable(String),
    computed_at     DateTime64(6, 'UTC'),
    seconds         Float64,
    payload         String
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, kind, key)
TTL toDateTime(computed_at) + INTERVAL 30 DAY;
