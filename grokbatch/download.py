"""Fetch an output to disk so that what is at `dest` is always a whole, checked file.

Invariants:

* `dest` is only ever replaced by `os.replace` of a complete, fsynced temporary file in
  the same directory, after every check passed; the directory is fsynced after, so the
  rename survives a crash. A failed or cancelled download leaves `dest` untouched and no
  temporary file behind.
* The file's sha256 is computed from the bytes as they are written, never re-read.
* No credentials: output URLs are signed, and the client handed in must not carry an
  API key (redirects to a CDN would otherwise leak it). Nothing here adds a header.
* Error messages name the URL without its query string, where signatures live.
* Only http(s) is fetched: the URL itself and every redirect are checked before they are
  followed, so an answer or a redirect pointing at `file:`, `data:` or any other scheme
  ends as a DownloadError naming it, never as a read of something else.
"""

from __future__ import annotations

import enum
import hashlib
import os
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import anyio
import httpx

from .errors import DownloadError, OutputExpiredError, RateLimitedError, TransientError
from .files import create_temp
from .providers.parse import retry_after

_EXPIRED = (403, 404, 410)  # signed URLs answer 403 once expired; stores drop old outputs
_UNTYPED = ("", "application/octet-stream", "binary/octet-stream")
_MAGIC_BYTES = 12  # enough for every signature checked below
_READ_CHUNK = 1 << 20
MAX_REDIRECTS = 10


@dataclass(frozen=True)
class Downloaded:
    """An output on disk, as verified while it was written."""

    path: Path
    size: int
    sha256: str
    content_type: str
    # Its stat once in place, so that a rerun can trust it without reading it again.
    mtime_ns: int | None = None
    inode: int | None = None


