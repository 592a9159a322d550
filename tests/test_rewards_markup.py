"""SVG (rendered ink IoU × colour agreement) and HTML (tag LCS + tag-multiset F1) scorers."""

import base64
import io
import itertools
import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_runs import record_runs

from training.rewards import sandbox, score
from training.rewards.markup import (
    MAX_SVG_CHARS,
    SIZE,
    extract_svg,
    html_code,
    html_similarity,
    html_tokens,
    lcs_length,
    parse_svg_ground_truth,
    render_svg,
    svg_code,
    svg_similarity,
)

WHITE, BLACK, RED = (255, 255, 255), (0, 0, 0), (255, 0, 0)


def canvas(*rects: tuple[int, int, int, int, tuple[int, int, int]]) -> np.ndarray:
    """A SIZE² white image with filled rectangles ``(x, y, width, height, colour)``."""
    image = np.full((SIZE, SIZE, 3), 255, dtype=np.uint8)
    for x, y, w, h, colour in rects:
        image[y : y + h, x : x + w] = colour
    return image


@pytest.mark.parametrize(
    "candidate, reference, expected",
    [
        (canvas((0, 0, 64, 64, BLACK)), canvas((0, 0, 64, 64, BLACK)), 1.0),
        (canvas(), canvas(), 1.0),  # both blank
        (canvas(), canvas((0, 0, 8, 8, BLACK)), 0.0),  # blank candidate earns nothing, however white the ref
        (canvas((0, 0, 8, 8, BLACK)), canvas(), 0.0),
        (canvas((32, 0, 64, 64, BLACK)), canvas((0, 0, 64, 64, BLACK)), 2048 / 6144),  # shifted half a side
        (canvas((0, 0, 64, 64, (127, 0, 0))), canvas((0, 0, 64, 64, RED)), 1 - 128 / 765),  # colour only
        (canvas((0, 0, 64, 64, (0, 0, 255))), canvas((0, 0, 64, 64, RED)), 1 - 510 / 765),  # red vs blue
        # Half the reference drawn, in the right colour: IoU 1/2.
        (canvas((0, 0, 32, 64, RED)), canvas((0, 0, 64, 64, RED)), 0.5),
        # Overlap 32x64 of which 16x64 differs by 255 in one channel: IoU 2048/6144, colour 1 - 0.5/3.
        (
            canvas((32, 0, 64, 64, RED), (32, 0, 16, 64, (255, 255, 0))),
            canvas((0, 0, 64, 64, RED)),
            2048 / 6144 * (1 - (1024 * 255) / (765 * 2048)),
        ),
        (canvas((0, 0, 64, 64, (231, 231, 231))), canvas(), 1.0),  # lighter than INK_LEVEL: not ink
        (canvas((0, 0, 64, 64, (229, 255, 255))), canvas(), 0.0),  # one channel below 230: ink
    ],
)
def test_svg_similarity_exact_values(candidate, reference, expected):
    assert svg_similarity(candidate, reference) == pytest.approx(expected, rel=1e-12)


def svg(body: str, width: int = SIZE, height: int = SIZE) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{body}</svg>'


REFERENCE = svg('<rect width="64" height="64" fill="black"/>')


def test_render_svg_fits_the_canvas_top_left():
    assert np.array_equal(render_svg(REFERENCE), canvas((0, 0, 64, 64, BLACK)))
    # 100x50 at 128 wide: scaled by 1.28 to 128x64, the rest of the canvas white.
    wide = svg('<rect x="50" width="50" height="50" fill="red"/>', width=100, height=50)
    assert np.array_equal(render_svg(wide), canvas((64, 0, 64, 64, RED)))


@pytest.mark.parametrize(
    "candidate, expected",
    [
        (REFERENCE, 1.0),
        (svg('<rect x="32" width="64" height="64"/>'), 1 / 3),
        (svg('<rect width="128" height="128"/>', width=256, height=256), 1.0),  # same drawing, other scale
        (svg('<rect width="64" height="64" fill="#ff0000"/>'), 1 - 255 / 765),  # red where black: Δ = 255+0+0
        (svg(""), 0.0),  # renders, blank
        (
            svg('<rect width="10" height="10"/>', width=100_000, height=100_000),
            0.0,
        ),  # huge canvas scaled down
    ],
)
def test_svg_code_scores_renderings(candidate, expected):
    result = svg_code(f"<think>draw</think><answer>```svg\n{candidate}\n```</answer>", REFERENCE)
    assert result == {"accuracy": pytest.approx(expected, rel=1e-12), "render_failed": 0.0}


