-- API keys: each belongs to one project and sees and writes only that project. Only the SHA-256 of a key
-- is stored, never the key; `prefix` is its visible start (al_<project>_xxxxxx) so people can tell keys
-- apart. Revoking sets revoked_at; rows are never deleted, so once a key was created the API stays closed.
-- Written by full-row upserts keyed by key_id (INSERT OR REPLACE here, plain inserts into a
-- ReplacingMergeTree on ClickHouse). The twin is sql/ddl/clickhouse/005_keys.sql.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      VARCHAR NOT NULL,
    project_id  VARCHAR NOT NULL,
    name        VARCHAR,
    prefix      VARCHAR NOT NULL,
    key_hash    VARCHAR NOT NULL,        -- hex SHA-256 of the whole key
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    PRIMARY KEY (key_id)
);

-- Every authenticated request looks its key up by hash (a few per second at most: the API caches briefly).
CREATE INDEX IF NOT EXISTS api_keys_hash_idx ON api_keys (key_hash);
