"""The sources section of agentledger.yaml / .toml: validation, secrets from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentledger.core.errors import ConfigError
from agentledger.ingest.config import (
    HeliconeSource,
    LangfuseSource,
    LiteLLMApiSource,
    LiteLLMFileSource,
    LiteLLMPostgresSource,
    load_config,
    parse_config,
    source_from_options,
)

YAML = """
alerts:                      # another part's section: ignored here
  - metric: total_cost_usd
sources:
  - type: langfuse
    outcome_scores: [task_success, resolved]
  - type: helicone
    cost_unit: nano_usd
    public_key_env: X        # not a Helicone field
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_with_every_source_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "agentledger.yaml",
        """
sources:
  - {type: langfuse, host: https://us.cloud.langfuse.com, page_size: 500}
  - {type: helicone}
  - {type: litellm, api_url: http://localhost:4000}
  - {type: litellm_postgres, db_url: postgresql://litellm@db/litellm}
  - {type: litellm_file, path: exports/spend.jsonl, enabled: false}
""",
    )
    config = load_config(path)
    kinds = [type(s) for s in config.sources]
    assert kinds == [
        LangfuseSource,
        HeliconeSource,
        LiteLLMApiSource,
        LiteLLMPostgresSource,
        LiteLLMFileSource,
    ]
    assert config.sources[0].page_size == 500 and config.sources[0].outcome_scores == ["task_success"]
    assert config.sources[1].cost_unit == "usd"  # the API's unit unless told otherwise
    assert [s.type for s in config.enabled()] == ["langfuse", "helicone", "litellm", "litellm_postgres"]


def test_toml_is_read_too(tmp_path: Path) -> None:
    path = write(tmp_path, "agentledger.toml", '[[sources]]\ntype = "helicone"\ncost_unit = "nano_usd"\n')
    (source,) = load_config(path).sources
    assert isinstance(source, HeliconeSource) and source.cost_unit == "nano_usd"


def test_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "agentledger.yaml", YAML)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "sources[1].public_key_env" in message


def test_a_secret_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path, "agentledger.yaml", "sources:\n  - type: langfuse\n    secret_key: sk-lf-leaked-0000\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "sources[0].secret_key" in str(info.value) and "secret_key_env" in str(info.value)
    assert "sk-lf-leaked-0000" not in str(info.value)


def test_bad_values_and_unknown_types() -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.page_size"):
        parse_config({"sources": [{"type": "langfuse", "page_size": 5000}]}, origin="a.yaml")
    with pytest.raises(ConfigError, match="does not match any of the expected tags"):
        parse_config({"sources": [{"type": "phoenix"}]})
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config(["not", "a", "mapping"])
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("/nonexistent/agentledger.yaml")


def test_secrets_come_from_the_ecosystem_variables_and_are_masked() -> None:
    source = LangfuseSource(type="langfuse")
    env = {
        "LANGFUSE_PUBLIC_KEY": "pk-lf-1",
        "LANGFUSE_SECRET_KEY": "sk-lf-2",
        "LANGFUSE_HOST": "https://lf.internal/",
    }
    public, secret = source.credentials(env)
    assert secret.get_secret_value() == "sk-lf-2" and "sk-lf-2" not in repr(secret)
    assert source.resolve_host(env) == "https://lf.internal"
    assert source.resolve_host({}) == "https://cloud.langfuse.com"
    with pytest.raises(ConfigError, match="LANGFUSE_SECRET_KEY is not set"):
        source.credentials({"LANGFUSE_PUBLIC_KEY": "pk-lf-1"})


def test_an_explicitly_named_variable_replaces_the_default() -> None:
    source = HeliconeSource(type="helicone", api_key_env="TEAM_B_HELICONE")
    assert source.api_key({"TEAM_B_HELICONE": "k"}).get_secret_value() == "k"
    with pytest.raises(ConfigError, match="TEAM_B_HELICONE"):
        source.api_key({"HELICONE_API_KEY": "k"})


def test_postgres_url_with_a_password_must_come_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="holds a password"):
        parse_config({"sources": [{"type": "litellm_postgres", "db_url": "postgresql://u:pw@h/db"}]})
    source = LiteLLMPostgresSource(type="litellm_postgres", db_url="postgresql://u@h/db")
    assert (
        source.database_url({"DATABASE_URL": "postgresql://u:pw@h/db"}).get_secret_value().endswith("@h/db")
    )
    assert source.database_url({}).get_secret_value() == "postgresql://u@h/db"


def test_source_from_cli_options() -> None:
    source = source_from_options({"type": "helicone", "cost_unit": "nano_usd"})
    assert isinstance(source, HeliconeSource) and source.label == "helicone"
    with pytest.raises(ConfigError, match="command line"):
        source_from_options({"type": "helicone", "cost_unit": "cents"})


def test_a_source_giving_a_key_twice_is_refused_not_read_as_the_last(tmp_path: Path) -> None:
    path = tmp_path / "agentledger.yaml"
    path.write_text(
        "sources:\n  - type: langfuse\n    host: https://a.example\n    host: https://b.example\n"
    )
    with pytest.raises(
        ConfigError, match=r"(?s)agentledger.yaml:\d+: not valid YAML: .*'host' is given twice"
    ):
        load_config(path)


def test_merge_keys_may_override_what_they_merge_at_any_depth(tmp_path: Path) -> None:
    path = tmp_path / "agentledger.yaml"
    path.write_text(
        "x-templates:\n"
        "  us: &langfuse_us {type: langfuse, host: https://us.cloud.langfuse.com}\n"
        "  eu: &langfuse_eu {<<: *langfuse_us, host: https://cloud.langfuse.com}\n"
        "sources:\n"
        "  - {<<: *langfuse_eu}\n"
    )
    (source,) = load_config(path).sources
    assert source.host == "https://cloud.langfuse.com"


def test_error_paths_name_the_entry_once(tmp_path: Path) -> None:
    path = write(tmp_path, "agentledger.yaml", "sources:\n  - type: nosuch\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid configuration")
    assert "\n  sources[0]: Input tag 'nosuch'" in message and "sources.sources" not in message
    with pytest.raises(ConfigError) as info:
        parse_config({"sources": [{"type": "helicone"}, {"type": "langfuse", "page_size": 0}]})
    assert "\n  sources[1].page_size: " in str(info.value) and "sources.sources" not in str(info.value)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"type": "helicone", "base_url": "notaurl"}, "sources[0].base_url"),
        ({"type": "langfuse", "host": "ftp://x"}, "sources[0].host"),
        ({"type": "litellm", "api_url": "http://:4000"}, "sources[0].api_url"),
        ({"type": "litellm", "api_url": "http://proxy:port"}, "sources[0].api_url"),
    ],
)
def test_a_base_url_that_is_not_http_with_a_host_is_refused(entry: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"sources": [entry]}, origin="a.yaml")
    assert f"a.yaml: invalid configuration\n  {field}: " in str(info.value)
    assert "base URL" in str(info.value)


def test_langfuse_host_from_the_environment_is_checked_and_named() -> None:
    (source,) = parse_config({"sources": [{"type": "langfuse"}]}).sources
    assert source.resolve_host({"LANGFUSE_HOST": "https://lf.example.com/"}) == "https://lf.example.com"
    with pytest.raises(ConfigError, match="LANGFUSE_HOST: 'ftp://u:\\*\\*\\*@x' is not an http"):
        source.resolve_host({"LANGFUSE_HOST": "ftp://u:hunter2@x"})
