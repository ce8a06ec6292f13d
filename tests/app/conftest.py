"""The CLI's consoles follow the width the test gives (``COLUMNS`` in the runner's environment).

Rich fixes a console's width when ``COLUMNS`` is set as the console is made, and pytest-xdist's workers start
with ``COLUMNS=80``: the module-level consoles of agentledger.app would then draw every table 80 wide whatever
a test asks. Forgetting that width makes them read ``COLUMNS`` (or the terminal) at each print, as in a shell.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from rich.console import Console


@pytest.fixture(autouse=True)
def _consoles_follow_columns() -> Iterator[None]:
    consoles = [
        value
        for name, module in list(sys.modules.items())
        if name.startswith("agentledger.app") and module is not None
        for value in vars(module).values()
        if isinstance(value, Console)
    ]
    saved = [(c, c._width, c._height) for c in consoles]
    for console in consoles:
        console._width = console._height = None
    yield
    for console, width, height in saved:
        console._width, console._height = width, height
