from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from grokbatch import download as download_module
from grokbatch.download import (
    Downloaded,
    FileStat,
    Verdict,
    check_output,
    download,
    sha256_file,
    verify,
)
from grokbatch.errors import DownloadError, OutputExpiredError, RateLimitedError, TransientError

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
SIGNED = "https://cdn.example/out/clip.mp4?X-Amz-Signature=secret123"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def serve(body: bytes, content_type: str | None = "video/mp4", **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        h = dict(headers)
        if content_type is not None:
            h["content-type"] = content_type
        return httpx.Response(200, headers=h, content=body)

    return handler


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.anyio
async def test_downloads_atomically_with_size_and_hash(tmp_path: Path) -> None:
    dest = tmp_path / "new" / "dir" / "clip.mp4"
    async with client(serve(MP4)) as http:
        got = await download(http, SIGNED, dest, kind="video")
    st = dest.stat()  # the stat once in place, for a rerun to trust it unread
    assert got == Downloaded(
        path=dest, size=len(MP4), sha256=hashlib.sha256(MP4).hexdigest(), content_type="video/mp4",
        mtime_ns=st.st_mtime_ns, inode=st.st_ino,
    )  # fmt: skip
    assert dest.read_bytes() == MP4
    assert leftovers(dest.parent) == ["clip.mp4"]
    assert verify(dest, size=got.size, sha256=got.sha256)
    assert not verify(dest, size=got.size + 1, sha256=got.sha256)
    assert not verify(dest, size=got.size, sha256="0" * 64)
    assert not verify(tmp_path / "missing", size=1, sha256=got.sha256)
    assert sha256_file(dest) == got.sha256


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (MP4, "application/octet-stream", "video"),
        (MP4, None, "video"),
        (PNG, None, "image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "binary/octet-stream", "image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "application/octet-stream", "image"),
        (PNG, "image/png; charset=binary", "image"),
    ],
)
async def test_untyped_bodies_are_accepted_by_their_magic(
    tmp_path: Path, body: bytes, content_type: str | None, kind: str
) -> None:
    async with client(serve(body, content_type)) as http:
        got = await download(http, SIGNED, tmp_path / "out", kind=kind)
    assert got.size == len(body)


def check_failed(tmp_path: Path, dest: Path) -> None:
    """The old file is untouched and no temporary file is left."""
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == [dest.name]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (serve(b"<html>error</html>", "text/html"), "content type is text/html, not video/*"),
        (serve(PNG, "image/png"), "content type is image/png"),
        (serve(PNG, "application/octet-stream"), "does not look like a video"),
        (serve(b"", "video/mp4"), "empty body"),
        (serve(MP4, "video/mp4", **{"content-length": "10300"}), "Content-Length said 10300"),
        (serve(MP4 * 3, "video/mp4"), "over the 20000 byte limit"),
        (serve(MP4, "video/mp4", **{"content-length": "30000"}), "over the 20000 byte limit"),
        (lambda r: httpx.Response(400), "HTTP 400, expected 200"),
    ],
)
async def test_failed_checks_leave_dest_untouched(
    tmp_path: Path, handler: Handler, message: str
) -> None:
    dest = tmp_path / "clip.mp4"
    dest.write_bytes(b"previous")
    async with client(handler) as http:
        with pytest.raises(DownloadError, match=message) as info:
            await download(http, SIGNED, dest, kind="video", max_bytes=20_000)
    assert "secret123" not in str(info.value)  # signatures stay out of messages
    check_failed(tmp_path, dest)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [403, 404, 410])
async def test_expired_urls(tmp_path: Path, status: int) -> None:
    dest = tmp_path / "clip.mp4"
    dest.write_bytes(b"previous")
    async with client(lambda r: httpx.Response(status)) as http:
        with pytest.raises(OutputExpiredError, match=f"HTTP {status}"):
            await download(http, SIGNED, dest, kind="video")
    check_failed(tmp_path, dest)


