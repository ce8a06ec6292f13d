"""Policies: YAML loading, validation errors that name the file and the field, combination."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentledger.analytics.whatif import Policy, load_policy, parse_policy
from agentledger.analytics.whatif.policy import PromptCaching, Substitution
from agentledger.core.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "policies"


def test_every_example_policy_loads() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 3
    for path in files:
        policy = load_policy(path)
        assert not policy.is_empty(), path


def test_example_values_are_read() -> None:
    policy = load_policy(EXAMPLES / "route_classification.yaml")
    rule = policy.substitutions[0]
    assert (rule.task_type, rule.from_model, rule.model, rule.output_ratio) == (
        "classify",
        "gpt-4o",
        "gpt-4o-mini",
        1.1,
    )
    assert policy.max_tokens[0].max_tokens == 64
    assert policy.levers() == ["substitutions", "max_tokens"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_field_names_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "prompt_caching:\n  ttl: 300\n")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert str(path) in str(info.value)
    assert "prompt_caching.ttl" in str(info.value)


def test_bad_value_names_the_list_index(tmp_path: Path) -> None:
    path = write(tmp_path, "substitutions:\n  - model: gpt-4o-mini\n    output_ratio: -1\n")
    with pytest.raises(ConfigError, match=r"substitutions\.0\.output_ratio"):
        load_policy(path)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("max_tokens:\n  - max_tokens: true\n", "max_tokens.0.max_tokens"),  # lax validation reads it as 1
        ("batch:\n  discount: '0.5'\n", "batch.discount"),
        ("substitutions:\n  - model: gpt-4o-mini\n    output_ratio: yes\n", "substitutions.0.output_ratio"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_converted(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_policy(write(tmp_path, text))
    # whole numbers where a fraction is allowed stay valid
    assert load_policy(write(tmp_path, "prompt_caching:\n  ttl_seconds: 300\n")).prompt_caching is not None


def test_context_cap_needs_exactly_one_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "context_cap:\n  keep_last_turns: 4\n  summarize_every: 8\n")
    with pytest.raises(
        ConfigError, match="context_cap: give exactly one of keep_last_turns and summarize_every"
    ):
        load_policy(path)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the policy file"):
        load_policy(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(write(tmp_path, "substitutions: [\n"))
    with pytest.raises(ConfigError, match="a policy is a mapping"):
        load_policy(write(tmp_path, "- just a list\n"))


def test_empty_document_is_the_empty_policy(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "")).is_empty()
    assert parse_policy({}).is_empty()


def test_combine_concatenates_rules_and_refuses_two_of_one_lever() -> None:
    a = Policy(substitutions=[Substitution(model="gpt-4o-mini")], prompt_caching=PromptCaching())
    b = Policy(substitutions=[Substitution(model="claude-3-5-haiku")])
    combined = a.combine(b)
    assert [r.model for r in combined.substitutions] == ["gpt-4o-mini", "claude-3-5-haiku"]
    assert combined.prompt_caching == PromptCaching()
    with pytest.raises(ConfigError, match="both set prompt_caching"):
        a.combine(Policy(prompt_caching=PromptCaching(ttl_seconds=60)))


def test_a_policy_file_that_is_not_utf8_or_gives_a_key_twice_is_refused_by_line(tmp_path: Path) -> None:
    binary = tmp_path / "utf16.yaml"
    binary.write_bytes("batch: {}\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="utf16.yaml: cannot read the policy file: not UTF-8"):
        load_policy(binary)
    twice = write(tmp_path, "batch: {}\nbatch:\n  discount: 0.9\n")
    with pytest.raises(ConfigError, match=r"the key 'batch' is given twice \(first on line 1\)"):
        load_policy(twice)
    merged = write(tmp_path, "base: &b {discount: 0.3}\nbatch:\n  <<: *b\n  discount: 0.4\n")
    with pytest.raises(ConfigError, match="base"):  # merging is allowed; the unknown key is what is refused
        load_policy(merged)
