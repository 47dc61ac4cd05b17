"""Delivered versus requested: does a downloaded file match what was asked (and paid) for?

`compare` is pure: the job's parameters and a Probe of its file in, the differences out as
short sentences, for the report, the export and the run summary alike. The tolerances:

* duration: more than DURATION_TOLERANCE_S (0.5 s) off the requested seconds. Encoders end
  a clip on a frame boundary and may add or drop a frame or two (0.04–0.1 s); a clip half a
  second short is a different clip.
* aspect ratio: the frame's width / height more than ASPECT_TOLERANCE (2 %) away from the
  requested ratio. Encoders round sides to even numbers or multiples of 16 (854×480 and
  848×480 are both 16:9, within 0.7 %); the closest two ratios offered, 4:3 and 3:2, are
  12 % apart.
* resolution (videos): the shorter side more than RESOLUTION_TOLERANCE_PX (16 px, one
  macroblock) away from 480, 720 or 1080.

Images are checked for their aspect ratio only (no provider takes a resolution for them).
A parameter the job did not set is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .probe import Probe

DURATION_TOLERANCE_S = 0.5
ASPECT_TOLERANCE = 0.02
RESOLUTION_TOLERANCE_PX = 16
RESOLUTIONS = {"480p": 480, "720p": 720, "1080p": 1080}
# The ratios providers offer, to name what was delivered when it is one of them.
_NAMED = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21")


def compare(params: Mapping[str, Any], probe: Probe) -> list[str]:
    """How the delivered file differs from the request, one short sentence each; [] if not."""
    wanted = str(params.get("type") or "video")
    if probe.kind != wanted:
        got = f"a {probe.format.upper()} {probe.kind}" if probe.kind != "unknown" else "a file"
        detail = f" that {probe.problem}" if probe.problem else ""
        return [f"{got}{detail} was delivered for a {wanted}"]
    if probe.problem:
        return [f"the {probe.format.upper()} file {probe.problem}"]
    found = []
    seconds = _number(params.get("duration"))
    if wanted == "video" and seconds is not None:
        if probe.duration is None:
            found.append(f"its duration is not in its header ({_secs(seconds)} requested)")
        elif abs(probe.duration - seconds) > DURATION_TOLERANCE_S:
            found.append(f"{_secs(probe.duration)} long, {_secs(seconds)} requested")
    w, h = probe.width, probe.height
    ratio = _ratio(params.get("aspect_ratio"))
    if ratio is not None and w and h and abs((w / h) / ratio - 1) > ASPECT_TOLERANCE:
        found.append(f"{w}×{h} ({_name_ratio(w / h)}), {params['aspect_ratio']} requested")
    nominal = RESOLUTIONS.get(str(params.get("resolution")))
    if wanted == "video" and nominal and w and h:
        short = min(w, h)
        if abs(short - nominal) > RESOLUTION_TOLERANCE_PX:
            found.append(f"{w}×{h} ({short}p), {params['resolution']} requested")
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _ratio(value: Any) -> float | None:
    """16:9 → 1.777…; None for anything that is not W:H with positive numbers."""
    if not isinstance(value, str) or value.count(":") != 1:
        return None
    left, right = value.split(":")
    try:
        w, h = float(left), float(right)
    except ValueError:
        return None
    return w / h if w > 0 and h > 0 else None


def _name_ratio(ratio: float) -> str:
    for name in _NAMED:
        named = _ratio(name)
        if named is not None and abs(ratio / named - 1) <= ASPECT_TOLERANCE:
            return name
    return f"{ratio:.2f}:1"


def _secs(value: float) -> str:
    return f"{round(value, 2):g} s"