@pytest.mark.anyio
async def test_transient_failures(tmp_path: Path) -> None:
    dest = tmp_path / "clip.mp4"
    dest.write_bytes(b"previous")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    cases: list[tuple[Handler, type[Exception]]] = [
        (lambda r: httpx.Response(503), TransientError),
        (lambda r: httpx.Response(429, headers={"retry-after": "7"}), RateLimitedError),
        (refused, TransientError),
    ]
    for handler, error in cases:
        async with client(handler) as http:
            with pytest.raises(error) as info:
                await download(http, SIGNED, dest, kind="video")
        assert isinstance(info.value, TransientError) and info.value.request_sent
        check_failed(tmp_path, dest)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.anyio
async def test_rate_limit_carries_retry_after(tmp_path: Path) -> None:
    async with client(lambda r: httpx.Response(429, headers={"retry-after": "7"})) as http:
        with pytest.raises(RateLimitedError) as info:
            await download(http, SIGNED, tmp_path / "x", kind="video")
    assert info.value.retry_after == 7


@pytest.mark.anyio
async def test_rate_limit_retry_after_as_an_http_date(tmp_path: Path) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    async with client(lambda r: httpx.Response(429, headers={"retry-after": when})) as http:
        with pytest.raises(RateLimitedError) as info:
            await download(http, SIGNED, tmp_path / "x", kind="video")
    assert info.value.retry_after is not None and 60 < info.value.retry_after <= 90


