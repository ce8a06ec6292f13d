"""Writing a file the user named (``export focus --out``, ``report weekly --out``): checked before any work, written
whole or not at all, and every failure one line that names the path (``cannot write <path>: <reason>``)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from agentledger.core.errors import ConfigError

__all__ = ["check_output_file", "write_output_file"]


def _refused(path: Path, reason: str) -> ConfigError:
    return ConfigError(f"cannot write {path}: {reason}")


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def check_output_file(path: str | Path) -> Path:
    """``path`` when a file can be written there; otherwise a :class:`ConfigError` that says why: it is a
    folder, its folder does not exist (it is not created), or the folder may not be written. Called before the
    work whose result goes there, so a wrong path costs nothing and leaves nothing behind. A file that exists
    must be writable itself: it is replaced, but only where it could have been written over."""
    path = Path(path)
    if path.is_dir():
        raise _refused(path, "it is a folder")
    if not path.parent.exists():
        raise _refused(path, f"the folder {path.parent} does not exist")
    if not path.parent.is_dir():
        raise _refused(path, f"{path.parent} is not a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise _refused(path, "permission denied")
    folder = (
        path.resolve().parent
    )  # through a link, the folder of the file it points to: the new one is made there
    if not os.access(folder, os.W_OK | os.X_OK) and not _is_special(path):
        raise _refused(path, f"permission denied in the folder {folder}")
    return path


def write_output_file(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all: into a new file beside it, renamed over it
    when complete, so a failure leaves an existing file as it was and no partial one. A device or pipe
    (``/dev/stdout``) is written directly. Errors are :class:`ConfigError`\\ s naming the path."""
    path = check_output_file(path)
    body = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if _is_special(path):
            with path.open("wb") as handle:
                handle.write(body)
            return path
        target = path.resolve()  # through a link: the file it points to is replaced, the link stays
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _refused(path, _reason(exc)) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(body)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise _refused(path, _reason(exc)) from None
    return path


def _is_special(path: Path) -> bool:
    """A character device, pipe or socket: written in place, never replaced."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
