"""The YAML files users write are read strictly, and their errors are one line naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentledger.alerts.rules import load_alerts
from agentledger.analytics.whatif.policy import load_policy
from agentledger.core.errors import ConfigError
from agentledger.core.pricing.overrides import load_overrides
from agentledger.ingest.config import load_config


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("batch: {}\nbatch: {discount: 0.9}\n", 2, "the key 'batch' is given twice (first on line 1)"),
        ("overrides: [\n", 2, "expected the node content, but found '<stream end>'"),
        ("a: 1\n  b: 2\n", 2, "mapping values are not allowed here"),
        (
            "a: 'open\n",
            2,
            "found unexpected end of stream (while scanning a quoted scalar started on line 1)",
        ),
    ],
)
@pytest.mark.parametrize("reader", [load_policy, load_overrides, load_config, load_alerts])
def test_a_malformed_file_gives_one_line_with_its_path_and_line(tmp_path: Path, reader, text, line, problem):
    path = tmp_path / "file.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        reader(path)
    message = str(info.value)
    assert message == f"{path}:{line}: not valid YAML: {problem}"
