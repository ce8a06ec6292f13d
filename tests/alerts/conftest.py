"""Fixtures of the alert tests; the helpers live in ``alert_fixtures.py`` beside this file, which the
tests import by name whatever pytest's import mode (hence this folder on sys.path)."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from alert_fixtures import http_sink, smtp_sink, tls_cert, wh  # noqa: E402, F401 - pytest fixtures
