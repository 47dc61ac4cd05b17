"""The schema: keys, types, ranges, patterns."""

from __future__ import annotations

from .base import HEAD, ONE, case, matrix

S = "schema"
case(S, "missing-name", "provider: xai\nprompts: [{id: a, template: x}]\n", "m.yaml:1", "name:")
case(
    S,
    "name-trailing-newline",
    'name: "batch\\n"\nprovider: xai\nprompts: [{id: a, template: x}]\n',
    "m.yaml:1",
    "letters, digits",
)
case(
    S,
    "name-with-slash",
    "name: a/b\nprovider: xai\nprompts: [{id: a, template: x}]\n",
    "m.yaml:1",
    "letters, digits",
)
case(
    S,
    "name-empty",
    "name: ''\nprovider: xai\nprompts: [{id: a, template: x}]\n",
    "m.yaml:1",
    "letters",
)
case(
    S,
    "name-too-long",
    f"name: {'n' * 101}\nprovider: xai\nprompts: [{{id: a, template: x}}]\n",
    "m.yaml:1",
    "shorten",
)
case(
    S,
    "name-number",
    "name: 12\nprovider: xai\nprompts: [{id: a, template: x}]\n",
    "m.yaml:1",
    "quote it",
)
case(S, "unknown-top-key", ONE + "matrx: {a: [1]}\n", "m.yaml:4", "did you mean 'matrix'")
case(
    S,
    "unknown-provider",
    "name: t\nprovider: aivideopi\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "aivideoapi",
)
case(
    S,
    "provider-number",
    "name: t\nprovider: 7\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "use one of",
)
case(
    S,
    "base-url-file",
    "name: t\nprovider: {name: xai, base_url: 'file:///etc/passwd'}\n"
    "prompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "http:// or https://",
)
case(
    S,
    "base-url-javascript",
    "name: t\nprovider: {name: xai, base_url: 'javascript:alert(1)'}\n"
    "prompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "http:// or https://",
)
case(
    S,
    "base-url-relative",
    "name: t\nprovider: {name: xai, base_url: api.x.ai}\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "absolute",
)
case(
    S,
    "base-url-no-host",
    "name: t\nprovider: {name: xai, base_url: 'http://'}\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "absolute",
)
case(
    S,
    "base-url-space",
    "name: t\nprovider: {name: xai, base_url: 'http://a b.c'}\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "absolute",
)
case(
    S,
    "provider-unknown-key",
    "name: t\nprovider: {name: xai, url: 'http://h'}\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "allowed keys",
)
case(
    S,
    "provider-model-empty",
    "name: t\nprovider: {name: vydra, model: ''}\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "write a value",
)
case(S, "missing-prompts", HEAD, "m.yaml:1", "prompts:")
case(S, "prompts-a-string", HEAD + "prompts: hello\n", "m.yaml:3", "list")
case(S, "prompts-empty", HEAD + "prompts: []\n", "m.yaml:3", "at least one")
case(
    S,
    "prompt-id-with-space",
    HEAD + "prompts: [{id: 'my id', template: x}]\n",
    "m.yaml:3",
    "letters, digits",
)
case(
    S,
    "prompt-id-dotdot",
    HEAD + "prompts: [{id: '../x', template: x}]\n",
    "m.yaml:3",
    "letters, digits",
)
case(S, "prompt-id-missing", HEAD + "prompts: [{template: x}]\n", "m.yaml:3", "id:")
case(S, "prompt-template-missing", HEAD + "prompts: [{id: a}]\n", "m.yaml:3", "template:")
case(
    S,
    "prompt-template-empty",
    HEAD + "prompts: [{id: a, template: ''}]\n",
    "m.yaml:3",
    "write a value",
)
case(
    S, "prompt-template-number", HEAD + "prompts: [{id: a, template: 12}]\n", "m.yaml:3", "quote it"
)
case(
    S,
    "prompt-unknown-key",
    HEAD + "prompts: [{id: a, template: x, durations: 6}]\n",
    "m.yaml:3",
    "did you mean 'duration'",
)
case(
    S,
    "prompts-file-txt",
    HEAD + "prompts: {file: prompts.txt, template: x}\n",
    "m.yaml:3",
    ".csv or .jsonl",
)
case(
    S,
    "prompts-file-newline",
    HEAD + 'prompts: {file: "p.csv\\n", template: x}\n',
    "m.yaml:3",
    ".csv or .jsonl",
)
case(S, "prompts-file-no-template", HEAD + "prompts: {file: p.csv}\n", "m.yaml:3", "template:")
case(
    S,
    "prompts-file-missing",
    HEAD + "prompts: {file: nope.csv, template: x}\n",
    "m.yaml:3",
    "relative to the manifest",
)
case(
    S,
    "prompt-vars-bad-name",
    HEAD + "prompts: [{id: a, template: x, vars: {my-var: 1}}]\n",
    "m.yaml:3",
    "identifiers",
)
case(S, "vars-bad-name", ONE + "vars: {2x: 1}\n", "m.yaml:4", "identifiers")
case(S, "concurrency-float", ONE + "limits: {concurrency: 4.0}\n", "m.yaml:4", "write 4")
case(S, "concurrency-zero", ONE + "limits: {concurrency: 0}\n", "m.yaml:4", "at least 1")
case(S, "concurrency-string", ONE + "limits: {concurrency: '4'}\n", "m.yaml:4", "without quotes")
case(S, "concurrency-bool", ONE + "limits: {concurrency: true}\n", "m.yaml:4", "number")
case(S, "retries-fraction", ONE + "limits: {retries: 2.5}\n", "m.yaml:4", "whole number")
case(S, "retries-too-many", ONE + "limits: {retries: 99}\n", "m.yaml:4", "at most 50")
case(
    S,
    "provider-concurrency-float",
    ONE + "limits: {provider_concurrency: {aivideoapi: 2.0}}\n",
    "m.yaml:4",
    "write 2",
)
case(
    S,
    "provider-concurrency-unknown",
    ONE + "limits: {provider_concurrency: {foo: 2}}\n",
    "m.yaml:4",
    "allowed keys",
)
case(S, "max-jobs-zero", ONE + "limits: {max_jobs: 0}\n", "m.yaml:4", "at least 1")
case(S, "rpm-zero", ONE + "limits: {requests_per_minute: 0}\n", "m.yaml:4", "more than 0")
case(S, "max-credits-negative", ONE + "limits: {max_credits: -1}\n", "m.yaml:4", "at least 0")
case(S, "max-usd-text", ONE + "limits: {max_usd: lots}\n", "m.yaml:4", "number")
case(S, "limit-typo", ONE + "limits: {concurency: 3}\n", "m.yaml:4", "did you mean 'concurrency'")
case(S, "axis-not-a-list", matrix("  duration: 6\n"), "m.yaml:5", "write a list")
case(S, "axis-empty", matrix("  style: []\n"), "m.yaml:5", "at least one")
case(S, "axis-named-prompt", matrix("  prompt: [a]\n"), "m.yaml:5", "include/exclude")
case(S, "axis-bad-name", matrix("  my-axis: [1, 2]\n"), "m.yaml:5", "identifiers")
case(S, "duration-quoted", matrix("  duration: ['6']\n"), "m.yaml:5", "without quotes")
case(S, "duration-decimal", matrix("  duration: [6.0]\n"), "m.yaml:5", "write 6")
case(S, "duration-fraction", matrix("  duration: [6.5]\n"), "m.yaml:5", "whole number")
case(S, "duration-over-any", matrix("  duration: [31]\n"), "m.yaml:5", "at most 30")
case(S, "ratio-unquoted", matrix("  aspect_ratio: [16:9]\n"), "m.yaml:5", 'quote it: "16:9"')
case(S, "resolution-4k", matrix("  resolution: [4k]\n"), "m.yaml:5", "use one of")
case(S, "mode-typo", matrix("  mode: [spicey]\n"), "m.yaml:5", "did you mean 'spicy'")
case(S, "type-spaceship", matrix("  type: [spaceship]\n"), "m.yaml:5", "video")
case(S, "take-zero", matrix("  take: [0]\n"), "m.yaml:5", "at least 1")
case(S, "take-decimal", matrix("  take: [1.0]\n"), "m.yaml:5", "write 1")
case(S, "include-not-a-list", matrix("  include: {style: x}\n"), "m.yaml:5", "write a list")
case(
    S,
    "include-entry-empty",
    matrix("  style: [x, y]\n  include: [{}]\n"),
    "m.yaml:6",
    "at least one key",
)
case(
    S,
    "exclude-entry-empty",
    matrix("  style: [x, y]\n  exclude: [{}]\n"),
    "m.yaml:6",
    "at least one key",
)
case(S, "exclude-entry-string", matrix("  style: [x, y]\n  exclude: [x]\n"), "m.yaml:6", "mapping")
case(S, "default-duration-decimal", ONE + "defaults: {duration: 10.0}\n", "m.yaml:4", "write 10")
case(S, "default-unknown", ONE + "defaults: {lenght: 6}\n", "m.yaml:4", "allowed keys")
case(S, "default-image-number", ONE + "defaults: {image: 5}\n", "m.yaml:4", "quote it")
case(
    S,
    "reference-images-string",
    ONE + "defaults: {reference_images: https://e.x/a.png}\n",
    "m.yaml:4",
    "write a list",
)
case(
    S,
    "reference-images-eight",
    ONE
    + "defaults: {reference_images: ["
    + ", ".join(f"https://e.x/{i}.png" for i in range(8))
    + "]}\n",
    "m.yaml:4",
    "7 or fewer",
)
case(S, "extra-a-list", ONE + "defaults: {extra: [1]}\n", "m.yaml:4", "mapping")
case(S, "output-dir-empty", ONE + "output: {dir: ''}\n", "m.yaml:4", "write a value")
case(S, "output-path-empty", ONE + "output: {path: ''}\n", "m.yaml:4", "write a value")
case(S, "output-unknown-key", ONE + "output: {folder: out}\n", "m.yaml:4", "allowed keys")
case(
    S,
    "price-usd-zero",
    ONE + "prices: {aivideoapi: {usd_per_credit: 0}}\n",
    "m.yaml:4",
    "more than 0",
)
case(
    S,
    "price-negative",
    ONE + "prices: {aivideoapi: {credits_per_job: -1}}\n",
    "m.yaml:4",
    "at least 0",
)
case(
    S,
    "price-bad-resolution",
    ONE + "prices: {aivideoapi: {credits_per_second: {4k: 1}}}\n",
    "m.yaml:4",
    "allowed keys",
)
case(
    S,
    "price-unknown-provider",
    ONE + "prices: {midjourney: {credits_per_job: 1}}\n",
    "m.yaml:4",
    "allowed keys",
)
case(S, "price-empty", ONE + "prices: {aivideoapi: {}}\n", "m.yaml:4", "at least one key")
