"""Files grokbatch writes for people (outputs, report.html) get the permissions the user asked for.

`tempfile.mkstemp` creates files with mode 0o600 whatever the umask, so an output renamed
into place from one stays private to its owner: a teammate or a web server sharing the
directory cannot read the clips. Here the temporary file is created with 0o666 and the
kernel applies the process's umask (0o022 gives 0o644, 0o002 gives 0o664, 0o077 keeps 0o600),
exactly as for a file written with `open()`. The umask is never read or changed: changing it,
even for a moment, would affect every thread of the process.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | os.O_EXCL  # never reuse (or follow a symlink planted at) an existing name
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_ATTEMPTS = 100


def create_temp(directory: Path, *, prefix: str, suffix: str) -> tuple[int, Path]:
    """Create a new empty file in directory with mode 0o666 & ~umask; returns (fd, path)."""
    for _ in range(_ATTEMPTS):
        path = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, _FLAGS, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory} after {_ATTEMPTS} tries")


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace path with text: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp(path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
