"""Output paths checked against the filesystem's rules before anything is paid for.

A download happens after the job is paid: a path the filesystem refuses then costs a clip.
So every rendered path is checked first, on its own (`path_problem`: NUL and control
characters, names over 255 bytes, with room for the download's temporary name) and against
the real output directory and the other jobs (`OutputTree`): a regular file where a
directory must go, an output directory under a regular file, a path that is a directory,
a symbolic link that leads outside the output directory, a directory that cannot be
written, and one job's file being another job's directory. Each directory is looked at
once, however many jobs write into it.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

NAME_MAX = 255  # bytes in one path component, on every common filesystem
TEMP_ROOM = 15  # the download writes ".<name>.XXXXXXXX.part" beside the file first
PATH_MAX = 4000  # bytes in the whole path below the output directory
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Relative, and normal as it stands: names that neither start with "." nor contain a
# backslash or a drive colon, joined by single slashes. normpath would return it unchanged.
_PLAIN = re.compile(r"[^./\\:][^/\\:]*(?:/[^./\\:][^/\\:]*)*")


def path_problem(path: str) -> tuple[str, str] | None:
    """(message, fix) if a rendered output path breaks a filesystem rule by itself."""
    bad = _CONTROL.search(path)
    if bad:
        name = "a NUL byte" if bad.group() == "\x00" else f"control character {bad.group()!r}"
        return (
            f"the output path contains {name}",
            f"e.g. {_short(path)}: keep control characters out of the values output.path uses "
            "(| replace helps)",
        )
    if len(path) * 4 <= NAME_MAX - TEMP_ROOM:
        return None  # short enough whatever its characters: the common case
    size = len(path.encode("utf-8", "surrogatepass"))
    if size > PATH_MAX:
        return (
            f"the output path is over {PATH_MAX:,} bytes",
            f"shorten it (one is {size:,} bytes): use fewer or shorter values in output.path",
        )
    parts = path.split("/")
    for i, part in enumerate(parts):
        limit = NAME_MAX - TEMP_ROOM if i == len(parts) - 1 else NAME_MAX
        length = len(part.encode("utf-8", "surrogatepass"))
        if length > limit:
            return (
                f"a name in the output path is over {limit} bytes: filesystems allow "
                f"{NAME_MAX}, and the download needs room for its temporary name",
                f"e.g. {_short(part)} is {length} bytes: shorten the values used in "
                "output.path, e.g. {{ text | truncate(60) }}",
            )
    return None


def normalize(path: str) -> tuple[str, tuple[str, str] | None]:
    """The path in its normal form, or (message, fix) if it escapes the output directory."""
    if _PLAIN.fullmatch(path):
        return path, None  # already normal: the common case, without normpath's work
    return _normalize(path)


def _normalize(path: str) -> tuple[str, tuple[str, str] | None]:
    """normalize() for any path: normpath, then the escape rules."""
    normal = posixpath.normpath(path.replace("\\", "/")) if path else ""
    if (
        not path
        or path.endswith("/")
        or normal.startswith(("/", "../"))
        or normal in ("..", ".")
        or (len(normal) > 1 and normal[1] == ":")
    ):
        if not path:
            return normal, ("the output path renders empty", "make it render a file name")
        return normal, (
            "the output path escapes the output directory",
            f"e.g. {_short(path)}: make it a relative path to a file inside `output.dir`, "
            "without '..' or a leading '/'",
        )
    return normal, None


class OutputTree:
    """The files a batch writes, checked against each other and the output directory."""

    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.problems: list[tuple[str, str, str]] = []  # (where, message, fix)
        self._dirs: dict[str, set[str] | None] = {}  # dir → names of its subdirectories
        self._folders: set[str] = set()  # every directory some job writes under
        self.files: set[int] = set()  # fingerprints of every path added
        self._root: Path | None = None
        if out_dir is not None:
            self._root = self._check_root(out_dir)

    def add(self, path: str, fingerprint: int) -> None:
        """Record one job's output path (relative, normalised, already `path_problem`-free)
        and its fingerprint, `hash(path)`."""
        folder, _, name = path.rpartition("/")
        self.files.add(fingerprint)
        if folder in self._dirs:
            listing = self._dirs[folder]
        else:
            listing = self._dirs[folder] = self._look(folder)
            self._folders.update(_parents(folder), (folder,))
        if listing and name in listing:
            self._fail(
                "output.path",
                f"{self._show(path)} is an existing directory, not a file",
                "move it away, or change output.path",
            )

    def finish(self) -> None:
        """The checks that need every path: one job's file is another's directory."""
        for folder in self._folders:
            if folder and hash(folder) in self.files:
                self._fail(
                    "output.path",
                    f"{folder!r} is written as a file by one job and as a directory by another",
                    "give files and folders different names in output.path",
                )

    # --- the disk ------------------------------------------------------------------------------

    def _check_root(self, out_dir: Path) -> Path | None:
        try:
            root = Path(os.path.abspath(out_dir))
            existing = next(p for p in (root, *root.parents) if os.path.lexists(p))
        except (ValueError, OSError) as exc:
            self._fail(
                "output.dir",
                f"the output directory {str(out_dir)!r} is unusable: {exc}",
                "use a plain directory path",
            )
            return None
        if not existing.is_dir():
            where = "is" if existing == root else f"is under {str(existing)!r}, which is"
            self._fail(
                "output.dir",
                f"the output directory {str(out_dir)!r} {where} a file",
                "choose another output directory, or move the file away",
            )
            return None
        if not os.access(existing, os.W_OK | os.X_OK):
            self._fail(
                "output.dir",
                f"cannot write in {str(existing)!r} (permission denied)",
                "choose an output directory you can write to",
            )
            return None
        return root

    def _look(self, folder: str) -> set[str] | None:
        """Check the existing part of out_dir/folder; its subdirectories, if it exists."""
        if self._root is None:
            return None
        real_root = os.path.realpath(self._root)
        current = self._root
        for part in folder.split("/") if folder else ():
            current = current / part
            if not os.path.lexists(current):
                return None  # the rest is created by the download
            if os.path.islink(current):
                target = os.path.realpath(current)
                if os.path.commonpath([real_root, target]) != real_root:
                    self._fail(
                        "output.path",
                        f"{self._show(str(current.relative_to(self._root)))} is a symbolic "
                        f"link to {target!r}, outside the output directory",
                        "remove the link, or write the outputs elsewhere",
                    )
                    return None
            if not current.is_dir():
                self._fail(
                    "output.path",
                    f"{self._show(str(current.relative_to(self._root)))} is a file, but "
                    "jobs write into it as a directory",
                    "move the file away, or change output.path",
                )
                return None
        try:
            with os.scandir(current) as entries:
                return {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        except OSError:
            return None

    def _fail(self, where: str, message: str, fix: str) -> None:
        if (where, message, fix) not in self.problems:
            self.problems.append((where, message, fix))

    def _show(self, relative: str) -> str:
        return repr(str(Path(self.out_dir or ".") / relative))


def _parents(folder: str) -> list[str]:
    parts = folder.split("/") if folder else []
    return ["/".join(parts[:i]) for i in range(len(parts))]


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
