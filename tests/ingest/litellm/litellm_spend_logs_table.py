"""A ``"LiteLLM_SpendLogs"`` table as LiteLLM's Prisma schema creates it, for tests against a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

# Columns and types of LiteLLM's Prisma model (FORMATS.md appendix): String -> text, Int -> integer,
# Float -> double precision, DateTime -> timestamp(3), Json -> jsonb; quoted camelCase identifiers.
SPEND_LOGS_DDL = """
CREATE TABLE "LiteLLM_SpendLogs" (
    request_id text PRIMARY KEY,
    call_type text NOT NULL,
    api_key text NOT NULL DEFAULT '',
    spend double precision NOT NULL DEFAULT 0,
    total_tokens integer NOT NULL DEFAULT 0,
    prompt_tokens integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    "startTime" timestamp(3) NOT NULL,
    "endTime" timestamp(3) NOT NULL,
    request_duration_ms integer,
    "completionStartTime" timestamp(3),
    model text NOT NULL DEFAULT '',
    model_id text DEFAULT '',
    model_group text DEFAULT '',
    custom_llm_provider text DEFAULT '',
    api_base text DEFAULT '',
    "user" text DEFAULT '',
    metadata jsonb DEFAULT '{}',
    cache_hit text DEFAULT '',
    cache_key text DEFAULT '',
    request_tags jsonb DEFAULT '[]',
    team_id text,
    organization_id text,
    end_user text,
    requester_ip_address text,
    messages jsonb DEFAULT '{}',
    response jsonb DEFAULT '{}',
    proxy_server_request jsonb DEFAULT '{}',
    session_id text,
    status text,
    mcp_namespaced_tool_name text,
    billing_agent_id text,
    agent_id text,
    litellm_call_id text,
    created_at timestamp(3) NOT NULL DEFAULT now(),
    updated_at timestamp(3) NOT NULL DEFAULT now()
);
CREATE INDEX ON "LiteLLM_SpendLogs" ("startTime");
CREATE INDEX ON "LiteLLM_SpendLogs" ("startTime", request_id);
CREATE INDEX ON "LiteLLM_SpendLogs" (end_user);
CREATE INDEX ON "LiteLLM_SpendLogs" (session_id);
CREATE INDEX ON "LiteLLM_SpendLogs" (litellm_call_id);
"""

_COLUMNS = [
    "request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
    "startTime", "endTime", "request_duration_ms", "completionStartTime", "model", "model_id", "model_group",
    "custom_llm_provider", "api_base", "user", "metadata", "cache_hit", "cache_key", "request_tags", "team_id",
    "organization_id", "end_user", "requester_ip_address", "messages", "response", "proxy_server_request",
    "session_id", "status", "mcp_namespaced_tool_name", "agent_id", "litellm_call_id",
]  # fmt: skip
_JSON_COLUMNS = {"metadata", "request_tags", "messages", "response", "proxy_server_request"}


def insert_rows(url: str, schema: str, rows: list[dict[str, Any]]) -> None:
    """Insert SpendLogs rows (JSON columns given as the exports' JSON strings)."""
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    placeholders = ", ".join(f"%({c})s::jsonb" if c in _JSON_COLUMNS else f"%({c})s" for c in _COLUMNS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        with conn.cursor() as cur:
            cur.executemany(
                f'INSERT INTO "LiteLLM_SpendLogs" ({columns}) VALUES ({placeholders})',
                [{c: row.get(c) for c in _COLUMNS} for row in rows],
            )


@contextmanager
def spend_logs_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema holding an empty ``"LiteLLM_SpendLogs"``, dropped afterwards (tests share one server)."""
    name = f"litellm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(name)))
        conn.execute(SPEND_LOGS_DDL)
    try:
        yield name
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