def redirecting(location: str, hops: int = 1) -> Handler:
    """Redirects `hops` times along /hop/N, then to `location`; serves MP4 anywhere else."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            target = f"/hop/{n + 1}" if n + 1 < hops else location
            return httpx.Response(302, headers={"location": target})
        if path == "/out/clip.mp4":  # SIGNED
            return httpx.Response(301, headers={"location": "/hop/0"})
        return httpx.Response(200, headers={"content-type": "video/mp4"}, content=MP4)

    return handler


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("location", "names"),
    [
        ("file:///etc/passwd", "file:///etc/passwd, which is a file URL"),
        ("data:video/mp4;base64," + "A" * 5000, "a data: or similar URL"),
        ("ftp://mirror.example/clip.mp4", "which is a ftp URL"),
        ("gopher://x.example/", "which is a gopher URL"),
        ("http:///nohost.mp4", "without a host"),
    ],
)
async def test_a_redirect_away_from_http_is_refused_naming_it(
    tmp_path: Path, location: str, names: str
) -> None:
    dest = tmp_path / "clip.mp4"
    dest.write_bytes(b"previous")
    async with client(redirecting(location, hops=2)) as http:
        with pytest.raises(DownloadError, match="not fetched") as info:
            await download(http, SIGNED, dest, kind="video")
    assert names in str(info.value) and len(str(info.value)) < 400
    check_failed(tmp_path, dest)


@pytest.mark.anyio
async def test_http_redirects_are_followed_a_bounded_number_of_times(tmp_path: Path) -> None:
    async with client(redirecting("https://cdn2.example/final.mp4", hops=3)) as http:
        got = await download(http, SIGNED, tmp_path / "ok.mp4", kind="video")
    assert got.size == len(MP4)
    async with client(redirecting("https://cdn2.example/final.mp4", hops=12)) as http:
        with pytest.raises(DownloadError, match="more than 10 redirects"):
            await download(http, SIGNED, tmp_path / "loop.mp4", kind="video")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "data:video/mp4;base64,AAAA", "https://[::1/x", "/relative.mp4"]
)
async def test_an_output_url_that_is_not_http_is_never_fetched(tmp_path: Path, url: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"fetched {request.url}")

    async with client(handler) as http:
        with pytest.raises(DownloadError, match="not fetched"):
            await download(http, url, tmp_path / "x.mp4", kind="video")
    assert leftovers(tmp_path) == []


# --- a real server on loopback ---------------------------------------------------------

BIG = b"\x00\x00\x00\x20ftypisom" + hashlib.sha256(b"x").digest() * (3 * 2**20 // 32)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/expired"):
            self.send_response(403)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "video/mp4")
        self.send_header("content-length", str(len(BIG)))
        self.end_headers()
        # /cut: the server dies a third of the way through the body.
        end = len(BIG) // 3 if self.path.startswith("/cut") else len(BIG)
        for start in range(0, end, 64 * 1024):
            self.wfile.write(BIG[start : min(end, start + 64 * 1024)])
        if end < len(BIG):
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.anyio
async def test_streams_megabytes_over_loopback(tmp_path: Path, server: str) -> None:
    dest = tmp_path / "clip.mp4"
    async with httpx.AsyncClient() as http:
        got = await download(http, f"{server}/big.mp4?sig=1", dest, kind="video")
    assert got.size == len(BIG) > 3_000_000
    assert got.sha256 == hashlib.sha256(BIG).hexdigest() == sha256_file(dest)
    assert leftovers(tmp_path) == ["clip.mp4"]


@pytest.mark.anyio
async def test_mid_stream_disconnect_leaves_nothing(tmp_path: Path, server: str) -> None:
    dest = tmp_path / "clip.mp4"
    dest.write_bytes(b"previous")
    async with httpx.AsyncClient() as http:
        with pytest.raises(TransientError, match="failed"):
            await download(http, f"{server}/cut.mp4", dest, kind="video")
        with pytest.raises(OutputExpiredError):
            await download(http, f"{server}/expired.mp4", dest, kind="video")
    check_failed(tmp_path, dest)


# --- a rerun trusts a file at the cost of a stat ---------------------------------------------


def written(path: Path, data: bytes) -> FileStat:
    path.write_bytes(data)
    stat = FileStat.of(path)
    assert stat is not None
    return stat


def test_a_file_whose_stat_matches_is_trusted_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clip.mp4"
    stat = written(path, MP4)
    digest = hashlib.sha256(MP4).hexdigest()
    reads: list[Path] = []
    real = download_module.sha256_file
    monkeypatch.setattr(download_module, "sha256_file", lambda p: reads.append(p) or real(p))
    kw = {"size": len(MP4), "sha256": digest, "mtime_ns": stat.mtime_ns, "inode": stat.inode}
    assert check_output(path, **kw) == (Verdict.SAME, stat)
    assert reads == []  # not a byte read
    assert check_output(path, **kw, rehash=True) == (Verdict.VERIFIED, stat)  # run --verify
    assert reads == [path]


def test_a_changed_stat_rehashes_and_tells_a_copy_from_a_different_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    stat = written(path, MP4)
    kw = {"size": len(MP4), "sha256": hashlib.sha256(MP4).hexdigest()}
    recorded = {"mtime_ns": stat.mtime_ns, "inode": stat.inode}
    # Restored from a backup: a new inode and mtime, the same bytes.
    path.unlink()
    copy = written(path, MP4)
    os.utime(path, ns=(stat.mtime_ns + 5_000_000_000, stat.mtime_ns + 5_000_000_000))
    verdict, now = check_output(path, **kw, **recorded)
    assert verdict is Verdict.VERIFIED and now is not None and now.mtime_ns != stat.mtime_ns
    assert now.inode == copy.inode
    # Rewritten in place with other bytes of the same size: the mtime moves, the hash differs.
    path.write_bytes(MP4[:-1] + b"!")
    assert check_output(path, **kw, mtime_ns=now.mtime_ns, inode=now.inode)[0] is Verdict.CHANGED
    # Missing, or another size: changed, and nothing is read.
    assert check_output(tmp_path / "gone.mp4", **kw, **recorded) == (Verdict.CHANGED, None)
    path.write_bytes(MP4 + b"more")
    assert check_output(path, **kw, **recorded)[0] is Verdict.CHANGED


def test_no_recorded_stat_means_rehash(tmp_path: Path) -> None:
    """Jobs done before the stat was recorded (m002_output_stat) are hashed once."""
    path = tmp_path / "clip.mp4"
    written(path, MP4)
    kw = {"size": len(MP4), "sha256": hashlib.sha256(MP4).hexdigest()}
    assert check_output(path, **kw, mtime_ns=None, inode=None)[0] is Verdict.VERIFIED
    assert check_output(tmp_path, **kw, mtime_ns=None, inode=None) == (Verdict.CHANGED, None)
