-- Stored results of heavy analytics and the change token they are valid for; the twin of
-- sql/ddl/duckdb/007_snapshots.sql. ReplacingMergeTrees: the newest insert of a key wins (reads are FINAL).

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
ORDER BY (project_id, kind, key);
