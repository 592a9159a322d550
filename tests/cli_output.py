"""Reading what the CLI printed."""

from __future__ import annotations

import json


def json_docs(text: str) -> list[dict]:
    """Every JSON document in ``text`` (``reelrl ... --json`` prints one per benchmark, one after another)."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)
    return docs
