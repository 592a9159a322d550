"""SVG code (rendered pixel similarity) and HTML code (tag-structure similarity).

**SVG** (``svg_similarity``). The SVG is the text from the first ``<svg`` to the last ``</svg>`` of
the first ``tags.candidates`` text holding both (``<answer>`` content, text after ``</think>``, whole
response); the ground truth is the reference SVG source. Both are rendered by resvg to fit a
``SIZE``×``SIZE`` box keeping their aspect ratio, on white, top-left on a white ``SIZE``² canvas
(so an SVG and the same drawing at another scale render alike). A pixel is *ink* when some channel
is below ``INK_LEVEL`` (230 of 255: visibly not white). With ``R``, ``C`` the ink masks of reference
and candidate::

    score = 1                                     if neither image has ink
          = |R ∩ C| / |R ∪ C| · colour            otherwise
    colour = mean over p in R ∩ C of 1 − (|Δr| + |Δg| + |Δb|) / 765   (0 if R ∩ C is empty)

Only ink counts, so a blank candidate scores 0 against any drawing, however much of the reference is
white. An SVG that refers to anything outside itself (an ``href`` that is neither a ``#fragment``
nor a ``data:`` URL: a file, a ``file://`` or web URL) does not render: the renderer loads no file.
Rendering runs in the sandbox (an SVG of 100000×100000 px makes resvg abort its process; deep
``<use>`` chains take exponential time), with SVGs over ``MAX_SVG_CHARS`` refused before rendering.
A candidate that is missing, too large, or does not render scores 0 with ``render_failed = 1``.

**HTML** (``html_similarity``). Tags are read from the first candidate text holding one by a linear
scanner (``html_tokens``) that follows ``html.parser``'s tokenisation for what is scored: comments,
``<!…>`` declarations and ``<?…>`` are skipped, ``script``/``style`` content is raw text, names are
lower-cased, a self-closing ``<x/>`` is a start tag only. (``html.parser`` itself is not used: in
CPython 3.11.7, the interpreter here, it is quadratic on unclosed tags; 100 KB of ``"<a "`` took two
minutes, ``"<!--"`` five seconds.) With
``T`` the token sequences (start tags ``div``, end tags ``/div``) and ``S`` the start-tag multisets::

    score = ½ · 2·LCS(T_cand, T_ref) / (|T_cand| + |T_ref|)  +  ½ · 2·|S_cand ∩ S_ref| / (|S_cand| + |S_ref|)

The first term is order and nesting (longest common subsequence), the second the multiset F1 of
elements (which tags, how many). Text and attributes are not compared. The reference must hold a tag.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np
from PIL import Image

from . import tags
from .registry import register_scorer
from .sandbox import SandboxLimits, run_python

SIZE = 128
INK_LEVEL = 230
MAX_SVG_CHARS = 200_000
MAX_TOKENS = 20_000
RENDER_LIMITS = SandboxLimits(timeout_s=5.0, site_packages=True)

# Generic font families mapped to DejaVu (on most Linux images): text renders the same for candidate
# and reference on one machine; where DejaVu is missing, text renders as nothing for both.
# Every ``href`` (any namespace: ``<image>``, ``<feImage>``, ``<use>``, …) must be a ``#fragment`` or a
# ``data:`` URL, so that resvg loads no file (a nested SVG image may hold no ``<image>`` at all).
_RENDER = f"""
import base64, sys, xml.etree.ElementTree as ET, resvg_py
svg = sys.stdin.read()
for element in ET.fromstring(svg).iter():
    for name, value in element.attrib.items():
        link = value.strip(" \\t\\n\\r")
        if name.rpartition("}}")[2] == "href" and not link.startswith("#") and link[:5].lower() != "data:":
            sys.exit("svg refers to a resource outside itself: " + repr(value[:100]))
png = resvg_py.svg_to_bytes(
    svg_string=svg, background="#ffffff", width={SIZE}, height={SIZE},
    font_family="DejaVu Sans", serif_family="DejaVu Serif", sans_serif_family="DejaVu Sans",
    monospace_family="DejaVu Sans Mono")
