"""The pure parts of API keys (core/security.py): format, hashing, which project a key gets, caching."""

from __future__ import annotations

import base64
import re

import pytest
from pydantic import SecretStr

from agentledger.core.errors import ConfigError
from agentledger.core.security import (
    Authenticator,
    Unauthorized,
    generate_key,
    hash_key,
    is_loopback,
    key_from_headers,
    key_is_valid,
    password_matches,
    validate_project_id,
)


class FakeStore:
    """Key hashes -> projects, counting lookups."""

    def __init__(self) -> None:
        self.projects: dict[str, str] = {}
        self.revoked: set[str] = set()
        self.lookups = 0

    def add(self, project: str) -> str:
        new = generate_key(project)
        self.projects[new.key_hash] = project
        return new.key

    def lookup(self, key_hash: str) -> str | None:
        self.lookups += 1
        return None if key_hash in self.revoked else self.projects.get(key_hash)

    def any_stored(self) -> bool:
        return bool(self.projects)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_generated_keys_name_their_project_and_are_random() -> None:
    a, b = generate_key("team-a"), generate_key("team-a")
    assert re.fullmatch(r"al_team-a_[A-Za-z0-9]{32}", a.key)
    assert a.key != b.key and a.key_id != b.key_id
    assert a.prefix == a.key[: len("al_team-a_") + 6] and a.key.startswith(a.prefix)
    assert a.key_hash == hash_key(a.key) and len(a.key_hash) == 64 and a.key not in a.key_hash


@pytest.mark.parametrize("project", ["", "has space", "-lead", "x" * 65, "a/b", "é"])
def test_bad_project_ids_are_refused(project: str) -> None:
    with pytest.raises(ConfigError, match="not a valid project id"):
        validate_project_id(project)
    assert validate_project_id("Team_1.prod-eu") == "Team_1.prod-eu"


def test_presented_key_from_bearer_basic_or_header() -> None:
    basic = "Basic " + base64.b64encode(b"pk-lf-public:al_x_secret").decode()
    assert key_from_headers("Bearer al_x_secret") == "al_x_secret"
    assert key_from_headers(basic) == "al_x_secret"
    assert key_from_headers(None, "al_x_secret") == "al_x_secret"
    assert key_from_headers("Token al_x_secret") is None and key_from_headers("Basic !!!") is None


def test_open_when_no_key_exists() -> None:
    store = FakeStore()
    auth = Authenticator([], "default", store.lookup, store.any_stored)
    assert not auth.required()
    assert auth.project_for(None) == "default" and auth.project_for("anything") == "default"


def test_env_keys_map_to_the_default_project_and_stored_keys_to_theirs() -> None:
    store = FakeStore()
    key_a = store.add("team-a")
    auth = Authenticator([SecretStr("env-key")], "default", store.lookup, store.any_stored)
    assert auth.project_for("env-key") == "default"
    assert auth.project_for(key_a) == "team-a"
    for presented in (None, "wrong", "env-key ", key_a + "x"):
        with pytest.raises(Unauthorized) as caught:
            auth.project_for(presented)
        assert presented is None or presented not in str(caught.value)  # never echoes the key


def test_stored_keys_turn_auth_on_and_revoking_all_keeps_it_on() -> None:
    store = FakeStore()
    clock = Clock()
    auth = Authenticator([], "default", store.lookup, store.any_stored, cache_seconds=2, clock=clock)
    assert auth.project_for(None) == "default"
    key = store.add("team-a")
    clock.now += 2.5  # past the cache: the new key is seen
    with pytest.raises(Unauthorized, match="no API key"):
        auth.project_for(None)
    store.revoked.add(hash_key(key))
    store.projects.clear()  # even if the store said "no keys" now, auth stays required
    clock.now += 2.5
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        auth.project_for(key)


def test_lookups_are_cached_briefly_and_revocation_lands_within_the_cache_time() -> None:
    store = FakeStore()
    clock = Clock()
    key = store.add("team-a")
    auth = Authenticator([], "default", store.lookup, store.any_stored, cache_seconds=2, clock=clock)
    assert [auth.project_for(key) for _ in range(5)] == ["team-a"] * 5
    assert store.lookups == 1
    store.revoked.add(hash_key(key))  # revoked by another process
    clock.now += 1.0
    assert auth.project_for(key) == "team-a"  # within the cache time
    clock.now += 1.5
    with pytest.raises(Unauthorized):
        auth.project_for(key)


def test_a_change_in_this_process_drops_the_cache_at_once() -> None:
    store = FakeStore()
    generation = [0]
    key = store.add("team-a")
    auth = Authenticator(
        [], "default", store.lookup, store.any_stored, cache_seconds=3600, generation=lambda: generation[0]
    )
    assert auth.project_for(key) == "team-a"
    store.revoked.add(hash_key(key))
    generation[0] += 1  # what KeyStore.revoke does
    with pytest.raises(Unauthorized):
        auth.project_for(key)


def test_unknown_keys_cannot_grow_the_cache_without_bound() -> None:
    store = FakeStore()
    store.add("team-a")
    auth = Authenticator([], "default", store.lookup, store.any_stored)
    for i in range(Authenticator._MAX_CACHED + 50):
        with pytest.raises(Unauthorized):
            auth.project_for(f"guess-{i}")
    assert len(auth._cache) <= Authenticator._MAX_CACHED


def test_constant_time_helpers() -> None:
    assert key_is_valid("a", [SecretStr("b"), SecretStr("a")]) and not key_is_valid(None, [SecretStr("a")])
    assert password_matches("s3cret", SecretStr("s3cret")) and not password_matches(
        "s3cre", SecretStr("s3cret")
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("ledger.internal", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