@pytest.fixture
def renders(monkeypatch) -> list:
    """(stdin, result) of every candidate render (the reference is rendered and cached first)."""
    parse_svg_ground_truth(REFERENCE)
    return record_runs(monkeypatch, "training.rewards.markup")


@pytest.mark.parametrize(
    "response, error",
    [
        ("<answer>a black square</answer>", None),  # no svg: nothing rendered
        ("<answer><svg><rect></svg></answer>", "ParseError: mismatched tag"),  # not well-formed XML
        ("<answer><svg width='0' height='1'></svg></answer>", "SVG has an invalid size"),
        ("<answer>" + svg("<!--" + "x" * MAX_SVG_CHARS + "-->") + "</answer>", None),  # refused unrendered
    ],
)
def test_unrenderable_candidate_scores_zero_with_render_failed(response, error, renders):
    assert svg_code(response, REFERENCE) == {"accuracy": 0.0, "render_failed": 1.0}
    assert [error in result.stderr and result.returncode == 1 for _, result in renders] == (
        [] if error is None else [True]
    )


@pytest.mark.slow
def test_oversized_candidate_is_refused_quickly():
    start = time.monotonic()  # refused before rendering: milliseconds, where a render takes ~1 s
    response = "<answer>" + svg("<!--" + "x" * MAX_SVG_CHARS + "-->") + "</answer>"
    assert svg_code(response, REFERENCE) == {"accuracy": 0.0, "render_failed": 1.0}
    assert time.monotonic() - start < 2.0


def use_chain_bomb() -> str:
    defs = ['<g id="l0"><rect width="1" height="1"/></g>']
    for level in range(1, 9):  # 10^8 rectangles once expanded
        defs.append(
            f'<g id="l{level}">' + "".join(f'<use href="#l{level - 1}"/>' for _ in range(10)) + "</g>"
        )
    return svg("<defs>" + "".join(defs) + '</defs><use href="#l8"/>')


def test_exponential_use_chain_is_contained(renders):
    assert svg_code(f"<answer>{use_chain_bomb()}</answer>", REFERENCE)["accuracy"] == 0.0
    [(_, result)] = renders  # resvg refuses it: never expanded, nothing killed
    assert result.returncode == 1 and result.kill_reason is None
    assert "nodes limit reached" in result.stderr


@pytest.mark.slow
def test_exponential_use_chain_is_contained_in_time():
    start = time.monotonic()
    assert svg_code(f"<answer>{use_chain_bomb()}</answer>", REFERENCE)["accuracy"] == 0.0
    assert time.monotonic() - start < 15.0  # ~1 s; the render limit is 5 s


def red_png() -> bytes:
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.new("RGB", (64, 64), "red").save(out, format="PNG")
    return out.getvalue()


XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'


@pytest.mark.parametrize(
    "image",
    [
        '<image href="{path}" width="64" height="64"/>',
        '<image xlink:href="{path}" width="64" height="64"/>',
        '<image q:href="{path}" xmlns:q="http://www.w3.org/1999/xlink" width="64" height="64"/>',
        '<image href="file://{path}" width="64" height="64"/>',
        '<image href=" {path}" width="64" height="64"/>',
        '<image href="&p;" width="64" height="64"/>',  # an entity declared below
        '<filter id="f"><feImage href="{path}"/></filter><rect width="64" height="64" filter="url(#f)"/>',
    ],
)
def test_svg_renderer_loads_no_file(image, tmp_path, monkeypatch):
    """An <image> naming a file is refused even where the sandbox could read it (here: a directory
    added to its read roots); only data: URLs and #fragments are followed."""
    (tmp_path / "red.png").write_bytes(red_png())
    monkeypatch.setattr(sandbox, "_SYSTEM_DIRECTORIES", (*sandbox._SYSTEM_DIRECTORIES, str(tmp_path)))
    sandbox._read_roots.cache_clear()
    try:
        body = image.format(path=tmp_path / "red.png")
        doctype = f'<!DOCTYPE svg [<!ENTITY p "{tmp_path / "red.png"}">]>'
        drawing = doctype + svg(body).replace("<svg ", f"<svg {XLINK} ", 1)
        result = svg_code(f"<answer>{drawing}</answer>", REFERENCE)
        readable = sandbox.run_python(f"print(len(open({str(tmp_path / 'red.png')!r}, 'rb').read()))")
    finally:
        sandbox._read_roots.cache_clear()
    assert readable.stdout == f"{len(red_png())}\n", readable.stderr  # the file was within reach
    assert result == {"accuracy": 0.0, "render_failed": 1.0}


