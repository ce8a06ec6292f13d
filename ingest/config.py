"""The ``sources`` section of ``agentledger.yaml`` (or ``.toml``): which systems to pull traces from.

```yaml
sources:
  - type: langfuse                     # keys from LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY, host from LANGFUSE_HOST
    host: https://cloud.langfuse.com
    outcome_scores: [task_success]
  - type: helicone                     # key from HELICONE_API_KEY
  - type: litellm                      # key from LITELLM_API_KEY
    api_url: http://localhost:4000
```

Secrets never live in the file: each source reads them from the environment, under the variable names of its
own ecosystem by default or under a variable the file names (``public_key_env: MY_LANGFUSE_PK``). They come
back as ``SecretStr`` so a repr or a log line shows ``**********``. Other top-level sections (alert rules...)
belong to other parts and are ignored here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator

from agentledger.core.errors import ConfigError
from agentledger.core.security import redact_url
from agentledger.core.yamltext import load_yaml, yaml_error
from agentledger.ingest.collectors.timeutil import DEFAULT_OVERLAP

LANGFUSE_CLOUD = "https://cloud.langfuse.com"
HELICONE_API = "https://api.helicone.ai"
_SECRET_WORDS = ("key", "secret", "password", "token")


def http_url_problem(url: str) -> str | None:
    """What keeps ``url`` from being the base URL of an HTTP API (None when it can be one): it must be
    ``http://`` or ``https://`` with a host name (and a numeric port, if any)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        httpx.URL(text)
    except (ValueError, httpx.InvalidURL):
        return f"{redact_url(text)!r} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{redact_url(text)!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{redact_url(text)!r} has no host name"
    return None


def check_http_url(url: str, name: str) -> str:
    """``url`` when it can be an HTTP API's base URL; else a ConfigError naming ``name`` (an option, a field
    or a variable), the URL shown without its password."""
    problem = http_url_problem(url)
    if problem:
        raise ConfigError(f"{name}: {problem}: give the API's base URL, e.g. https://host:port")
    return url


def _http_url_field(value: str | None) -> str | None:
    problem = None if value is None else http_url_problem(value)
    if problem:
        raise ValueError(f"{problem}: give the API's base URL, e.g. https://host:port")
    return value


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Label in reports and logs; defaults to the type")
    enabled: bool = Field(True, description="Set false to keep the entry but skip it in `sync`")
    project_id: str | None = Field(
        None, description="Project the rows are written to (default: the settings' project)"
    )
    overlap_minutes: float = Field(
        DEFAULT_OVERLAP.total_seconds() / 60,
        ge=0,
        description="Minutes re-read before the cursor on each run, for late records (long calls reach the "
        "sources when they end)",
    )
    initial_lookback_days: float | None = Field(
        30,
        gt=0,
        description="How far back the first run reads when no cursor or --since is given; null = all history",
    )

    @property
    def label(self) -> str:
        return self.name or self.type  # type: ignore[attr-defined]

    @property
    def overlap(self) -> timedelta:
        return timedelta(minutes=self.overlap_minutes)

    @property
    def initial_lookback(self) -> timedelta | None:
        return None if self.initial_lookback_days is None else timedelta(days=self.initial_lookback_days)


