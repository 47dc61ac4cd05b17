"""The user's text files (manifests, CSV and JSONL prompt files): UTF-8 only, checked early.

A file in another encoding would otherwise fail half-way through a batch, or worse, be read
wrongly: a UTF-8 byte-order mark (what Excel writes by default) would silently become part
of the first column's name. So the mark is stripped, and a file that is UTF-16, Latin-1 or
binary is refused with its line and the fix ("save it as UTF-8"), before anything is sent.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path

from .errors import ManifestError, Problem

SAVE_AS_UTF8 = (
    "save the file as UTF-8 (in Excel: Save As › 'CSV UTF-8'; in an editor: "
    "save with encoding UTF-8)"
)
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_text(path: Path, *, display: str, limit: int) -> str:
    """The whole file (at most `limit` bytes) as text, or ManifestError naming it and the fix."""
    with _open_binary(path, display) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _error(
            display,
            f"the file is over {limit:,} bytes",
            "a manifest is a short file: move long lists of prompts into a prompts file",
        )
    _check_head(data, display)
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _undecodable(display, data.count(b"\n", 0, exc.start) + 1, exc) from None
    at = text.find("\x00")
    if at >= 0:
        raise _nul(display, text.count("\n", 0, at) + 1)
    return text


def iter_lines(path: Path, *, display: str) -> Iterator[str]:
    """Stream the file's lines (newlines kept); a clean error at a NUL or undecodable byte."""
    with _open_binary(path, display) as probe:
        _check_head(probe.read(4), display)
    with path.open(encoding="utf-8-sig", errors="strict", newline="") as fh:
        try:
            for number, line in enumerate(fh, start=1):
                if "\x00" in line:
                    raise _nul(display, number)
                yield line
        except UnicodeDecodeError:
            # The decoder works in blocks, ahead of the lines handed out: find the real line.
            line_no, exc = _first_bad_byte(path)
            raise _undecodable(display, line_no, exc) from None


def _open_binary(path: Path, display: str) -> BufferedReader:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise _error(display, "file not found", "check the path") from None
    except IsADirectoryError:
        raise _error(display, "is a directory, not a file", "point at a file") from None
    except OSError as exc:
        raise _error(display, f"cannot read the file: {exc.strerror or exc}", None) from None


def _check_head(head: bytes, display: str) -> None:
    wide = head.startswith(_WIDE_BOMS)
    # UTF-16 without a mark: ASCII text then has a zero byte beside every character.
    if wide or (len(head) >= 2 and (head[0] == 0) != (head[1] == 0)):
        raise _error(display, "the file is UTF-16 (or UTF-32), not UTF-8", SAVE_AS_UTF8, line=1)


def _first_bad_byte(path: Path) -> tuple[int, UnicodeDecodeError]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk.count(b"\n", 0, max(exc.start, 0)), exc
            line += chunk.count(b"\n")
    raise AssertionError("the file decoded on the second reading")  # pragma: no cover


def _nul(display: str, line: int) -> ManifestError:
    return _error(
        display, "contains a NUL byte: it is binary, or not UTF-8 text", SAVE_AS_UTF8, line=line
    )


def _undecodable(display: str, line: int, exc: UnicodeDecodeError) -> ManifestError:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return _error(
        display,
        f"is not UTF-8: byte 0x{byte} cannot be decoded (Latin-1 or Windows-1252 text, or "
        "binary data)",
        SAVE_AS_UTF8,
        line=line,
    )


def _error(
    display: str, message: str, hint: str | None, *, line: int | None = None
) -> ManifestError:
    return ManifestError([Problem(message, file=display, line=line, hint=hint)])