def test_svg_data_url_image_still_renders():
    data = base64.b64encode(red_png()).decode("ascii")
    drawing = svg(f'<image href="data:image/png;base64,{data}" width="64" height="64"/>')
    assert np.array_equal(render_svg(drawing), canvas((0, 0, 64, 64, RED)))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x <svg width='1'>a</svg> y", "<svg width='1'>a</svg>"),
        ("<svg>1</svg><svg>2</svg>", "<svg>1</svg><svg>2</svg>"),  # first open to last close
        ("<svg\n>a</svg>", "<svg\n>a</svg>"),
        ("<svgfoo>a</svg>", None),
        ("</svg><svg>", None),
        ("<SVG>a</SVG>", None),  # XML: case matters
    ],
)
def test_extract_svg(text, expected):
    assert extract_svg(text) == expected


@pytest.mark.parametrize(
    "truth", ["", "a square", "<svg><rect></svg>", '<svg xmlns="http://www.w3.org/2000/svg" width="0"></svg>']
)
def test_malformed_svg_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="svg ground truth"):
        svg_code("<answer>" + REFERENCE + "</answer>", truth)


def test_svg_names_and_format():
    result = score(f"<answer>{REFERENCE}</answer>", REFERENCE, "SVG Code")
    assert (result["accuracy"], result["format"], result["render_failed"]) == (1.0, 1.0, 0.0)
    assert score("<answer>a square</answer>", REFERENCE, "svg")["format"] == 0.5
    assert (
        score(f"<answer>{REFERENCE}</answer>", f"<answer>{REFERENCE}</answer>", "svg-code")["accuracy"] == 1.0
    )


# -------------------------------------------------------------------------------------------- HTML


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<div><p>a</p></div>", ["div", "p", "/p", "/div"]),
        ("<DIV Class='x'><Br/><img src=a.png></DIV>", ["div", "br", "img", "/div"]),  # case, self-closing
        ("<!DOCTYPE html><!-- <span> --><p>1 < 2</p>", ["p", "/p"]),  # doctype, comment, a "<" in text
        ("<script>if (a<b) { x = '<div>' }</script><b>", ["script", "/script", "b"]),  # raw text
        ("<style>p > a {}</style>", ["style", "/style"]),
        ("<?xml version='1.0'?><![CDATA[<i>]]><a>", ["a"]),
        ("<p>unclosed <a href='x'", ["p"]),  # an unterminated tag at the end is text
        ("<!-- never closed <div>", []),
        ("< div></ div>", []),  # not tags
        ("```html\n<ul><li>a<li>b</ul>\n```", ["ul", "li", "li", "/ul"]),  # fences are text
    ],
)
def test_html_tokens(text, expected):
    assert html_tokens(text) == expected


def lcs_dp(a, b):
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b):
            prev, row[j + 1] = row[j + 1], prev + 1 if x == y else max(row[j + 1], row[j])
    return row[-1]


@settings(max_examples=300, deadline=None, database=None)
@given(a=st.lists(st.sampled_from("abcd"), max_size=40), b=st.lists(st.sampled_from("abcd"), max_size=40))
def test_bit_parallel_lcs_matches_dynamic_programming(a, b):
    assert lcs_length(a, b) == lcs_dp(a, b)


