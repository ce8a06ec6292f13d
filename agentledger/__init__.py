"""agentledger: cost observability and FinOps analytics for LLM agents.

The repository's top-level folders (core/, ingest/, warehouse/, analytics/, alerts/, app/, ui/, sql/) are the
subpackages of this package: an installed wheel carries them as agentledger/<folder>; in a source checkout this
package's path is extended to the checkout's root so that ``agentledger.core`` is ``<root>/core``.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_root = Path(__file__).resolve().parent.parent
if (_root / "core" / "__init__.py").is_file() and (_root / "pyproject.toml").is_file():
    __path__.append(str(_root))  # type: ignore[name-defined]  # noqa: F821
