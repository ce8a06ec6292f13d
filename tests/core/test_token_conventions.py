"""Token conventions: every source's counts land in the canonical (OTel GenAI) convention."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentledger.core.tokens import (
    TokenCounts,
    from_helicone,
    from_langfuse_usage,
    from_openai_usage,
    validate,
)

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"


# --- TokenCounts and validate ---------------------------------------------------------------------------


def test_uncached_and_non_reasoning_parts():
    counts = TokenCounts(
        input_tokens=120, cache_read_tokens=30, cache_write_tokens=10, output_tokens=50, reasoning_tokens=20
    )
    assert counts.uncached_input_tokens == 80
    assert counts.non_reasoning_output_tokens == 30


@pytest.mark.parametrize(
    "field", ["input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"]
)
def test_negative_count_is_rejected_naming_the_field(field):
    with pytest.raises(ValueError, match=f"^{field} must be >= 0"):
        TokenCounts(**{field: -1})


def test_cache_larger_than_input_is_rejected_naming_both():
    with pytest.raises(ValueError, match="cache_read_tokens .* exceed input_tokens"):
        TokenCounts(input_tokens=5, cache_read_tokens=100)
    with pytest.raises(ValueError, match="cache_write_tokens \\(7\\) exceed input_tokens \\(10\\)"):
        TokenCounts(input_tokens=10, cache_read_tokens=4, cache_write_tokens=7)


def test_reasoning_larger_than_output_is_rejected():
    with pytest.raises(ValueError, match="reasoning_tokens \\(9\\) exceed output_tokens \\(3\\)"):
        TokenCounts(output_tokens=3, reasoning_tokens=9)


def test_non_int_is_rejected():
    with pytest.raises(ValueError, match="input_tokens must be an int"):
        TokenCounts(input_tokens=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="output_tokens must be an int"):
        TokenCounts(output_tokens=True)


def test_validate_accepts_valid_counts():
    validate(TokenCounts(10, 4, 6, 3, 3))  # subsets may equal their totals


def test_of_reads_any_record_and_treats_none_as_zero():
    class Row:
        input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens = (
            9,
            2,
            None,
            4,
            1,
        )

    assert TokenCounts.of(Row()) == TokenCounts(9, 2, 0, 4, 1)


# --- Langfuse -------------------------------------------------------------------------------------------


def test_langfuse_genai_vector_from_formats():
    # FORMATS.md §1: GenAI 120 in / 30 read / 10 write is stored by Langfuse as input 80.
    counts = from_langfuse_usage(
        {"input": 80, "input_cache_read": 30, "input_cache_creation": 10, "output": 7, "total": 127}
    )
    assert counts == TokenCounts(
        input_tokens=120, cache_read_tokens=30, cache_write_tokens=10, output_tokens=7
    )


def test_langfuse_openinference_vector_from_formats():
    # FORMATS.md §1: OpenInference 50000 prompt / 40000 read / 5000 write is stored as input 5000.
    counts = from_langfuse_usage(
        {"input": 5000, "cache_read_input_tokens": 40000, "cache_creation_input_tokens": 5000, "output": 100}
    )
    assert (counts.input_tokens, counts.cache_read_tokens, counts.cache_write_tokens) == (50000, 40000, 5000)


def test_langfuse_openai_keys_and_reasoning():
    counts = from_langfuse_usage(
        {
            "input": 700,
            "input_cached_tokens": 300,
            "output": 40,
            "output_reasoning_tokens": 160,
            "total": 1200,
        }
    )
    assert counts == TokenCounts(
        input_tokens=1000, cache_read_tokens=300, output_tokens=200, reasoning_tokens=160
    )


def test_langfuse_audio_details_are_part_of_input_and_output_but_not_cache():
    counts = from_langfuse_usage({"input": 10, "input_audio": 5, "output": 3, "output_audio": 2})
    assert counts == TokenCounts(input_tokens=15, output_tokens=5)


def test_langfuse_ttl_split_is_not_counted_twice():
    with_parent = from_langfuse_usage(
        {
            "input": 10,
            "input_cache_creation": 100,
            "input_cache_creation_5m": 60,
            "input_cache_creation_1h": 40,
        }
    )
    only_split = from_langfuse_usage(
        {"input": 10, "input_cache_creation_5m": 60, "input_cache_creation_1h": 40}
    )
    assert with_parent == only_split == TokenCounts(input_tokens=110, cache_write_tokens=100)


def test_langfuse_input_derived_from_total_when_missing():
    # total includes everything, so input = total - output side, and the cache keys are a subset of it.
    counts = from_langfuse_usage(
        {"total": 1000, "output": 150, "output_reasoning": 50, "input_cached_tokens": 400}
    )
    assert counts == TokenCounts(
        input_tokens=800, cache_read_tokens=400, output_tokens=200, reasoning_tokens=50
    )


def test_langfuse_total_smaller_than_output_is_an_error():
    with pytest.raises(ValueError, match="total"):
        from_langfuse_usage({"total": 10, "output": 50})


def test_langfuse_prompt_details_keys_from_otel_ingestion():
    counts = from_langfuse_usage(
        {
            "input": 20,
            "prompt_details.cache_read": 70,
            "prompt_details.cache_write": 10,
            "output": 9,
            "completion_details.reasoning": 4,
        }
    )
    assert counts == TokenCounts(
        input_tokens=100, cache_read_tokens=70, cache_write_tokens=10, output_tokens=13, reasoning_tokens=4
    )


def test_langfuse_unrelated_keys_are_ignored():
    assert from_langfuse_usage({"input": 3, "output": 4, "web_search_requests": 2}) == TokenCounts(
        3, 0, 0, 4, 0
    )


# --- Helicone -------------------------------------------------------------------------------------------


def test_helicone_adds_cache_audio_and_reasoning_back():
    counts = from_helicone(
        prompt_tokens=100, completion_tokens=50, cache_read=800, cache_write=100, reasoning=30, audio=5
    )
    assert counts == TokenCounts(
        input_tokens=1005,
        cache_read_tokens=800,
        cache_write_tokens=100,
        output_tokens=80,
        reasoning_tokens=30,
    )


def test_helicone_null_columns_read_as_zero():
    assert from_helicone(12, 25, None, None, None, None) == TokenCounts(12, 0, 0, 25, 0)


def test_helicone_reference_records_convert():
    records = json.loads(
        (REFERENCE / "helicone" / "heliconerequest_mock_records.requestController.test.json").read_text()
    )
    row = records["data"][1]
    counts = from_helicone(
        row["prompt_tokens"],
        row["completion_tokens"],
        row["prompt_cache_read_tokens"],
        row["prompt_cache_write_tokens"],
        0,
        row["prompt_audio_tokens"],
    )
    assert counts == TokenCounts(input_tokens=13, output_tokens=30)


# --- OpenAI / LiteLLM / Anthropic / Responses ----------------------------------------------------------


def test_openai_chat_usage_is_already_inclusive():
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0},
    }
    assert from_openai_usage(usage) == TokenCounts(1200, 1024, 0, 300, 256)


def test_litellm_usage_with_anthropic_cache_fields():
    # LiteLLM maps Anthropic to prompt_tokens = input + cache_creation + cache_read, and repeats the cache
    # counts at the top level; they must not be added a second time.
    usage = {
        "prompt_tokens": 2100,
        "completion_tokens": 80,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 90,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_creation_tokens": 90},
    }
    assert from_openai_usage(usage) == TokenCounts(2100, 2000, 90, 80, 0)


def test_litellm_top_level_cache_fields_without_details():
    usage = {
        "prompt_tokens": 500,
        "completion_tokens": 5,
        "cache_read_input_tokens": 300,
        "prompt_tokens_details": None,
    }
    assert from_openai_usage(usage) == TokenCounts(500, 300, 0, 5, 0)


def test_anthropic_raw_usage_adds_cache_to_input():
    usage = {
        "input_tokens": 5,
        "cache_read_input_tokens": 12000,
        "cache_creation_input_tokens": 300,
        "output_tokens": 250,
    }
    assert from_openai_usage(usage) == TokenCounts(12305, 12000, 300, 250, 0)


def test_anthropic_raw_usage_with_ttl_split_only():
    usage = {
        "input_tokens": 10,
        "output_tokens": 1,
        "cache_read_input_tokens": None,
        "cache_creation": {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60},
    }
    assert from_openai_usage(usage) == TokenCounts(110, 0, 100, 1, 0)


def test_responses_api_usage():
    usage = {
        "input_tokens": 900,
        "input_tokens_details": {"cached_tokens": 512},
        "output_tokens": 400,
        "output_tokens_details": {"reasoning_tokens": 320},
        "total_tokens": 1300,
    }
    assert from_openai_usage(usage) == TokenCounts(900, 512, 0, 400, 320)


def test_litellm_reference_payload_usage():
    payload = json.loads((REFERENCE / "litellm" / "standard_logging_payload.json").read_text())
    assert from_openai_usage(payload["response"]["usage"]) == TokenCounts(10, 0, 0, 20, 0)


def test_pydantic_usage_object_is_accepted():
    class Usage:
        def model_dump(self):
            return {"prompt_tokens": 3, "completion_tokens": 4}

    assert from_openai_usage(Usage()) == TokenCounts(3, 0, 0, 4, 0)


def test_inconsistent_openai_usage_raises():
    with pytest.raises(ValueError, match="exceed input_tokens"):
        from_openai_usage(
            {"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 50}}
        )


def test_non_numeric_count_raises_naming_the_key():
    with pytest.raises(ValueError, match="prompt_tokens must be a whole number"):
        from_openai_usage({"prompt_tokens": "lots", "completion_tokens": 1})


def test_decimal_strings_from_otlp_are_read():
    assert from_openai_usage({"prompt_tokens": "14", "completion_tokens": 173.0}) == TokenCounts(
        14, 0, 0, 173, 0
    )


# --- properties: encode canonical counts in each source's convention, decode, get them back ------------

small = st.integers(min_value=0, max_value=5_000_000)


@st.composite
def canonical_counts(draw) -> TokenCounts:
    read, write, uncached = draw(small), draw(small), draw(small)
    reasoning, visible = draw(small), draw(small)
    return TokenCounts(uncached + read + write, read, write, visible + reasoning, reasoning)


@given(canonical_counts())
def test_langfuse_round_trip(c):
    details = {
        "input": c.uncached_input_tokens,
        "input_cache_read": c.cache_read_tokens,
        "input_cache_creation": c.cache_write_tokens,
        "output": c.non_reasoning_output_tokens,
        "output_reasoning_tokens": c.reasoning_tokens,
        "total": c.input_tokens + c.output_tokens,
    }
    assert from_langfuse_usage(details) == c
    without_input = {k: v for k, v in details.items() if k != "input"}
    assert from_langfuse_usage(without_input) == c


@given(canonical_counts())
def test_helicone_round_trip(c):
    decoded = from_helicone(
        c.uncached_input_tokens,
        c.non_reasoning_output_tokens,
        c.cache_read_tokens,
        c.cache_write_tokens,
        c.reasoning_tokens,
    )
    assert decoded == c


@given(canonical_counts())
def test_openai_round_trip(c):
    usage = {
        "prompt_tokens": c.input_tokens,
        "completion_tokens": c.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": c.cache_read_tokens,
            "cache_creation_tokens": c.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": c.reasoning_tokens},
    }
    assert from_openai_usage(usage) == c


@given(canonical_counts())
def test_anthropic_round_trip(c):
    usage = {
        "input_tokens": c.uncached_input_tokens,
        "cache_read_input_tokens": c.cache_read_tokens,
        "cache_creation_input_tokens": c.cache_write_tokens,
        "output_tokens": c.output_tokens,
    }
    decoded = from_openai_usage(usage)
    # Anthropic does not split thinking out of output: reasoning is unknown (0), output is exact.
    assert decoded == TokenCounts(
        c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, c.output_tokens, 0
    )


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "input",
                "output",
                "total",
                "input_cached_tokens",
                "input_cache_creation",
                "output_reasoning_tokens",
                "input_audio",
                "cache_read_input_tokens",
            ]
        ),
        small,
    )
)
def test_langfuse_result_always_satisfies_invariants(details):
    try:
        counts = from_langfuse_usage(details)
    except ValueError:
        return  # a total smaller than its output side is reported, never turned into nonsense
    assert counts.cache_read_tokens + counts.cache_write_tokens <= counts.input_tokens
    assert counts.reasoning_tokens <= counts.output_tokens
    assert min(counts.input_tokens, counts.output_tokens) >= 0