@pytest.mark.parametrize(
    "candidate, reference, expected",
    [
        ("<div><p>a</p></div>", "<div><p>b</p></div>", 1.0),  # text is not compared
        # LCS [div, /div] = 2 of 4+4 tokens; start tags {div, span} vs {div, p}: overlap 1 of 2+2.
        ("<div><span>a</span></div>", "<div><p>a</p></div>", 0.5 * 4 / 8 + 0.5 * 2 / 4),
        # Same elements, other nesting: LCS 3 ([div, p, /p]) of 8; multiset F1 1.
        ("<div></div><p></p>", "<div><p></p></div>", 0.5 * 6 / 8 + 0.5 * 1.0),
        # Half the reference: LCS 2 of 2+4 tokens; overlap 1 of 1+2 start tags.
        ("<p></p>", "<div><p></p></div>", 0.5 * 4 / 6 + 0.5 * 2 / 3),
        ("just text", "<div></div>", 0.0),
    ],
)
def test_html_code_exact_values(candidate, reference, expected):
    assert html_code(f"<answer>{candidate}</answer>", reference) == pytest.approx(expected, rel=1e-12)


def test_html_similarity_edge_cases():
    assert html_similarity([], ["div"]) == 0.0
    assert html_similarity(["/div"], ["div", "/div"]) == 0.5 * 2 / 3  # no start tags in the candidate


def test_html_candidates_order():
    reference = "<ul><li>a</li></ul>"
    # The answer block wins over the think block; without an answer, the text after </think>.
    assert html_code("<think><ul><li></li></ul></think><answer><p></p></answer>", reference) == 0.0
    assert html_code("<think>plan</think><ul><li>x</li></ul>", reference) == 1.0


@pytest.mark.parametrize("truth", ["", "no tags", "</div>", "<!-- <div> -->"])
def test_malformed_html_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="html ground truth"):
        html_code("<answer><div></div></answer>", truth)


def test_html_names_and_format():
    result = score("<answer>```html\n<div><p>x</p></div>\n```</answer>", "<div><p>a</p></div>", "HTML Code")
    assert (result["accuracy"], result["format"]) == (1.0, 1.0)
    assert score("<answer>a page</answer>", "<div></div>", "html")["format"] == 0.5
    assert score("<answer><div></div></answer>", "<div></div>", "html-code")["accuracy"] == 1.0


# ------------------------------------------------------------------------------------- robustness

FRAGMENTS = [
    "<answer>", "</answer>", "<think>", "</think>", "<svg>", "</svg>", "<div>", "</div>", "<p ", ">", "<",
    "/", "<!--", "-->", "<script>", "</script>", "```", "=", "'", '"', " ", "\n", "é", "🙂", "\x00", "<!",
    "<?",
]  # fmt: skip
any_text = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))


def check(result: dict) -> None:
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    assert 0.0 <= result["accuracy"] <= 1.0 and result["format"] in (0.0, 0.5, 1.0)


@settings(max_examples=150, deadline=None, database=None)
@given(response=any_text)
def test_html_any_response_in_range(response):
    check(score(response, "<div><p>a</p></div>", "html"))


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(response=any_text)
def test_svg_any_response_in_range(response):
    check(score(response, REFERENCE, "svg"))


ADVERSARIAL_UNITS = [
    "<a ",
    "<a b='",
    "<!--",
    "<!-- >",
    "<a\n",
    "</",
    "<?",
    "<script>",
    "<svg ",
    "</svg>",
    "<",
    "İ<a>",
]


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_100kb_adversarial_responses(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    check(score(response, "<div><p>a</p></div>", "html"))
    check(score(response, REFERENCE, "svg"))  # over MAX_SVG_CHARS or unrenderable: no long render


@pytest.mark.slow
@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_100kb_adversarial_responses_are_linear(unit):
    start = time.perf_counter()
    test_100kb_adversarial_responses(unit)
    # html.parser takes two minutes on 100 KB of "<a "; the linear scanner well under a second.
    assert time.perf_counter() - start < 5.0


def test_many_tags_are_capped():
    page = "".join(itertools.repeat("<div><span>x</span></div>", 10_000))  # 40,000 tokens
    assert html_code(page, page) == 1.0


@pytest.mark.slow
def test_many_tags_are_capped_and_fast():
    start = time.perf_counter()
    test_many_tags_are_capped()
    assert time.perf_counter() - start < 6.0  # ~0.7 s on a loaded 2-core machine
