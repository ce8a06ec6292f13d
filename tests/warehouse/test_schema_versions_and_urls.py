"""A warehouse migrated by a newer release is refused, and server URLs with unencoded characters are named.

Runs on every backend: the refusal must come before anything is changed, and leave the warehouse usable by
the release that migrated it (here: reopened once the future version is removed again).
"""

from __future__ import annotations

import pytest

from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.warehouse import connect
from agentledger.warehouse.chclient import parse_server_url
from agentledger.warehouse.migrations import load_migrations

FUTURE = 999


def record_future_version(url: str) -> None:
    wh = connect(url)
    try:
        # The statement both engines accept: a ClickHouse INSERT ... VALUES with parameters runs as a SELECT.
        wh.sql(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($v, $n, now())",
            {"v": FUTURE, "n": "from_a_newer_release"},
        )
    finally:
        wh.close()


def test_a_schema_newer_than_this_release_is_refused(backend: str, warehouse_url: str) -> None:
    record_future_version(warehouse_url)
    latest = max(m.version for m in load_migrations("duckdb" if backend == "duckdb" else "clickhouse"))
    with pytest.raises(WarehouseError) as info:
        connect(warehouse_url)
    message = str(info.value)
    assert f"version {FUTURE}" in message and f"up to {latest:03d}" in message
    assert "newer release" in message and "Upgrade agentledger" in message


def test_a_refused_warehouse_is_released_and_unchanged(warehouse_url: str) -> None:
    record_future_version(warehouse_url)
    with pytest.raises(WarehouseError):
        connect(warehouse_url)
    # The refused open closed what it had opened (chDB holds one directory per process): opening the same
    # warehouse again reaches the same refusal instead of "directory already in use".
    with pytest.raises(WarehouseError, match="newer release"):
        connect(warehouse_url)


def test_an_older_recorded_schema_is_upgraded_not_refused(warehouse_url: str) -> None:
    wh = connect(warehouse_url)
    wh.close()
    wh = connect(warehouse_url)  # every known version applied: a no-op, never a refusal
    wh.close()


@pytest.mark.parametrize(
    "url",
    [
        "clickhouse://ann:s3cr/et@h:8123/db",
        "clickhouse://ann:s3cr?et@h:8123/db",
        "clickhouse://ann:s3cr#et@h:8123/db",
        "clickhouses://a/nn:s3cret@h/db",
    ],
)
def test_unencoded_characters_in_the_user_or_password_are_named_without_showing_them(url: str) -> None:
    with pytest.raises(ConfigError, match="percent-encode") as info:
        parse_server_url(url)
    assert "s3cr" not in str(info.value)


def test_percent_encoded_passwords_with_those_characters_parse() -> None:
    address = parse_server_url("clickhouse://ann:pa%2F%3F%23%40%3Ass@h:8123/db")
    assert (address.username, address.password, address.host, address.database) == (
        "ann",
        "pa/?#@:ss",
        "h",
        "db",
    )
    assert "pa/?#@:ss" not in repr(address)
