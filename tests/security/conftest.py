"""The security tests import their shared helpers (security_helpers) by name: put this folder on sys.path
whatever pytest's import mode."""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
