"""User price overrides: negotiated discounts, batch rates, self-hosted and unknown models (YAML).

```yaml
overrides:
  - provider: openai           # optional; any provider when omitted
    model: "gpt-4o*"           # glob (case-insensitive), or "re:^ft:gpt-4o.*" for a regular expression
    effective_from: 2025-01-01 # required
    effective_to: 2026-01-01   # optional, exclusive
    input_per_mtok: 2.0        # USD per million tokens
    output_per_mtok: 8.0
    cache_read_per_mtok: 0.5   # optional, defaults to input
    cache_write_per_mtok: 2.5  # optional, defaults to input
    reasoning_per_mtok: 8.0    # optional, defaults to output
    note: negotiated discount
  - provider: openai           # or a discount on the catalog price instead of absolute prices
    model: "*"
    effective_from: 2025-06-01
    discount: 0.15
```
Among the overrides that match a call and are in effect on its date, the latest ``effective_from`` wins
(the later entry in the file on a tie).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from agentledger.core.errors import ConfigError
from agentledger.core.pricing.catalog import provider_matches
from agentledger.core.pricing.rates import UnitPrices
from agentledger.core.yamltext import StrictLoader, load_yaml, yaml_error

__all__ = ["PriceOverride", "load_overrides", "parse_overrides"]

_PER_MTOK = 1_000_000
_PRICE_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "reasoning_per_mtok",
)


class PriceOverride(BaseModel):
    """One entry of the overrides file: absolute prices, or a discount on the catalog price."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    provider: str | None = Field(None, description="Provider the entry applies to; any provider when omitted")
    model: str = Field(..., min_length=1, description='Glob on the model name, or "re:<regex>"')
    effective_from: date = Field(..., description="First day (UTC) the entry applies")
    effective_to: date | None = Field(None, description="First day (UTC) it no longer applies")
    input_per_mtok: float | None = Field(None, ge=0, description="USD per million input tokens")
    output_per_mtok: float | None = Field(None, ge=0, description="USD per million output tokens")
    cache_read_per_mtok: float | None = Field(None, ge=0, description="USD per million cache-read tokens")
    cache_write_per_mtok: float | None = Field(None, ge=0, description="USD per million cache-write tokens")
    reasoning_per_mtok: float | None = Field(None, ge=0, description="USD per million reasoning tokens")
    discount: float | None = Field(None, ge=0, lt=1, description="Fraction off the catalog price, e.g. 0.15")
    note: str | None = Field(None, description="Why: contract, batch tier, self-hosted cost estimate")

    _pattern: re.Pattern[str] = PrivateAttr()

    @field_validator("model")
    @classmethod
    def _valid_pattern(cls, model: str) -> str:
        _compile(model)
        return model

    @field_validator("provider")
    @classmethod
    def _named_provider(cls, provider: str | None) -> str | None:
        if provider is not None and not provider.strip():
            raise ValueError("must name a provider; leave it out to match any provider")
        return provider

    @model_validator(mode="after")
    def _check(self) -> PriceOverride:
        prices = [name for name in _PRICE_FIELDS if getattr(self, name) is not None]
        if self.discount is not None and prices:
            raise ValueError(f"give either prices ({', '.join(prices)}) or discount, not both")
        if self.discount is None:
            for name in ("input_per_mtok", "output_per_mtok"):
                if getattr(self, name) is None:
                    raise ValueError(f"{name} is required (or give discount instead of prices)")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError(
                f"effective_to ({self.effective_to}) must be after effective_from ({self.effective_from})"
            )
        self._pattern = _compile(self.model)
        return self

    def in_effect(self, day: date) -> bool:
        """Whether the entry applies on ``day`` (UTC)."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def matches(self, providers: tuple[str | None, ...], models: tuple[str, ...]) -> bool:
        """Whether the entry names one of ``models`` and, if it names a provider, one of ``providers``."""
        if self.provider is not None and not self._provider_matches(providers):
            return False
        return any(self._pattern.search(model) for model in models)

    def _provider_matches(self, providers: tuple[str | None, ...]) -> bool:
        """``providers``: the call's provider as its source names it, then the catalog provider priced."""
        assert self.provider is not None
        return provider_matches(self.provider, *providers)

    def unit_prices(self) -> UnitPrices:
        """Absolute prices of the entry, per token (only for entries without a discount)."""
        assert self.input_per_mtok is not None and self.output_per_mtok is not None
        inp = self.input_per_mtok / _PER_MTOK
        out = self.output_per_mtok / _PER_MTOK
        return UnitPrices(
            input=inp,
            cache_read=inp if self.cache_read_per_mtok is None else self.cache_read_per_mtok / _PER_MTOK,
            cache_write=inp if self.cache_write_per_mtok is None else self.cache_write_per_mtok / _PER_MTOK,
            output=out,
            reasoning=out if self.reasoning_per_mtok is None else self.reasoning_per_mtok / _PER_MTOK,
            origin="override",
            provider=self.provider,
            model=self.model,
            note=self.note,
        )


