"""Prompt files: encodings, rows, typed columns, ids."""

from __future__ import annotations

import codecs

from .base import CSV, HEAD, JSONL, VYDRA_CSV, case, rows

F = "file"
case(
    F,
    "csv-latin-1",
    CSV,
    "p.csv:3",
    "UTF-8",
    files={"p.csv": "id,product\na,lamp\nb,caf\xe9\n".encode("latin-1")},
)
case(
    F,
    "csv-windows-1252-quotes",
    CSV,
    "p.csv:2",
    "UTF-8",
    files={"p.csv": "id,product\na,\u201clamp\u201d\n".encode("cp1252")},
)
case(
    F,
    "csv-utf-16",
    CSV,
    "p.csv:1",
    "UTF-8",
    files={"p.csv": codecs.BOM_UTF16_LE + rows("a,lamp").encode("utf-16-le")},
)
case(
    F,
    "csv-utf-16-no-bom",
    CSV,
    "p.csv:1",
    "UTF-8",
    files={"p.csv": rows("a,lamp").encode("utf-16-le")},
)
case(F, "csv-binary", CSV, "p.csv", "UTF-8", files={"p.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\r"})
case(F, "csv-nul", CSV, "p.csv:3", "UTF-8", files={"p.csv": b"id,product\na,lamp\nb,x\x00y\n"})
case(F, "csv-empty", CSV, "p.csv:1", "column names", files={"p.csv": ""})
case(F, "csv-header-only", CSV, "m.yaml:3", "add rows", files={"p.csv": "id,product\n"})
case(F, "csv-short-row", CSV, "p.csv:3", "empty cell", files={"p.csv": rows("a,lamp", "b")})
case(F, "csv-long-row", CSV, "p.csv:2", "quote values", files={"p.csv": rows("a,lamp, red,x")})
case(
    F,
    "csv-duplicate-header",
    CSV,
    "p.csv:1",
    "rename",
    files={"p.csv": "id,product,product\na,b,c\n"},
)
case(F, "csv-empty-header", CSV, "p.csv:1", "name it", files={"p.csv": "id,,product\na,b,c\n"})
case(
    F,
    "csv-undefined-column",
    HEAD + "prompts: {file: p.csv, template: 'A {{ prodcut }}'}\n",
    "m.yaml:3",
    "did you mean 'product'",
    files={"p.csv": rows("a,lamp", "b,mug")},
)
case(
    F,
    "csv-column-with-space",
    HEAD + "prompts: {file: p.csv, template: '{{ product_name }}'}\n",
    "m.yaml:3",
    "rename the column",
    files={"p.csv": "id,product name\na,lamp\n"},
)
case(
    F,
    "csv-type-spaceship",
    VYDRA_CSV,
    "p.csv:3",
    "video",
    files={"p.csv": "id,product,type\na,lamp,video\nb,ship,spaceship\n"},
)
case(
    F,
    "csv-duration-decimal",
    CSV,
    "p.csv:2",
    "write 6",
    files={"p.csv": "id,product,duration\na,lamp,6.0\n"},
)
case(
    F,
    "csv-duration-word",
    CSV,
    "p.csv:2",
    "number",
    files={"p.csv": "id,product,duration\na,lamp,six\n"},
)
case(
    F,
    "csv-duration-out-of-range",
    CSV,
    "p.csv:2",
    "6 to 30",
    files={"p.csv": "id,product,duration\na,lamp,4\n"},
)
case(
    F,
    "csv-ratio",
    CSV,
    "p.csv:2",
    "use one of",
    files={"p.csv": "id,product,aspect_ratio\na,lamp,16:10\n"},
)
case(
    F,
    "csv-image-not-url",
    "name: t\nprovider: xai\nprompts: {file: p.csv, template: 'A {{ product }}'}\n",
    "p.csv:2",
    "https://",
    files={"p.csv": "id,product,image\na,lamp,a.png\n"},
)
case(
    F,
    "csv-extra-not-json",
    CSV,
    "p.csv:2",
    "JSON object",
    files={"p.csv": "id,product,extra\na,lamp,{nsfw_checker: true}\n"},
)
case(F, "csv-bad-id", CSV, "p.csv:2", "letters, digits", files={"p.csv": rows("my id,lamp")})
case(F, "csv-duplicate-id", CSV, "p.csv:3", "unique", files={"p.csv": rows("a,lamp", "a,mug")})
case(
    F,
    "csv-id-template-bad",
    HEAD + "prompts: {file: p.csv, template: x, id: '{{ product }}!'}\n",
    "p.csv:2",
    "letters, digits",
    files={"p.csv": rows("a,desk lamp")},
)
case(
    F,
    "csv-id-template-undefined",
    HEAD + "prompts: {file: p.csv, template: x, id: '{{ sku }}'}\n",
    "p.csv:2",
    "define it",
    files={"p.csv": rows("a,lamp")},
)
case(
    F, "csv-is-a-directory", CSV, "p.csv", "point at a file", setup=lambda d: (d / "p.csv").mkdir()
)
case(
    F,
    "csv-bom-then-latin-1",
    CSV,
    "p.csv:2",
    "UTF-8",
    files={"p.csv": codecs.BOM_UTF8 + "id,product\na,caf\xe9\n".encode("latin-1")},
)
case(
    F,
    "jsonl-invalid",
    JSONL,
    "p.jsonl:2",
    "one JSON object",
    files={"p.jsonl": '{"id": "a", "product": "x"}\n{"id": "b", product: y}\n'},
)
case(F, "jsonl-not-object", JSONL, "p.jsonl:1", "one JSON object", files={"p.jsonl": "[1, 2]\n"})
case(
    F,
    "jsonl-nan",
    JSONL,
    "p.jsonl:1",
    "JSON",
    files={"p.jsonl": '{"id": "a", "product": "x", "duration": NaN}\n'},
)
case(
    F,
    "jsonl-duration-fraction",
    JSONL,
    "p.jsonl:1",
    "whole number",
    files={"p.jsonl": '{"id": "a", "product": "x", "duration": 6.5}\n'},
)
case(
    F,
    "jsonl-duration-string",
    JSONL,
    "p.jsonl:1",
    "without quotes",
    files={"p.jsonl": '{"id": "a", "product": "x", "duration": "6"}\n'},
)
case(
    F,
    "jsonl-type-spaceship",
    JSONL.replace("aivideoapi", "vydra"),
    "p.jsonl:1",
    "video",
    files={"p.jsonl": '{"id": "a", "product": "x", "type": "spaceship"}\n'},
)
case(
    F,
    "jsonl-references-string",
    JSONL,
    "p.jsonl:1",
    "write a list",
    files={"p.jsonl": '{"id": "a", "product": "x", "reference_images": "https://e.x/a.png"}\n'},
)
case(
    F,
    "jsonl-extra-list",
    JSONL,
    "p.jsonl:1",
    "mapping",
    files={"p.jsonl": '{"id": "a", "product": "x", "extra": [1]}\n'},
)
case(
    F,
    "jsonl-image-file-url",
    JSONL.replace("aivideoapi", "xai"),
    "p.jsonl:1",
    "https://",
    files={"p.jsonl": '{"id": "a", "product": "x", "image": "file:///etc/passwd"}\n'},
)
case(
    F,
    "jsonl-undefined",
    JSONL,
    "m.yaml:3",
    "define it",
    files={"p.jsonl": '{"id": "a", "item": "x"}\n'},
)
case(
    F,
    "jsonl-latin-1",
    JSONL,
    "p.jsonl:2",
    "UTF-8",
    files={
        "p.jsonl": '{"id": "a", "product": "x"}\n{"id": "b", "product": "caf\xe9"}\n'.encode(
            "latin-1"
        )
    },
)