async def download(
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    kind: str,
    timeout: float = 300.0,
    max_bytes: int = 2_000_000_000,
) -> Downloaded:
    """Stream url to dest atomically, checking status, type, length and content."""
    where = _safe_url(url)
    _check_scheme(url, where)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file is created 0o666 & ~umask (not mkstemp's 0o600): the rename keeps
    # its mode, and outputs must be as readable as any file the user writes.
    fd, tmp = create_temp(dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with anyio.fail_after(timeout):
                    result = await _fetch(
                        http, url, out, kind=kind, timeout=timeout, limit=max_bytes
                    )
            except TimeoutError as e:
                raise TransientError(f"download of {where} took over {timeout:g} s") from e
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
                raise DownloadError(f"download of {where} failed: {e!r}") from e
            except httpx.TransportError as e:
                raise TransientError(f"download of {where} failed: {e!r}") from e
            except httpx.HTTPError as e:
                raise DownloadError(f"download of {where} failed: {e!r}") from e
            size, digest, content_type = result
            out.flush()
            await anyio.to_thread.run_sync(os.fsync, out.fileno())
        os.replace(tmp, dest)
        await anyio.to_thread.run_sync(_fsync_dir, dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    stat = FileStat.of(dest)
    return Downloaded(
        path=dest,
        size=size,
        sha256=digest,
        content_type=content_type,
        mtime_ns=stat.mtime_ns if stat else None,
        inode=stat.inode if stat else None,
    )


async def _fetch(
    http: httpx.AsyncClient, url: str, out: BinaryIO, *, kind: str, timeout: float, limit: int
) -> tuple[int, str, str]:
    """Stream the body into out; returns (size, sha256, content type) once all checks pass."""
    where = _safe_url(url)
    target = url
    try:
        httpx.URL(url)
    except httpx.InvalidURL as e:
        raise DownloadError(f"{where} is not a URL ({e}): not fetched") from None
    for _ in range(MAX_REDIRECTS + 1):
        # Redirects are followed here, not by httpx, so that each target's scheme is
        # checked before anything is requested from it.
        try:
            async with http.stream(
                "GET", target, timeout=timeout, follow_redirects=False
            ) as response:
                if response.is_redirect:
                    target = _redirect_target(response, url)
                    continue
                return await _receive(response, out, kind=kind, limit=limit, where=where)
        except httpx.InvalidURL as e:
            # httpx reads every redirect's Location, followed or not, and cannot read a
            # host-less one such as data: or javascript:, so it is not shown here.
            raise DownloadError(
                f"{where} redirected to a URL that is not http(s) (a data: or similar URL; "
                f"{e}): not fetched"
            ) from None
    raise DownloadError(f"{where}: more than {MAX_REDIRECTS} redirects")


def _redirect_target(response: httpx.Response, url: str) -> str:
    location = response.headers.get("location", "")
    try:
        target = str(response.url.join(location))
    except httpx.InvalidURL as e:
        raise DownloadError(f"{_safe_url(url)} redirected to a URL that is none: {e}") from e
    # Named as the server wrote it: httpx would show file:///x as file:/x.
    shown = _safe_url(target if urlsplit(location).scheme == "" else location)
    _check_scheme(target, f"{_safe_url(url)} redirected to {shown}, which")
    return target


def _check_scheme(url: str, where: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise DownloadError(f"{where} is not a URL ({e}): not fetched") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"{where} is a {scheme or 'scheme-less'} URL, not http(s): not fetched")
    if not parts.hostname:
        raise DownloadError(f"{where} is an {scheme} URL without a host: not fetched")


async def _receive(
    response: httpx.Response, out: BinaryIO, *, kind: str, limit: int, where: str
) -> tuple[int, str, str]:
    _check_status(response, where)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    typed = content_type not in _UNTYPED
    if typed and not content_type.startswith(f"{kind}/"):
        raise DownloadError(f"{where}: content type is {content_type}, not {kind}/*")
    declared = _content_length(response)
    if declared is not None and declared > limit:
        raise DownloadError(f"{where}: {declared} bytes is over the {limit} byte limit")
    sha = hashlib.sha256()
    size = 0
    head = b""
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise DownloadError(f"{where}: body is over the {limit} byte limit")
        if len(head) < _MAGIC_BYTES:
            head += chunk[:_MAGIC_BYTES]
        sha.update(chunk)
        # Plain writes go to the page cache; only the fsync is slow enough for a thread.
        out.write(chunk)
    if size == 0:
        raise DownloadError(f"{where}: empty body")
    # Content-Length counts bytes on the wire, before any content decoding.
    encoded = response.headers.get("content-encoding", "identity") != "identity"
    received = response.num_bytes_downloaded if encoded else size
    if declared is not None and received != declared:
        raise DownloadError(f"{where}: received {received} bytes, Content-Length said {declared}")
    if not typed and not _magic_matches(head, kind):
        shown = content_type or "no content type"
        raise DownloadError(
            f"{where}: {shown} and the content does not look like a {kind} "
            f"(starts with {head[:_MAGIC_BYTES]!r})"
        )
    return size, sha.hexdigest(), content_type or "application/octet-stream"


@dataclass(frozen=True)
class FileStat:
    """What a stat says of a file: enough to tell that it was not replaced or rewritten."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path | str) -> FileStat | None:
        """The file's stat; None when it is missing or not a regular file."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat_module.S_ISREG(st.st_mode):
            return None
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


class Verdict(enum.Enum):
    """What a rerun found of a done job's file."""

    SAME = "same"  # the stat matches the one recorded when it was written: trusted unread
    VERIFIED = "verified"  # re-hashed (stat changed, or asked to): the content is the same
    CHANGED = "changed"  # missing, or its size or content differs


def verify(
    path: Path,
    *,
    size: int,
    sha256: str,
    mtime_ns: int | None = None,
    inode: int | None = None,
    rehash: bool = False,
) -> bool:
    """True when path exists with exactly this size and sha256; see `check_output`."""
    verdict, _ = check_output(
        path, size=size, sha256=sha256, mtime_ns=mtime_ns, inode=inode, rehash=rehash
    )
    return verdict is not Verdict.CHANGED


def check_output(
    path: Path,
    *,
    size: int,
    sha256: str,
    mtime_ns: int | None,
    inode: int | None,
    rehash: bool = False,
) -> tuple[Verdict, FileStat | None]:
    """Whether a done job's file is still what was downloaded, and its current stat.

    A file whose size, mtime_ns and inode all match the recorded ones is trusted without
    being read (the stat of a file written in place changes its mtime; a copy, a restore
    or a replacement changes its inode). Without a recorded stat, when it differs, or with
    `rehash`, the file is hashed again.
    """
    now = FileStat.of(path)
    if now is None or now.size != size:
        return Verdict.CHANGED, now
    if not rehash and (now.mtime_ns, now.inode) == (mtime_ns, inode):
        return Verdict.SAME, now
    try:
        same = sha256_file(path) == sha256
    except OSError:
        return Verdict.CHANGED, now
    return (Verdict.VERIFIED if same else Verdict.CHANGED), now


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's contents."""
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_READ_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _check_status(response: httpx.Response, where: str) -> None:
    status = response.status_code
    if status == 200:
        return
    if status in _EXPIRED:
        raise OutputExpiredError(f"{where}: HTTP {status}: the output URL has expired or is gone")
    if status == 429:
        raise RateLimitedError(
            f"download of {where} rate limited",
            status_code=status,
            retry_after=retry_after(response.headers),
        )
    if status >= 500:
        raise TransientError(f"download of {where} failed", status_code=status)
    raise DownloadError(f"{where}: HTTP {status}, expected 200")


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _magic_matches(head: bytes, kind: str) -> bool:
    if kind == "video":
        return head[4:8] == b"ftyp"  # MP4 / QuickTime
    if kind == "image":
        return (
            head.startswith(b"\x89PNG\r\n\x1a\n")
            or head.startswith(b"\xff\xd8\xff")  # JPEG
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        )
    return False


def _safe_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https"):
        return url if len(url) <= 60 else url[:59] + "…"  # data: URLs run to megabytes
    host = parts.netloc.rpartition("@")[2]  # never show user:password@
    return f"{parts.scheme}://{host}{parts.path}"


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
