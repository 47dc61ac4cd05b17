"""Each provider's own rules: ranges, URLs, extra fields, budgets."""

from __future__ import annotations

from .base import HEAD, ONE, case, matrix

P = "provider"
case(P, "aivideoapi-duration-3", ONE + "defaults: {duration: 3}\n", "m.yaml:4", "6 to 30")
case(
    P,
    "apiframe-duration-8",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\nmatrix:\n  duration: [6, 8]\n",
    "m.yaml:5",
    "6, 10 or 15",
)
case(P, "aivideoapi-ratio-4-3", matrix("  aspect_ratio: ['4:3']\n"), "m.yaml:5", "16:9")
case(
    P,
    "xai-1080p",
    "name: t\nprovider: xai\nprompts: [{id: a, template: x}]\ndefaults: {resolution: 1080p}\n",
    "m.yaml:4",
    "480p or 720p",
)
case(
    P,
    "vydra-resolution",
    "name: t\nprovider: vydra\nprompts: [{id: a, template: x}]\ndefaults: {resolution: 720p}\n",
    "m.yaml:4",
    "remove resolution",
)
case(
    P,
    "pixeldojo-mode",
    "name: t\nprovider: pixeldojo\nprompts: [{id: a, template: x}]\ndefaults: {mode: fun}\n",
    "m.yaml:4",
    "remove mode",
)
case(
    P,
    "apiframe-image",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x, image: 'https://e.x/a.png'}]\n",
    "m.yaml:3",
    "remove image",
)
case(
    P,
    "apiframe-type-image",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\ndefaults: {type: image}\n",
    "m.yaml:4",
    "vydra",
)
case(
    P,
    "spicy-with-image",
    HEAD + "prompts:\n  - id: a\n    template: x\n    image: https://e.x/a.png\n    mode: spicy\n",
    "m.yaml:7",
    "fun or normal",
)
case(
    P,
    "aimlapi-image-and-references",
    "name: t\nprovider: aimlapi\nprompts:\n  - id: a\n"
    "    template: x\n    image: https://e.x/a.png\n    reference_images: [https://e.x/b.png]\n",
    "m.yaml:6",
    "keep one",
)
case(
    P,
    "xai-references-too-long",
    "name: t\nprovider: xai\nprompts: [{id: a, template: x}]\n"
    "defaults: {duration: 12, reference_images: ['https://e.x/a.png']}\n",
    "m.yaml:4",
    "10 or less",
)
case(
    P,
    "vydra-i2v-without-image",
    "name: t\nprovider: {name: vydra, model: image-to-video}\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "image",
)
case(
    P,
    "unknown-sub-model",
    "name: t\nprovider: {name: vydra, model: text-to-music}\nprompts: [{id: a, template: x}]\n",
    "m.yaml:2",
    "use one of",
)
for name, url in [
    ("not-a-url", "not a url"),
    ("file-url", "file:///etc/passwd"),
    ("data-url", "data:image/png;base64,iVBOR"),
    ("ftp-url", "ftp://e.x/a.png"),
    ("no-host", "https://"),
    ("space-in-url", "https://e.x/a b.png"),
    ("relative-path", "images/a.png"),
]:
    case(
        P,
        f"image-{name}",
        "name: t\nprovider: xai\nprompts: [{id: a, template: x}]\n"
        f"defaults: {{image: '{url}'}}\n",
        "m.yaml:4",
        "http:// or https://",
    )
case(
    P,
    "reference-not-a-url",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n"
    "defaults: {reference_images: ['https://e.x/a.png', 'b.png']}\n",
    "m.yaml:4",
    "https://",
)
case(
    P,
    "templated-image-bad",
    "name: t\nprovider: xai\nvars: {cdn: 'file:///tmp'}\n"
    "prompts: [{id: a, template: x, image: '{{ cdn }}/a.png'}]\n",
    "m.yaml:4",
    "https://",
)
case(
    P,
    "webhook-javascript",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n"
    "defaults: {extra: {webhookUrl: 'javascript:alert(1)'}}\n",
    "m.yaml:4",
    "http://",
)
case(
    P,
    "webhook-events-bogus",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n"
    "defaults: {extra: {webhookEvents: [bogus]}}\n",
    "m.yaml:4",
    "completed",
)
case(
    P,
    "webhook-events-string",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n"
    "defaults: {extra: {webhookEvents: completed}}\n",
    "m.yaml:4",
    "a list",
)
case(
    P,
    "webhook-events-empty",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\n"
    "defaults: {extra: {webhookEvents: []}}\n",
    "m.yaml:4",
    "one or more",
)
case(
    P,
    "callback-not-url",
    ONE + "defaults: {extra: {callback_url: localhost}}\n",
    "m.yaml:4",
    "http://",
)
case(
    P,
    "nsfw-checker-yes-string",
    ONE + "defaults: {extra: {nsfw_checker: 'yes'}}\n",
    "m.yaml:4",
    "true or false",
)
case(
    P,
    "nsfw-checker-date",
    ONE + "defaults: {extra: {nsfw_checker: 2024-01-01}}\n",
    "m.yaml:4",
    "true or false",
)
case(
    P,
    "pixeldojo-webhook-file",
    "name: t\nprovider: pixeldojo\nprompts: [{id: a, template: x}]\n"
    "defaults: {extra: {webhook_url: 'file:///x'}}\n",
    "m.yaml:4",
    "http://",
)
case(P, "extra-unknown-field", ONE + "defaults: {extra: {seed: 3}}\n", "m.yaml:4", "remove it")
case(
    P,
    "extra-at-xai",
    "name: t\nprovider: xai\nprompts: [{id: a, template: x}]\ndefaults: {extra: {user: me}}\n",
    "m.yaml:4",
    "remove it",
)
case(
    P,
    "prompt-too-long",
    "name: t\nprovider: apiframe\nprompts:\n  - id: a\n    template: \"{{ 'x' * 6000 }}\"\n",
    "m.yaml:5",
    "5000",
)
case(
    P,
    "prompt-empty",
    "name: t\nprovider: apiframe\nprompts:\n  - id: a\n    template: '{{ \"\" }}'\n",
    "m.yaml:5",
    "write a prompt",
)
case(
    P,
    "max-usd-unknown-price",
    "name: t\nprovider: apiframe\nprompts: [{id: a, template: x}]\nlimits: {max_usd: 5}\n",
    "m.yaml:4",
    "usd_per_credit",
)
case(
    P,
    "one-budget-two-providers",
    "name: t\nprompts: [{id: a, template: x}]\nmatrix:\n"
    "  provider: [apiframe, vydra]\nlimits: {max_credits: 100}\n",
    "m.yaml:5",
    "apiframe: 500",
)
case(
    P,
    "budget-for-unused-provider",
    ONE + "limits: {max_credits: {xai: 5}}\n",
    "m.yaml:4",
    "providers used",
)
case(
    P,
    "rpm-for-unused-provider",
    ONE + "limits: {requests_per_minute: {xai: 5}}\n",
    "m.yaml:4",
    "providers used",
)
