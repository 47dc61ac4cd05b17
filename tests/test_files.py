"""Outputs and report.html get 0o666 & ~umask, as any file the user writes, still atomically."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from grokbatch.download import download
from grokbatch.files import create_temp, write_text_atomic
from grokbatch.report import write_report

from .test_report import make_row

UMASKS = [0o022, 0o077, 0o002]
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64


@pytest.fixture(params=UMASKS, ids=[f"umask-{u:03o}" for u in UMASKS])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    value: int = request.param
    old = os.umask(value)
    try:
        yield value
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_report_follows_the_umask(umask: int, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old page")
    os.chmod(target, 0o600)  # replaced, not rewritten in place: the new mode is the umask's
    write_report([make_row()], manifest_name="m", output_dir=tmp_path, report_path=target)
    assert mode(target) == 0o666 & ~umask
    assert "old page" not in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.anyio
async def test_download_follows_the_umask(umask: int, tmp_path: Path) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=MP4, headers={"content-type": "video/mp4"})

    dest = tmp_path / "clips" / "a.mp4"
    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as http:
        got = await download(http, "https://cdn.example/a.mp4", dest, kind="video")
    assert got.path == dest and dest.read_bytes() == MP4
    assert mode(dest) == 0o666 & ~umask
    assert [p.name for p in dest.parent.iterdir()] == ["a.mp4"]  # no .part left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old page")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "half \udcff")  # a lone surrogate cannot be written
    assert target.read_text() == "old page"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_an_existing_name_is_never_reused_or_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = iter(["taken", "planted", "free"])
    monkeypatch.setattr("grokbatch.files.secrets.token_hex", lambda n: next(names))
    (tmp_path / ".x.taken.part").write_text("someone else's")
    (tmp_path / ".x.planted.part").symlink_to(tmp_path / "target")
    fd, path = create_temp(tmp_path, prefix=".x.", suffix=".part")
    os.close(fd)
    assert path.name == ".x.free.part"
    assert (tmp_path / ".x.taken.part").read_text() == "someone else's"
    assert not (tmp_path / "target").exists()
