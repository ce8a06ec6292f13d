"""redact_url (core/security.py): a URL's password never appears in what it returns, whatever the URL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentledger.core.security import redact_url

SECRET = "Zq8secret"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("clickhouse://ann:s3cret@ch.example:8123/ledger", "clickhouse://ann:***@ch.example:8123/ledger"),
        ("clickhouses://default:pw@[::1]:8443/db", "clickhouses://default:***@[::1]:8443/db"),
        ("clickhouse://ann:p%40ss@h/db", "clickhouse://ann:***@h/db"),
        (
            "postgresql://u:pw@db.internal/litellm?sslmode=require",
            "postgresql://u:***@db.internal/litellm?***",
        ),
        ("https://u:pw@h/x#part", "https://u:***@h/x"),
        ("https://hooks.example.com/in?token=abc", "https://hooks.example.com/in?***"),
        ("clickhouse://ann@h:8123/db", "clickhouse://ann@h:8123/db"),
        ("clickhouse://ch.example:8123/db", "clickhouse://ch.example:8123/db"),
        ("duckdb:///rel/ledger.duckdb", "duckdb:///rel/ledger.duckdb"),
        ("duckdb:////abs/ledger.duckdb", "duckdb:////abs/ledger.duckdb"),
        ("chdb:///:memory:", "chdb:///:memory:"),
    ],
)
def test_ordinary_urls_change_only_where_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (f"clickhouse://user:pa/{SECRET}@host:8123/db", "clickhouse://user:***@host:8123/db"),
        (f"clickhouse://user:{SECRET}/@host:8123/db", "clickhouse://user:***@host:8123/db"),
        (f"postgresql://u:p@{SECRET}@host/db", "postgresql://u:***@host/db"),
        (f"postgresql://u:{SECRET}@@host/db", "postgresql://u:***@host/db"),
        (f"clickhouse://u:a:{SECRET}@h:8123/db", "clickhouse://u:***@h:8123/db"),
        (f"clickhouse://u:p#{SECRET}@h:8123/db", "clickhouse://u:***@"),
        (f"clickhouse://u:p?{SECRET}@h:8123/db", "clickhouse://u:***@"),
        (f"clickhouse://u:{SECRET}?x@h:8123/db", "clickhouse://u:***@"),
        (f"clickhouse://u:p/s?s#{SECRET}@h/db?x=1", "clickhouse://u:***@"),
        (f"clickhouse://u:p[{SECRET}@h/db", "clickhouse://u:***@h/db"),
        (f"clickhouse://u:{SECRET}]@h/db", "clickhouse://u:***@h/db"),
        (f"//u:{SECRET}/x@h/db", "//u:***@h/db"),
        (f"agentledger:{SECRET}@db.internal:8123/db", "agentledger:***@db.internal:8123/db"),  # no scheme
        (f"clickhouse://u:{SECRET}@h/db?opt=a@b", "clickhouse://u:***@"),
    ],
)
def test_a_password_with_unencoded_delimiters_is_masked(url: str, kept: str) -> None:
    shown = redact_url(url)
    assert SECRET not in shown
    assert shown.startswith(kept)


def test_a_query_secret_after_the_credentials_stays_hidden() -> None:
    """Which ``@`` ends the password is ambiguous: whichever it is, neither the password nor the query shows."""
    for url in (
        f"clickhouse://u:pw@h/db?token=abc@{SECRET}",
        f"clickhouse://h:8123/db?password=p@{SECRET}",
        f"https://h:443/x?token=abc@{SECRET}",
    ):
        assert SECRET not in redact_url(url), url


_USER = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", max_size=8)
# Any text, and text made of the characters that delimit the parts of a URL; neither holds the secret itself.
_ANY = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.text(":/?#@[]% \t\n", max_size=6),
).filter(lambda text: SECRET[:3] not in text)


@given(user=_USER, before=_ANY, after=_ANY, rest=_ANY)
def test_the_password_never_shows_whatever_surrounds_it(
    user: str, before: str, after: str, rest: str
) -> None:
    password = f"{before}{SECRET}{after}"
    for url in (
        f"clickhouse://{user}:{password}@host:8123/{rest}",
        f"https://{user}:{password}@{rest}",
        f"{user}:x{password}@{rest}",  # no scheme (a password starting "//" would read as scheme://user@)
    ):
        assert SECRET not in redact_url(url), url
