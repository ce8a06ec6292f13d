-- One row per applied re-price (`agentledger reprice`): which calls were re-priced with which policy,
-- and how much the ledger's cost moved. Written once per run, never updated.
CREATE TABLE IF NOT EXISTS reprices (
    run_id           VARCHAR NOT NULL,
    project_id       VARCHAR NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ NOT NULL,
    window_since     TIMESTAMPTZ,
    window_until     TIMESTAMPTZ,
    filters          VARCHAR,            -- the filters of the run as JSON
    cost_policy      VARCHAR NOT NULL,
    calls_examined   BIGINT NOT NULL,
    calls_changed    BIGINT NOT NULL,
    cost_before_usd  DOUBLE,             -- Σ cost_usd of the examined calls before (NULL: all unpriced)
    cost_after_usd   DOUBLE,
    delta_usd        DOUBLE NOT NULL,    -- Σ (new - old) cost_usd over changed calls, unknown counted as 0
    PRIMARY KEY (run_id)
);
