-- Stored results of heavy analytics (the recommendations replay) and the change token they are valid for.
-- The twin is sql/ddl/clickhouse/007_snapshots.sql.

-- One row per project: a new random `version` on every write of its calls or spans (the backends stamp it
-- in the same transaction as the write). A snapshot computed at version v is current while it is still v.
CREATE TABLE IF NOT EXISTS ledger_versions (
    project_id  VARCHAR NOT NULL,
    version     VARCHAR NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id)
);

-- One row per (project, kind, key): `key` digests what the result depends on besides the data (filters,
-- options, prices, code), `ledger_version` the data it was computed from (NULL: a ledger never written
-- since this table exists). Written by full-row upserts.
CREATE TABLE IF NOT EXISTS snapshots (
    project_id      VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,    -- recommendations
    key             VARCHAR NOT NULL,    -- hex SHA-256 of the inputs
    ledger_version  VARCHAR,
    computed_at     TIMESTAMPTZ NOT NULL,
    seconds         DOUBLE NOT NULL,     -- how long computing it took
    payload         VARCHAR NOT NULL,    -- the result as JSON
    PRIMARY KEY (project_id, kind, key)
);
