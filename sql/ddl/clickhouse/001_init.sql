-- agentledger schema, ClickHouse dialect (a server, or chDB in-process). Mirrors sql/ddl/duckdb/001_init.sql
-- column for column (tests/warehouse/test_ddl_drift.py checks it).
--
-- Upserts are ReplacingMergeTree inserts: a row replaces an earlier row of the same ORDER BY key (the identity)
-- once the newer version is inserted; the backend reads with the `final` setting, so every read sees only the
-- newest version even before a background merge. Rows are never mutated (no ALTER UPDATE).
-- Timestamps are DateTime64(6, 'UTC'): microseconds, like DuckDB's TIMESTAMPTZ.
-- Codecs: Delta suits timestamps that grow, T64 strips the unused high bits of token counts; ZSTD after both.

CREATE TABLE IF NOT EXISTS calls (
    project_id          LowCardinality(String),
    source              LowCardinality(String),
    source_record_id    Nullable(String),
    trace_id            String,
    span_id             String,
    parent_span_id      Nullable(String),
    session_id          Nullable(String),
    user_id             Nullable(String),
    agent_name          LowCardinality(Nullable(String)),
    agent_version       LowCardinality(Nullable(String)),
    feature             LowCardinality(Nullable(String)),
    task_type           LowCardinality(Nullable(String)),
    operation           LowCardinality(Nullable(String)),
    environment         LowCardinality(Nullable(String)),
    tags                Map(LowCardinality(String), String),
    provider            LowCardinality(Nullable(String)),
    model_requested     LowCardinality(Nullable(String)),
    model               LowCardinality(Nullable(String)),
    started_at          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    ended_at            Nullable(DateTime64(6, 'UTC')) CODEC(Delta, ZSTD(1)),
    latency_ms          Nullable(Float64) CODEC(ZSTD(1)),
    ttft_ms             Nullable(Float64) CODEC(ZSTD(1)),
    input_tokens        Int64 DEFAULT 0 CODEC(T64, ZSTD(1)),
    cache_read_tokens   Int64 DEFAULT 0 CODEC(T64, ZSTD(1)),
    cache_write_tokens  Int64 DEFAULT 0 CODEC(T64, ZSTD(1)),
    output_tokens       Int64 DEFAULT 0 CODEC(T64, ZSTD(1)),
    reasoning_tokens    Int64 DEFAULT 0 CODEC(T64, ZSTD(1)),
    max_tokens          Nullable(Int64) CODEC(T64, ZSTD(1)),
    finish_reason       LowCardinality(Nullable(String)),
    status              LowCardinality(String) DEFAULT 'unset',
    error_type          LowCardinality(Nullable(String)),
    response_cache_hit  Nullable(Bool),
    prompt_hash         Nullable(String),
    prefix_hash         Nullable(String),
    response_id         Nullable(String),
    cost_reported_usd   Nullable(Float64) CODEC(ZSTD(1)),
    cost_computed_usd   Nullable(Float64) CODEC(ZSTD(1)),
    cost_usd            Nullable(Float64) CODEC(ZSTD(1)),  -- NULL when the price is unknown, never 0
    cost_source         LowCardinality(String) DEFAULT 'none',
    price_status        LowCardinality(String) DEFAULT 'unpriced',
    -- The row version: the backend stamps it on every write, so a re-insert (re-ingest, resolved context,
    -- re-pricing) supersedes the row it replaces.
    ingested_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    raw                 Nullable(String) CODEC(ZSTD(3)),
    -- Context resolution looks whole traces up by id without knowing their source.
    INDEX calls_trace_id_idx trace_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, source, trace_id, span_id);

CREATE TABLE IF NOT EXISTS spans (
    project_id      LowCardinality(String),
    source          LowCardinality(String),
    trace_id        String,
    span_id         String,
    parent_span_id  Nullable(String),
    name            Nullable(String),
    kind            LowCardinality(String) DEFAULT 'other',
    started_at      Nullable(DateTime64(6, 'UTC')) CODEC(Delta, ZSTD(1)),
    ended_at        Nullable(DateTime64(6, 'UTC')) CODEC(Delta, ZSTD(1)),
    status          LowCardinality(String) DEFAULT 'unset',
    agent_name      LowCardinality(Nullable(String)),
    task_type       LowCardinality(Nullable(String)),
    workflow_name   LowCardinality(Nullable(String)),
    session_id      Nullable(String),
    user_id         Nullable(String),
    outcome         LowCardinality(Nullable(String)),
    source_outcome  LowCardinality(Nullable(String)),
    -- ClickHouse only: the row version (spans carry no ingest time in the canonical record); the backend
    -- stamps it on every write.
    ingested_at     DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    INDEX spans_trace_id_idx trace_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(ingested_at)
-- A span's start can be unknown (NULL): such spans land in the 1970-01 partition.
PARTITION BY toYYYYMM(ifNull(started_at, toDateTime64(0, 6, 'UTC')))
ORDER BY (project_id, source, trace_id, span_id);

-- One row per source_key; the newest insert wins (no version column: a single partition keeps insert order).
CREATE TABLE IF NOT EXISTS cursors (
    source_key   String,
    value        Nullable(String),
    updated_at   Nullable(DateTime64(6, 'UTC')),
    last_run_at  Nullable(DateTime64(6, 'UTC')),
    last_error   Nullable(String),
    records      Int64 DEFAULT 0
)
ENGINE = ReplacingMergeTree
ORDER BY source_key;
