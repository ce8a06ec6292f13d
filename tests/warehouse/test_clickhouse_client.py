"""The thin ClickHouse client layer: URLs, lazy drivers, and values that reach chDB intact."""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from agentledger.core.errors import ConfigError, TransientError, WarehouseError
from agentledger.warehouse import chclient
from agentledger.warehouse.chclient import (
    ChClient,
    ChdbClient,
    ClickHouseHttpClient,
    ServerAddress,
    chdb_path,
    open_client,
    parse_server_url,
    quote_identifier,
    redact_url,
)

TRICKY = 'o\'brien \\ "q" \t tab \n newline \r \\N ; -- ünï 😀'


@pytest.fixture
def chdb(tmp_path: Path):
    client = ChdbClient(str(tmp_path / "chdb"))
    yield client
    client.close()


# ------------------------------------------------------------------------------------ URLs


def test_server_urls() -> None:
    assert parse_server_url("clickhouse://ann:p%40ss@ch.example:9000/ledger") == ServerAddress(
        "ch.example", 9000, "ann", "p@ss", "ledger", secure=False
    )
    assert parse_server_url("clickhouses://ch.example") == ServerAddress(
        "ch.example", 8443, "default", "", "default", secure=True
    )
    assert parse_server_url("clickhouse://ch.example/").port == 8123


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("clickhouse:///db", "no host"),
        ("clickhouse://h:notaport/db", "bad port"),
        ("clickhouse://h/db?secure=1", "options are not supported"),
        ("postgres://h/db", "not a ClickHouse URL"),
    ],
)
def test_bad_server_urls_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_server_url(url)


def test_passwords_never_reach_messages() -> None:
    assert redact_url("clickhouse://ann:secret@h:8123/db") == "clickhouse://ann:***@h:8123/db"
    assert redact_url("chdb:///dir") == "chdb:///dir"
    with pytest.raises(ConfigError) as info:
        parse_server_url("clickhouse://ann:secret@h/db?x=1")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("chdb:///rel/dir", "rel/dir"),
        ("chdb:////abs/dir", "/abs/dir"),
        ("chdb:///:memory:", None),
        ("chdb://", None),
    ],
)
def test_chdb_paths_follow_the_duckdb_convention(url: str, path: str | None) -> None:
    assert chdb_path(url) == path


def test_open_client_refuses_other_schemes() -> None:
    with pytest.raises(ConfigError, match="not a ClickHouse warehouse URL"):
        open_client("duckdb:///x")


def test_identifiers_are_checked() -> None:
    assert quote_identifier("calls") == "`calls`"
    with pytest.raises(WarehouseError, match="not a plain SQL identifier"):
        quote_identifier("calls`; DROP TABLE x")


# ------------------------------------------------------------------------------------ drivers


def test_a_missing_driver_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "chdb.session", None)  # makes `import chdb.session` fail
    with pytest.raises(ConfigError, match=r"pip install 'agentledger\[chdb\]'"):
        ChdbClient(None)
    monkeypatch.setitem(sys.modules, "clickhouse_connect", None)
    with pytest.raises(ConfigError, match="pip install clickhouse-connect"):
        ClickHouseHttpClient(parse_server_url("clickhouse://127.0.0.1:1/db"))


def test_an_unreachable_server_is_a_transient_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the client tries it: nothing listens
    with pytest.raises(TransientError, match=f"cannot open ClickHouse at 127.0.0.1:{port}") as info:
        ClickHouseHttpClient(parse_server_url(f"clickhouse://u:secret@127.0.0.1:{port}/db"))
    assert "secret" not in str(info.value)


class FakeOldServer:
    """A client whose engine ignores the session settings (as a too-old server would)."""

    closed = False

    def command(self, sql: str, params: object = None) -> None: ...

    def query_arrow(self, sql: str, params: object = None) -> pa.Table:
        return pa.table({"final": [False], "j": [True]})

    def insert_arrow(self, table_name: str, arrow_table: pa.Table) -> None: ...

    def close(self) -> None:
        self.closed = True


def test_an_engine_without_the_session_settings_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOldServer()
    monkeypatch.setattr(chclient, "ChdbClient", lambda path: fake)
    with pytest.raises(ConfigError, match="needs ClickHouse 23.8 or newer"):
        open_client("chdb:///:memory:")
    assert fake.closed


def test_both_clients_satisfy_the_interface(chdb: ChdbClient) -> None:
    assert isinstance(chdb, ChClient)
    assert all(
        callable(getattr(ClickHouseHttpClient, m))
        for m in ("command", "query_arrow", "insert_arrow", "close")
    )


def test_server_parameters_keep_microseconds() -> None:
    sent = chclient._server_params({"at": datetime(2024, 1, 1, 0, 0, 0, 7, tzinfo=UTC), "xs": ["a"]})
    assert sent == {"at": "2024-01-01 00:00:00.000007", "xs": ["a"]}


# ------------------------------------------------------------------------------------ chDB round trips


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("String", TRICKY),
        ("Nullable(String)", None),
        ("Int64", -(2**62)),
        ("Float64", 0.1),
        ("Bool", False),
        ("DateTime64(6, 'UTC')", datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)),
        ("Array(String)", [TRICKY, "", "b"]),
        ("Array(Tuple(String, String))", [("p'1", "s\\1"), ("p2", "s2")]),
    ],
)
def test_parameters_reach_chdb_intact(chdb: ChdbClient, kind: str, value: object) -> None:
    got = chdb.query_arrow(f"SELECT {{v:{kind}}} AS v", {"v": value}).column("v").to_pylist()[0]
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        got = [tuple(item.values()) if isinstance(item, dict) else tuple(item) for item in got]
    assert got == value


def test_session_settings_make_reads_behave_like_duckdb(chdb: ChdbClient) -> None:
    row = chdb.query_arrow(
        "SELECT getSetting('final') AS f, getSetting('join_use_nulls') AS j, timezone() AS tz, "
        "getSetting('prefer_column_name_to_alias') AS p"
    ).to_pylist()[0]
    assert row == {"f": True, "j": True, "tz": "UTC", "p": True}


def test_arrow_inserts_match_columns_by_name(chdb: ChdbClient) -> None:
    chdb.command(
        "CREATE TABLE t (a String, b Nullable(Float64), m Map(String, String)) ENGINE = MergeTree ORDER BY a"
    )
    rows = pa.table(
        {"m": pa.array([[("k", TRICKY)]], pa.map_(pa.string(), pa.string())), "b": [None], "a": [TRICKY]}
    )
    chdb.insert_arrow("t", rows)
    assert chdb.query_arrow("SELECT a, b, m FROM t").to_pylist() == [
        {"a": TRICKY, "b": None, "m": [("k", TRICKY)]}
    ]


def test_engine_errors_name_the_statement(chdb: ChdbClient) -> None:
    with pytest.raises(WarehouseError, match=r"chDB statement failed: .*\[SELECT \* FROM no_such_table\]"):
        chdb.query_arrow("SELECT * FROM no_such_table")
    with pytest.raises(WarehouseError, match="chDB insert into no_such_table failed"):
        chdb.insert_arrow("no_such_table", pa.table({"a": [1]}))


def test_one_chdb_directory_per_process(chdb: ChdbClient, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one database directory per process"):
        ChdbClient(str(tmp_path / "another"))
