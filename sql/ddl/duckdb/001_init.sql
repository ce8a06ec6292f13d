-- agentledger schema, DuckDB dialect.
-- `calls` mirrors core/records.py CALL_SCHEMA column for column; `spans` mirrors SPAN_SCHEMA.
-- Timestamps are TIMESTAMPTZ and the connection runs with TimeZone=UTC, so day/week buckets are UTC days.

CREATE TABLE IF NOT EXISTS calls (
    project_id          VARCHAR NOT NULL,
    source              VARCHAR NOT NULL,
    source_record_id    VARCHAR,
    trace_id            VARCHAR NOT NULL,
    span_id             VARCHAR NOT NULL,
    parent_span_id      VARCHAR,
    session_id          VARCHAR,
    user_id             VARCHAR,
    agent_name          VARCHAR,
    agent_version       VARCHAR,
    feature             VARCHAR,
    task_type           VARCHAR,
    operation           VARCHAR,
    environment         VARCHAR,
    tags                MAP(VARCHAR, VARCHAR),
    provider            VARCHAR,
    model_requested     VARCHAR,
    model               VARCHAR,
    started_at          TIMESTAMPTZ NOT NULL,
    ended_at            TIMESTAMPTZ,
    latency_ms          DOUBLE,
    ttft_ms             DOUBLE,
    input_tokens        BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens   BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens       BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens    BIGINT NOT NULL DEFAULT 0,
    max_tokens          BIGINT,
    finish_reason       VARCHAR,
    status              VARCHAR NOT NULL DEFAULT 'unset',
    error_type          VARCHAR,
    response_cache_hit  BOOLEAN,
    prompt_hash         VARCHAR,
    prefix_hash         VARCHAR,
    response_id         VARCHAR,
    cost_reported_usd   DOUBLE,
    cost_computed_usd   DOUBLE,
    cost_usd            DOUBLE,   -- NULL when the price is unknown, never 0
    cost_source         VARCHAR NOT NULL DEFAULT 'none',
    price_status        VARCHAR NOT NULL DEFAULT 'unpriced',
    ingested_at         TIMESTAMPTZ,
    raw                 VARCHAR,
    PRIMARY KEY (project_id, source, trace_id, span_id)
);

-- Every span's own attributes, including one row per LLM call: context resolution reads a trace's
-- spans back when a parent arrives after its children were stored.
CREATE TABLE IF NOT EXISTS spans (
    project_id      VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    trace_id        VARCHAR NOT NULL,
    span_id         VARCHAR NOT NULL,
    parent_span_id  VARCHAR,
    name            VARCHAR,
    kind            VARCHAR NOT NULL DEFAULT 'other',
    started_at      TIMESTAMPTZ,
    ended_at        TIMESTAMPTZ,
    status          VARCHAR NOT NULL DEFAULT 'unset',
    agent_name      VARCHAR,
    task_type       VARCHAR,
    workflow_name   VARCHAR,
    session_id      VARCHAR,
    user_id         VARCHAR,
    outcome         VARCHAR,
    source_outcome  VARCHAR,
    PRIMARY KEY (project_id, source, trace_id, span_id)
);

-- The ingest path looks up whole traces by id once per batch (`trace_id IN (...)`); without this
-- index that lookup is a full scan of `spans`, with it an index probe (measured ~15x faster at 3M rows).
CREATE INDEX IF NOT EXISTS spans_trace_id_idx ON spans (trace_id);

CREATE TABLE IF NOT EXISTS cursors (
    source_key   VARCHAR PRIMARY KEY,
    value        VARCHAR,
    updated_at   TIMESTAMPTZ,
    last_run_at  TIMESTAMPTZ,
    last_error   VARCHAR,
    records      BIGINT NOT NULL DEFAULT 0
);