class LangfuseSource(_SourceBase):
    """Langfuse Cloud or self-hosted, read through the public API."""

    type: Literal["langfuse"]
    host: str | None = Field(None, description="Base URL; default $LANGFUSE_HOST, else Langfuse Cloud (EU)")
    public_key_env: str = Field(
        "LANGFUSE_PUBLIC_KEY", description="Env var holding the public key (pk-lf-...)"
    )
    secret_key_env: str = Field(
        "LANGFUSE_SECRET_KEY", description="Env var holding the secret key (sk-lf-...)"
    )
    page_size: int = Field(
        1000, ge=1, le=1000, description="Observations per request (the API allows up to 1000)"
    )
    window_hours: float = Field(
        6, gt=0, description="Start-time window read per step; the cursor advances per window"
    )
    outcome_scores: list[str] = Field(
        default_factory=lambda: ["task_success"],
        description="Trace score names that say whether the task succeeded",
    )
    environments: list[str] = Field(
        default_factory=list, description="Only these Langfuse environments (empty = all)"
    )
    trace_details: bool = Field(
        True,
        description="Read each trace's scores (the task outcome) and timestamp once per run: from the trace "
        "endpoints on Langfuse v3, from GET /api/public/v3/scores on v4 (which has no trace timestamp)",
    )
    include_inputs: bool = Field(
        False,
        description="Also fetch each observation's input and output (field group io) to fingerprint the prompts: "
        "duplicate calls and the prompt-caching and compression advice need them; responses grow with the prompts, "
        "so at most 100 observations are read a request",
    )

    _check_host = field_validator("host")(_http_url_field)

    def resolve_host(self, env: Mapping[str, str] | None = None) -> str:
        """The configured host, else ``LANGFUSE_HOST`` (or ``LANGFUSE_BASE_URL``), else Langfuse Cloud;
        ConfigError naming the variable when the one from the environment is not an http(s) URL."""
        if self.host:
            return self.host.rstrip("/")
        env = os.environ if env is None else env
        for var in ("LANGFUSE_HOST", "LANGFUSE_BASE_URL"):
            if env.get(var):
                return check_http_url(env[var], f"source {self.label!r}: {var}").rstrip("/")
        return LANGFUSE_CLOUD

    def credentials(self, env: Mapping[str, str] | None = None) -> tuple[SecretStr, SecretStr]:
        """(public key, secret key) from the environment; ConfigError naming the variable when one is missing."""
        return (
            _secret_from_env(self.public_key_env, self.label, env),
            _secret_from_env(self.secret_key_env, self.label, env),
        )


class HeliconeSource(_SourceBase):
    """Helicone Cloud or self-hosted (Jawn), read through the request query API."""

    type: Literal["helicone"]
    base_url: str = Field(HELICONE_API, description="Helicone API base URL")
    api_key_env: str = Field("HELICONE_API_KEY", description="Env var holding the Helicone API key")
    page_size: int = Field(1000, ge=1, le=1000, description="Requests per query (the API allows up to 1000)")
    cost_unit: Literal["usd", "nano_usd"] = Field(
        "usd",
        description="Unit of `cost` in the payloads: the API returns USD; raw ClickHouse exports hold nano-USD",
    )
    include_inputs: bool = Field(
        False,
        description="Also fetch request/response bodies: gives the provider's response id and max_tokens",
    )

    _check_base_url = field_validator("base_url")(_http_url_field)

    def api_key(self, env: Mapping[str, str] | None = None) -> SecretStr:
        """The API key from the environment; ConfigError naming the variable when it is missing."""
        return _secret_from_env(self.api_key_env, self.label, env)


class LiteLLMApiSource(_SourceBase):
    """A LiteLLM proxy's spend logs API."""

    type: Literal["litellm"]
    api_url: str = Field(..., description="The proxy's base URL, e.g. http://localhost:4000")
    api_key_env: str = Field("LITELLM_API_KEY", description="Env var holding the master or a virtual key")
    page_size: int = Field(1000, ge=1, le=1000, description="Spend logs per page (the API allows up to 1000)")

    _check_api_url = field_validator("api_url")(_http_url_field)

    def api_key(self, env: Mapping[str, str] | None = None) -> SecretStr:
        """The API key from the environment; ConfigError naming the variable when it is missing."""
        return _secret_from_env(self.api_key_env, self.label, env)


