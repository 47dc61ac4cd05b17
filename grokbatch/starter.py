"""`grokbatch init`: a commented starter manifest for one provider, ready to validate and run.

Three files are written, never over an existing one: the manifest, the prompts CSV it
reads, and a copy of the manifest's JSON Schema that the manifest's first line points
editors to (so completion works offline and matches this grokbatch's version).
Each starter is small (4 jobs), within its own budget, and runs in the sandbox as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import providers
from .errors import InputError
from .schema import schema_text

MANIFEST = "batch.yaml"
PROMPTS = "prompts.csv"
SCHEMA = "manifest.schema.json"
DEFAULT_PROVIDER = "aivideoapi"


@dataclass(frozen=True)
class _Starter:
    about: str  # what is special about the provider (lines become comments)
    defaults: str  # the `defaults:` block's lines
    limits: str  # budget lines under `limits:`
    ratios: str = "16:9 9:16 1:1 4:3 3:4 3:2 2:3"  # the aspect ratios it takes
    ext: str = "mp4"
    prices: str = ""  # a `prices:` block, where the provider publishes none


_IMAGE = "  # image: https://…         # image-to-video: the still to animate (or an image column)"
_STARTERS = {
    "pixeldojo": _Starter(
        about="Text- or image-to-video, 1–15 s, 480p or 720p; a flat 10 credits per video\n"
        "(2 credits/s on another version of its page: grokbatch estimates the larger).",
        defaults=f"""  duration: 5                # seconds, 1–15
  resolution: 480p           # 480p or 720p
{_IMAGE}""",
        limits="  max_credits: 60            # PixelDojo credits, over every run of this batch",
    ),
    "aimlapi": _Starter(
        about="1–15 s, up to 1080p, reference images cited as @image1…; it publishes no\n"
        "per-second price, so this manifest declares one (plan marks such estimates with *).",
        defaults="""  duration: 6                # seconds, 1–15
  resolution: 480p           # 480p, 720p or 1080p
  # reference_images: [https://…/a.png]   # up to 7; cite them in the prompt as @image1…""",
        prices="""prices:
  aimlapi:
    credits_per_second: {480p: 100000, 720p: 140000, 1080p: 200000}   # your estimate
    usd_per_credit: 0.0000005   # 2,000,000 AI/ML credits = 1 USD
""",
        limits="  max_usd: 2                 # USD over every run (from the prices above)",
    ),
    "aivideoapi": _Starter(
        about="6–30 s, 480p or 720p, motion modes fun / normal / spicy (spicy is\n"
        "text-to-video only); 2.4 credits/s at 480p, 4.5 at 720p.",
        defaults="""  duration: 6                # seconds, 6–30
  resolution: 480p           # 480p or 720p
  mode: normal               # fun, normal or spicy""",
        limits="  max_credits: 100           # AI Video API credits, over every run of this batch",
        ratios="16:9 9:16 1:1 3:2 2:3",
    ),
    "apiframe": _Starter(
        about="6, 10 or 15 s (10, 15 or 25 credits), fixed at 720p; every submit\n"
        "carries an idempotency key, so a lost answer is resent safely.",
        defaults="  duration: 6                # seconds: 6, 10 or 15",
        limits="  max_credits: 60            # APIFrame credits, over every run of this batch",
    ),
    "vydra": _Starter(
        about="Text-to-image here (8 credits an image; a video is 150 whatever its\n"
        "length). Its plans cap jobs in flight (Free 2, Starter 5, Creator 10).",
        defaults="  type: image                # image (8 credits) or video (150 credits)",
        limits="""  provider_concurrency: {vydra: 2}   # the Free plan's limit
  max_credits: 50            # Vydra credits, over every run of this batch""",
        ext="png",
    ),
    "xai": _Starter(
        about="xAI's own API: 1–15 s, 480p or 720p, priced in USD (0.05 $/s at 480p,\n"
        "0.07 at 720p); image-to-video with `image`.",
        defaults=f"""  duration: 6                # seconds, 1–15
  resolution: 480p           # 480p or 720p
{_IMAGE}""",
        limits="  max_usd: 2                 # USD over every run of this batch",
    ),
}

_MANIFEST = """\
# yaml-language-server: $schema={schema}
#
# A starter batch for {title}.
# {about}
#
#   grokbatch validate {manifest}          every mistake, with its line; nothing sent
#   grokbatch plan {manifest}              each job and its cost, against the budget
#   grokbatch run {manifest} --sandbox     the whole run against the built-in emulator: free
#   export {key}=…  then  grokbatch run {manifest}    for real

# State and budget are kept per name: two manifests with one name share a budget.
name: {name}
provider: {provider}

# Each row of {prompts} is one prompt: its columns are template variables, and a column
# named like a parameter (image, duration, aspect_ratio, …) sets it for that row.
prompts:
  file: {prompts}
  template: "{{{{ subject }}}}, {{{{ style }}}} style"

# What every job starts from; a CSV column or a matrix axis overrides it.
defaults:
  aspect_ratio: "16:9"       # quote it (16:9 unquoted is a number): {ratios}
{defaults}

# Every axis is crossed with every prompt: 2 rows × 2 styles = 4 jobs.
matrix:
  style: [cinematic, watercolor]
  # take: [1, 2]             # several takes of the same request, side by side in the report

output:
  # dir: out/{name}   (the default)
  path: "{{{{ prompt.id }}}}/{{{{ style }}}}.{ext}"
{prices}
limits:
  concurrency: 2
{limits}
"""

_PROMPTS_CSV = """\
id,subject
lamp,the Aurora desk lamp on a walnut desk at golden hour
fox,a red fox crossing fresh snow at dawn
"""


def starter_files(provider: str) -> dict[str, str]:
    """The starter's files for provider, by file name."""
    spec = _STARTERS.get(provider)
    if spec is None:
        raise InputError(
            f"no starter for provider {provider!r}: use one of {', '.join(sorted(_STARTERS))}"
        )
    manifest = _MANIFEST.format(
        schema=SCHEMA,
        title=providers.get(provider).title,
        about=spec.about.replace("\n", "\n# "),
        manifest=MANIFEST,
        key=providers.get(provider).key_env,
        name=f"my-{provider}-batch",
        provider=provider,
        prompts=PROMPTS,
        defaults=spec.defaults,
        ratios=spec.ratios,
        ext=spec.ext,
        limits=spec.limits,
        prices=("\n" + spec.prices) if spec.prices else "",
    )
    return {MANIFEST: manifest.rstrip("\n") + "\n", PROMPTS: _PROMPTS_CSV, SCHEMA: schema_text()}


def write_starter(provider: str, directory: Path) -> list[Path]:
    """Write the starter into directory (created if needed); refuses to overwrite anything."""
    files = starter_files(provider)
    taken = [directory / name for name in files if (directory / name).exists()]
    if taken:
        shown = ", ".join(str(p) for p in taken)
        raise InputError(
            f"{shown} already exist{'s' if len(taken) == 1 else ''}: grokbatch init never "
            "overwrites a file. Fix: choose another directory with --dir, or move "
            f"{'it' if len(taken) == 1 else 'them'} away"
        )
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} is not a directory: choose another with --dir")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        # "x": created here or not at all, even if another process races us to the name.
        with open(directory / name, "x", encoding="utf-8", newline="\n") as f:
            f.write(text)
        written.append(directory / name)
    return written