def _compile(model: str) -> re.Pattern[str]:
    """``re:<regex>`` as given (searched, so anchor it yourself); anything else as a whole-name glob."""
    if model.startswith("re:"):
        try:
            return re.compile(model[3:], re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {model[3:]!r}: {exc}") from exc
    return re.compile(r"\A" + fnmatch.translate(model), re.IGNORECASE)


_Locate = Callable[[int, str | None], int | None]


def _locator(text: str) -> _Locate:
    """``(entry index, field) -> 1-based line`` of that field (or of the entry) in the overrides file."""
    try:
        root = yaml.compose(text, Loader=StrictLoader)
    except yaml.YAMLError:
        root = None

    def locate(index: int, field: str | None) -> int | None:
        if not isinstance(root, yaml.MappingNode):
            return None
        entries = next((v for k, v in root.value if k.value == "overrides"), None)
        if not isinstance(entries, yaml.SequenceNode) or index >= len(entries.value):
            return None
        entry = entries.value[index]
        if field is not None and isinstance(entry, yaml.MappingNode):
            for key, _ in entry.value:
                if key.value == field:
                    return key.start_mark.line + 1
        return entry.start_mark.line + 1

    return locate


def _describe(source: str, index: int, exc: ValidationError, locate: _Locate | None) -> str:
    problems, fields = [], []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in err["loc"])
        problems.append(f"{where}: {message}" if where else message)  # entry-level messages name their fields
        fields.append(str(err["loc"][0]) if err["loc"] else None)
    line = _line(locate, index, fields[0] if fields else None)
    return f"{source}{line}: overrides[{index}]: " + "; ".join(problems)


def _line(locate: _Locate | None, index: int, field: str | None = None) -> str:
    line = locate(index, field) if locate is not None else None
    return "" if line is None else f":{line}"


def parse_overrides(
    document: Any, source: str = "<overrides>", locate: _Locate | None = None
) -> list[PriceOverride]:
    """Validate a parsed YAML document; errors name ``source``, the line (when ``locate`` knows it), the entry
    index and the field, as ``prices.yaml:12: overrides[2]: input_per_mtok: ...``."""
    if document is None:
        return []
    if not isinstance(document, dict) or set(document) - {"overrides"}:
        raise ConfigError(f"{source}: expected a mapping with a single key 'overrides' (a list of entries)")
    entries = document.get("overrides") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: 'overrides' must be a list, got {type(entries).__name__}")
    overrides = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            where = f"{source}{_line(locate, index)}: overrides[{index}]"
            raise ConfigError(f"{where}: expected a mapping, got {type(entry).__name__}")
        try:
            overrides.append(PriceOverride.model_validate(entry))
        except ValidationError as exc:
            raise ConfigError(_describe(source, index, exc, locate)) from exc
    return overrides


def load_overrides(path: str | Path) -> list[PriceOverride]:
    """Read and validate the overrides file at ``path`` (``Settings.prices_file``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the prices file (AGENTLEDGER_PRICES_FILE): {exc.strerror}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the prices file is not UTF-8 text: {exc}") from exc
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from exc
    return parse_overrides(document, str(path), _locator(text))