class LiteLLMPostgresSource(_SourceBase):
    """A LiteLLM proxy's Postgres database (``LiteLLM_SpendLogs``), read directly."""

    type: Literal["litellm_postgres"]
    db_url: str | None = Field(
        None, description="postgresql:// URL without a password (peer auth, PGPASSWORD)"
    )
    db_url_env: str = Field(
        "DATABASE_URL", description="Env var holding the full URL (LiteLLM's own variable)"
    )

    @field_validator("db_url")
    @classmethod
    def _no_password_in_file(cls, v: str | None) -> str | None:
        if v and urlsplit(v).password:
            raise ValueError(
                "the URL holds a password: put the whole URL in the variable named by db_url_env"
            )
        return v

    def database_url(self, env: Mapping[str, str] | None = None) -> SecretStr:
        """The URL from ``db_url_env`` when set, else ``db_url``; ConfigError when neither is."""
        env = os.environ if env is None else env
        if env.get(self.db_url_env):
            return SecretStr(env[self.db_url_env])
        from_file = _secret_file(self.db_url_env, self.label, env)
        if from_file:
            return SecretStr(from_file)
        if self.db_url:
            return SecretStr(self.db_url)
        raise ConfigError(f"source {self.label!r}: set {self.db_url_env} (or db_url without a password)")


class LiteLLMFileSource(_SourceBase):
    """Exported LiteLLM spend logs / standard logging payloads (JSON, JSONL, CSV files)."""

    type: Literal["litellm_file"]
    path: Path = Field(..., description="A file or a folder of files")


SourceConfig = Annotated[
    LangfuseSource | HeliconeSource | LiteLLMApiSource | LiteLLMPostgresSource | LiteLLMFileSource,
    Field(discriminator="type"),
]
_SOURCE_ADAPTER: TypeAdapter[Any] = TypeAdapter(SourceConfig)


class SourcesConfig(BaseModel):
    """The parsed ``sources`` section; other sections of the file are not this model's business."""

    model_config = ConfigDict(extra="ignore")

    sources: list[SourceConfig] = Field(default_factory=list)

    def enabled(self) -> list[Any]:
        return [s for s in self.sources if s.enabled]


def load_config(path: str | Path) -> SourcesConfig:
    """Read the sources section of a YAML or TOML file; ConfigError naming the file (and field) when wrong."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (set AGENTLEDGER_CONFIG_FILE or pass --config)")
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    return parse_config(data or {}, origin=str(path))


def parse_config(data: Any, *, origin: str = "<config>") -> SourcesConfig:
    """Validate already-loaded data (a mapping with a ``sources`` list)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return SourcesConfig.model_validate({"sources": data.get("sources") or []})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None


def source_from_options(options: Mapping[str, Any], *, origin: str = "command line") -> Any:
    """One source from CLI options (``{"type": "langfuse", "host": ...}``), validated like a file entry."""
    try:
        return _SOURCE_ADAPTER.validate_python(dict(options))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None


def _secret_from_env(var: str, label: str, env: Mapping[str, str] | None) -> SecretStr:
    env = os.environ if env is None else env
    value = env.get(var, "").strip() or _secret_file(var, label, env)
    if not value:
        raise ConfigError(f"source {label!r}: environment variable {var} is not set (nor {var}_FILE)")
    return SecretStr(value)


def _secret_file(var: str, label: str, env: Mapping[str, str]) -> str:
    """The content of the file named by ``<var>_FILE`` (Docker/Kubernetes secrets), or "" when unset."""
    path = env.get(f"{var}_FILE", "").strip()
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:  # the message names the file, never its content
        raise ConfigError(
            f"source {label!r}: cannot read {var}_FILE={path}: {exc.__class__.__name__}"
        ) from None


def _describe(exc: ValidationError, origin: str) -> str:
    """One line per problem, naming the field path (``sources[0].host``, as in the file); never echoes input
    values (they might be secrets)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = _format_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        field = str(err["loc"][-1]) if err["loc"] else ""
        if err["type"] == "extra_forbidden" and any(w in field.lower() for w in _SECRET_WORDS):
            msg = f"secrets are read from the environment only: name the variable with {field}_env"
        lines.append(f"{loc}: {msg}")
    return f"{origin}: invalid configuration\n  " + "\n  ".join(lines)


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("langfuse", "helicone", "litellm", "litellm_postgres", "litellm_file"):
            continue  # pydantic adds the union tag to the path; the index already says which entry
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"
