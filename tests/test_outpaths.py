"""Output paths in their normal form: the quick check for paths already normal agrees with
the full one (normpath, then the escape rules) on every path, including the awkward ones."""

from __future__ import annotations

import itertools
import posixpath

import pytest

from grokbatch import outpaths
from grokbatch.outpaths import normalize

PIECES = ["a", "b.mp4", ".", "..", ".x", "", "/", "\\", "c:", ":", " ", "ü", "a..b", "x/"]


@pytest.mark.parametrize("length", [1, 2, 3])
def test_every_path_normalizes_as_normpath_and_the_escape_rules_say(length: int) -> None:
    quick = 0
    for parts in itertools.product(PIECES, repeat=length):
        for joined in ("".join(parts), "/".join(parts)):
            assert normalize(joined) == outpaths._normalize(joined), joined
            quick += outpaths._PLAIN.fullmatch(joined) is not None
    assert quick > 0  # the quick path was taken, and agreed


@pytest.mark.parametrize("path", ["a/b/c.mp4", "fox/cinematic.mp4", "ü ✓/x y.mp4", "a..b/c.d.e"])
def test_a_normal_path_is_kept_as_it_is(path: str) -> None:
    assert outpaths._PLAIN.fullmatch(path) is not None
    assert normalize(path) == (posixpath.normpath(path), None) == (path, None)


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "c:/x", "a/", ""])
def test_a_path_that_escapes_or_is_not_a_file_is_refused(path: str) -> None:
    assert normalize(path)[1] is not None
