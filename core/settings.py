"""One settings model for the CLI, the API, the scheduler and the UI (env prefix ``AGENTLEDGER_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_WAREHOUSE = "duckdb:///.agentledger/ledger.duckdb"


class Settings(BaseSettings):
    """Every field can be set as ``AGENTLEDGER_<FIELD>`` in the environment or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="AGENTLEDGER_", env_file=".env", extra="ignore")

    warehouse: str = Field(
        DEFAULT_WAREHOUSE,
        description="Warehouse URL: duckdb:///path, chdb:///dir, clickhouse://user:pass@host:8123/db",
    )
    project_id: str = Field(
        "default", description="Project that rows are written to when no API key names one"
    )
    host: str = Field("127.0.0.1", description="Address the API binds to (loopback by default)")
    port: int = Field(
        4318, description="API port; 4318 is the OTLP/HTTP default, so exporters work unchanged"
    )
    ui_host: str = Field("127.0.0.1", description="Address the dashboard binds to")
    ui_port: int = Field(8501, description="Dashboard port")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated API keys; when set, every ingest and query request needs one",
    )
    prices_file: Path | None = Field(
        None, description="YAML file of price overrides (negotiated, batch, self-hosted models)"
    )
    cost_policy: Literal["computed", "reported"] = Field(
        "computed",
        description="Which cost counts when both exist: our computed price or the source's reported one",
    )
    cost_tolerance: float = Field(
        0.05, description="Relative gap between reported and computed cost that the audit flags"
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, description="Largest accepted request body (compressed), bytes"
    )
    max_decompressed_bytes: int = Field(
        64 * 1024 * 1024, description="Largest accepted body after gzip decompression, bytes"
    )
    config_file: Path = Field(Path("agentledger.yaml"), description="Sources and alert rules file")
    runaway_call_threshold: int = Field(
        25, description="A task with more LLM calls than this is a runaway loop"
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, v: object) -> object:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
