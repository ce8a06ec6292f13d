"""One settings model for the CLI, the API, the scheduler and the UI (env prefix ``AGENTLEDGER_``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agentledger.core.security import redact_url, url_origin

DEFAULT_WAREHOUSE = "duckdb:///.agentledger/ledger.duckdb"


def _secrets_dir() -> str | None:
    """A folder of secret files named like the variables (``agentledger_smtp_password``): Docker and
    Kubernetes secrets. ``AGENTLEDGER_SECRETS_DIR``, else ``/run/secrets`` when it exists."""
    chosen = os.environ.get("AGENTLEDGER_SECRETS_DIR") or "/run/secrets"
    return chosen if Path(chosen).is_dir() else None


class Settings(BaseSettings):
    """Every field can be set as ``AGENTLEDGER_<FIELD>`` in the environment or a ``.env`` file."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTLEDGER_", env_file=".env", extra="ignore", secrets_dir=_secrets_dir()
    )

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
    key_cache_seconds: float = Field(
        0.0,
        ge=0,
        description="On a ClickHouse server, which other processes share: how long the API trusts a stored "
        "key's lookup. 0 looks every request up, so `agentledger keys revoke` applies at once; a larger value "
        "saves a query per request and lets a revoked key in for up to that long. A DuckDB or chDB ledger has "
        "one process, which sees its own key changes at once and caches lookups whatever this says",
    )
    ui_password: SecretStr | None = Field(
        None,
        description="Password of the dashboard; required (or Streamlit OIDC) when it binds beyond 127.0.0.1",
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
    ingest_queue_spans: int = Field(
        50_000,
        ge=1,
        description="Spans the receivers' write queue holds; beyond it they answer 503 + Retry-After",
    )
    ingest_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Processes that decode, map and prepare OTLP/HTTP bodies for the receiver (0: in the server "
        "process; the number of cores for the most throughput)",
    )
    config_file: Path = Field(Path("agentledger.yaml"), description="Sources and alert rules file")
    runaway_call_threshold: int = Field(
        25, description="A task with more LLM calls than this is a runaway loop"
    )

    # -- alerts, the weekly report and the scheduler (secrets from the environment only) --
    dashboard_url: str | None = Field(
        None, description="Dashboard address linked from alerts and reports, e.g. http://ledger.internal:8501"
    )
    slack_webhook_url: SecretStr | None = Field(None, description="Slack incoming webhook URL (a secret)")
    smtp_host: str | None = Field(None, description="SMTP server for alert and report email")
    smtp_port: int = Field(587, description="SMTP port (587 = submission with STARTTLS)")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS before login")
    smtp_username: str | None = Field(None, description="SMTP login name (no login when unset)")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (a secret)")
    smtp_from: str = Field("agentledger@localhost", description="Sender address of alert and report email")
    smtp_ca_file: Path | None = Field(None, description="CA bundle that signs the SMTP server's certificate")
    smtp_timeout_seconds: float = Field(15.0, description="SMTP connect and command timeout, seconds")
    alert_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated recipients of the default email channel"
    )
    webhook_url: str | None = Field(None, description="URL of the default generic webhook channel")
    webhook_secret: SecretStr | None = Field(
        None, description="Key of the X-AgentLedger-Signature HMAC-SHA256 header (a secret)"
    )
    report_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        "mon", description="Day the weekly report for the previous ISO week is sent"
    )
    report_hour: int = Field(9, ge=0, le=23, description="Hour of day the weekly report is sent")
    report_timezone: str = Field(
        "UTC", description="IANA time zone of report_weekday/report_hour and of weeks"
    )
    sync_interval_minutes: int = Field(15, ge=1, description="Scheduler: minutes between collector syncs")
    alert_interval_minutes: int = Field(5, ge=1, description="Scheduler: minutes between alert evaluations")
    recommend_refresh_minutes: int = Field(
        5,
        ge=1,
        description="Scheduler and `agentledger up`: minutes between checks that recompute the stored "
        "recommendations of the dashboard's default view when the ledger changed",
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, object]]:
        # What repr() and str() show (log lines, tracebacks, debuggers): secrets are SecretStr already; the
        # warehouse URL may hold a password and a generic webhook URL is often its own credential.
        for name, value in super().__repr_args__():
            if name == "warehouse" and isinstance(value, str):
                value = redact_url(value)
            elif name == "webhook_url" and isinstance(value, str):
                value = url_origin(value)
            yield name, value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, v: object) -> object:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v

    @field_validator("ui_password", mode="before")
    @classmethod
    def _empty_password_is_none(cls, v: object) -> object:
        # AGENTLEDGER_UI_PASSWORD= (as in .env.example) means "no password", never "the empty password".
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return v

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Europe/Berlin") from exc
        return v

    @field_validator("alert_email_to", mode="before")
    @classmethod
    def _split_recipients(cls, v: object) -> object:
        if isinstance(v, str):
            return [a.strip() for a in v.split(",") if a.strip()]
        return v


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def describe_settings_error(exc: ValidationError) -> str:
    """A settings validation error as the variables to fix, never echoing the values given (some are secrets).

    Any settings model read from the environment (:class:`Settings`, the recommenders' ``RecommendOptions``
    under ``AGENTLEDGER_RECOMMEND_``) names its variables with its own prefix."""
    model = _settings_model(exc.title)
    prefix = str(model.model_config.get("env_prefix") or "") if model is not None else ""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        if model is not None and where in model.model_fields:
            where = f"{prefix}{where}".upper()
        problems.append(f"{where or exc.title}: {error['msg']}")
    return ("invalid setting: " if model is not None else f"invalid {exc.title}: ") + "; ".join(problems)


def _settings_model(name: str) -> type[BaseSettings] | None:
    """agentledger's settings model (a subclass of ``BaseSettings``, wherever it is defined) of that name."""
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        for model in pending.pop().__subclasses__():
            if model.__name__ == name and model.__module__.startswith("agentledger."):
                return model
            pending.append(model)
    return None