sys.stdout.write(base64.b64encode(png).decode("ascii"))
"""

_SVG_OPEN = re.compile(r"<svg[\s>/]")


# --------------------------------------------------------------------------------------------- SVG


def extract_svg(text: str) -> str | None:
    """The text from the first ``<svg`` to the last ``</svg>``, or None (SVG is XML: case matters)."""
    opening = _SVG_OPEN.search(text)
    end = text.rfind("</svg>")
    if opening is None or end < opening.start():
        return None
    return text[opening.start() : end + len("</svg>")]


def _find_svg(response: str) -> str | None:
    for text in tags.candidates(response):
        svg = extract_svg(text)
        if svg is not None:
            return svg
    return None


def render_svg(svg: str) -> np.ndarray | None:
    """``SIZE``×``SIZE``×3 uint8 rendering of ``svg`` (module docstring), or None if it fails."""
    if len(svg) > MAX_SVG_CHARS:
        return None
    result = run_python(_RENDER, stdin=svg, limits=RENDER_LIMITS)
    if not result.ok:
        return None
    try:
        image = Image.open(io.BytesIO(base64.b64decode(result.stdout, validate=True)))
        if image.width > SIZE or image.height > SIZE:
            return None
        canvas = Image.new("RGB", (SIZE, SIZE), "white")
        canvas.paste(image.convert("RGB"), (0, 0))
    except (binascii.Error, OSError, ValueError):
        return None
    return np.asarray(canvas)


@functools.lru_cache(maxsize=256)
def _reference_pixels(svg: str) -> np.ndarray:
    pixels = render_svg(svg)
    if pixels is None:
        raise ValueError(f"svg ground truth does not render: {svg[:200]!r}")
    pixels.setflags(write=False)
    return pixels


def parse_svg_ground_truth(ground_truth: str) -> np.ndarray:
    """The rendered reference; ValueError when it holds no ``<svg>…</svg>`` or does not render."""
    text = tags.answer_content(ground_truth)
    svg = extract_svg(ground_truth if text is None else text)
    if svg is None:
        raise ValueError(f"svg ground truth holds no <svg>…</svg>: {ground_truth[:200]!r}")
    return _reference_pixels(svg)


def svg_similarity(candidate: np.ndarray, reference: np.ndarray) -> float:
    """Ink IoU times colour agreement of two ``H×W×3`` uint8 images (formula in the module docstring)."""
    cand, ref = candidate.astype(np.int64), reference.astype(np.int64)
    ink_c, ink_r = cand.min(axis=-1) < INK_LEVEL, ref.min(axis=-1) < INK_LEVEL
    union = int(np.count_nonzero(ink_c | ink_r))
    if union == 0:
        return 1.0
    both = ink_c & ink_r
    overlap = int(np.count_nonzero(both))
    if overlap == 0:
        return 0.0
    colour = 1.0 - float(np.abs(cand[both] - ref[both]).sum()) / (765.0 * overlap)
    return overlap / union * colour


def svg_answer_is_valid(answer: str) -> bool:
    """Format check: the answer holds an ``<svg>…</svg>`` element (not rendered here)."""
    return extract_svg(answer) is not None


@register_scorer("svg-code", aliases=("svg", "svg code"), answer_valid=svg_answer_is_valid)
def svg_code(response: str, ground_truth: str) -> dict[str, float]:
    """``svg_similarity`` of the rendered candidate and reference; 0 with ``render_failed`` = 1 when
    the candidate is missing, over ``MAX_SVG_CHARS`` or does not render."""
    reference = parse_svg_ground_truth(ground_truth)
    svg = _find_svg(response)
    pixels = None if svg is None else render_svg(svg)
    if pixels is None:
        return {"accuracy": 0.0, "render_failed": 1.0}
    return {"accuracy": svg_similarity(pixels, reference), "render_failed": 0.0}


# -------------------------------------------------------------------------------------------- HTML

_TAG = re.compile(r"<(/?+)([a-z][^\s/>\x00]*+)")
_RAW_TEXT = frozenset({"script", "style"})


def html_tokens(text: str) -> list[str]:
    """Start (``"div"``) and end (``"/div"``) tags in document order, at most ``MAX_TOKENS``.

    One forward pass: every ``find`` starts where the previous construct ended (linear time).
    """
    low = text.lower()  # may be longer than text (e.g. "İ"): only low is indexed
    tokens, pos, n = [], 0, len(low)
    while len(tokens) < MAX_TOKENS and (lt := low.find("<", pos)) >= 0:
        if low.startswith("<!--", lt):
            end = low.find("-->", lt + 4)
            pos = n if end < 0 else end + 3
            continue
        match = _TAG.match(low, lt)
        if match is None:
            if low.startswith(("<!", "<?"), lt):  # doctype, CDATA, processing instruction
                end = low.find(">", lt + 2)
                pos = n if end < 0 else end + 1
            else:
                pos = lt + 1  # a "<" in text, e.g. "a < b"
            continue
        close = low.find(">", match.end())
        if close < 0:
            break  # an unterminated tag at the end is text
        closing, name = match.groups()
        tokens.append("/" + name if closing else name)
        pos = close + 1
        if not closing and name in _RAW_TEXT and low[close - 1] != "/":
            end = low.find("</" + name, pos)
            pos = n if end < 0 else end
    return tokens


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of a longest common subsequence, bit-parallel (Hyyrö 2004): O(len(a)·len(b)/64)."""
    if not a or not b:
        return 0
    masks: dict[Hashable, int] = {}
    for i, item in enumerate(a):
        masks[item] = masks.get(item, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for item in b:
        u = v & masks.get(item, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def html_similarity(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """The HTML score of two token sequences (formula in the module docstring); 0 if either is empty."""
    if not candidate or not reference:
        return 0.0
    sequence = 2 * lcs_length(reference, candidate) / (len(candidate) + len(reference))
    starts_c = Counter(t for t in candidate if not t.startswith("/"))
    starts_r = Counter(t for t in reference if not t.startswith("/"))
    total = sum(starts_c.values()) + sum(starts_r.values())
    f1 = 2 * sum((starts_c & starts_r).values()) / total if total else 0.0
    return 0.5 * sequence + 0.5 * f1


def _has_start_tag(tokens: list[str]) -> bool:
    return any(not t.startswith("/") for t in tokens)


def parse_html_ground_truth(ground_truth: str) -> list[str]:
    text = tags.answer_content(ground_truth)
    tokens = html_tokens(ground_truth if text is None else text)
    if not _has_start_tag(tokens):
        raise ValueError(f"html ground truth holds no HTML tag: {ground_truth[:200]!r}")
    return tokens


def html_answer_is_valid(answer: str) -> bool:
    """Format check: the answer holds at least one HTML start tag."""
    return _has_start_tag(html_tokens(answer))


@register_scorer("html-code", aliases=("html", "html code"), answer_valid=html_answer_is_valid)
def html_code(response: str, ground_truth: str) -> float:
    """``html_similarity`` of the first candidate text holding a start tag, 0 when none does."""
    reference = parse_html_ground_truth(ground_truth)
    for text in tags.candidates(response):
        tokens = html_tokens(text)
        if _has_start_tag(tokens):
            return html_similarity(tokens, reference)
    return 0.0
