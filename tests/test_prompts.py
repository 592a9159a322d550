"""Prompt rendering: one template per problem type, user file/folder overrides, loud template errors."""

from pathlib import Path

import pytest

from training.prompts import (
    DEFAULT_TEMPLATE,
    TEMPLATES_DIR,
    render_prompt,
    resolve_template,
    template_digest,
    template_name,
)
from training.rewards import UnknownProblemTypeError, register_scorer, registry, resolve_problem_type

INSTRUCTION = (
    "Think step by step inside <think> </think>, then give the final answer inside <answer> </answer>."
)
CANONICAL = (
    "multiple choice",
    "numerical",
    "regression",
    "temporal grounding",
    "spatial grounding",
    "boolean",
    "spatial-temporal grounding",
    "tracking",
    "open-ended",
    "math",
    "ocr",
    "code",
    "svg-code",
    "html-code",
    "preference",
)


def _unregister(name: str) -> None:
    registry._SCORERS.remove(name)


@pytest.fixture
def registered():
    """Registers a throwaway scorer for every canonical name (plus "haiku rating", which has no
    template) that no family has registered in this process; removes exactly those afterwards."""
    added = []
    for name in (*CANONICAL, "haiku rating"):
        try:
            resolve_problem_type(name)
        except UnknownProblemTypeError:
            register_scorer(name)(lambda response, ground_truth: 0.0)
            added.append(name)
    yield
    for name in added:
        _unregister(name)


def test_multiple_choice_lists_options_one_per_line():
    prompt = render_prompt(
        {
            "problem": "What colour is the ball?",
            "problem_type": "multiple_choice",
            "options": ["A. red", "B. blue"],
        }
    )
    assert prompt == (
        "What colour is the ball?\nOptions:\nA. red\nB. blue\n"
        + INSTRUCTION
        + " Answer with the option letter only."
    )


@pytest.mark.parametrize(
    "problem_type, tail",
    [
        ("numerical", " Answer with a single number."),
        ("regression", " Answer with a single number."),
        ("temporal grounding", ' Answer with JSON {"time": [start, end]} in seconds.'),
        ("spatial_grounding", ' Answer with JSON {"boxes": [x1, y1, x2, y2]}.'),
        ("Boolean", " Answer with yes or no."),
        (
            "spatial-temporal grounding",
            (
                ' Answer with JSON {"time": [start, end], "boxes": {"<second>": [x1, y1, x2, y2], ...}}:'
                " the span in seconds and one box for each whole second in it."
            ),
        ),
        (
            "tracking",
            (
                ' Answer with JSON {"boxes": {"<second>": [x1, y1, x2, y2], ...}}:'
                " one box for each whole second the target is visible."
            ),
        ),
        ("open-ended", " Answer briefly in plain text."),
        ("math", " Answer with the final result only (a number or a LaTeX expression)."),
        ("ocr", " Answer with the text exactly as it appears."),
        ("code", " Answer with the complete program in one ```python code block."),
        ("svg-code", " Answer with the complete SVG source, from <svg> to </svg>."),
        ("html-code", " Answer with the complete HTML source."),
        ("preference", " Answer with the better response: Response 1, Response 2 or Tie."),
    ],
)
def test_per_type_instructions(registered, problem_type, tail):
    prompt = render_prompt(
        {"problem": "Q?", "problem_type": problem_type, "options": None, "data_type": "image"}
    )
    assert prompt == "Q?\n" + INSTRUCTION + tail


@pytest.mark.parametrize(
    "name, file",
    [
        ("multiple choice", "multiple_choice.jinja"),
        ("spatial-temporal grounding", "spatial_temporal_grounding.jinja"),
        ("svg-code", "svg_code.jinja"),
        ("Open Ended", "open_ended.jinja"),
        ("ocr", "ocr.jinja"),
    ],
)
def test_template_name(name, file):
    assert template_name(name) == file


def test_every_canonical_type_has_its_own_builtin_template(registered):
    for name in CANONICAL:
        assert resolve_template(name) == TEMPLATES_DIR / template_name(resolve_problem_type(name))
    # A registered type without a file of its own gets the base layout without an answer format.
    assert resolve_template("haiku rating") == DEFAULT_TEMPLATE
    rendered = render_prompt({"problem": "Rate it.", "problem_type": "haiku rating"})
    assert rendered == "Rate it.\n" + INSTRUCTION


def test_rendered_prompts_stay_short(registered):
    for problem_type in CANONICAL:
        assert len(render_prompt({"problem": "Q?", "problem_type": problem_type})) < 260


def test_unknown_problem_type_and_missing_fields():
    with pytest.raises(UnknownProblemTypeError):
        render_prompt({"problem": "Q?", "problem_type": "haiku"})
    with pytest.raises(UnknownProblemTypeError):
        resolve_template("haiku")
    with pytest.raises(ValueError, match=r"lacks required field\(s\) \['problem'\]"):
        render_prompt({"problem_type": "mc"})


def test_user_template_file_overrides_every_type(tmp_path):
    path = tmp_path / "mine.jinja"
    path.write_text(
        "[{{ data_type }}|{{ problem_type }}] {{ problem }}{% for o in options %} / {{ o }}{% endfor %}\n"
    )
    sample = {
        "problem": "Which?",
        "problem_type": "Multiple-Choice",
        "options": ["A. x", "B. y"],
        "data_type": "video",
    }
    assert render_prompt(sample, str(path)) == "[video|multiple choice] Which? / A. x / B. y"
    assert render_prompt({"problem": "Q?", "problem_type": "boolean"}, path) == "[video|boolean] Q?"
    assert resolve_template("numerical", path) == path
    # Extra sample fields reach the template too.
    path.write_text("{{ problem }} ({{ data_source }})")
    assert render_prompt({**sample, "data_source": "clevrer"}, str(path)) == "Which? (clevrer)"


def test_user_template_file_may_extend_the_builtin_base(tmp_path):
    path = tmp_path / "short_numbers.jinja"
    path.write_text('{% extends "base.jinja" %}{% block answer_format %} Digits only.{% endblock %}')
    assert render_prompt({"problem": "How many?", "problem_type": "numerical"}, path) == (
        "How many?\n" + INSTRUCTION + " Digits only."
    )


def test_user_folder_overrides_per_type_and_falls_back(tmp_path):
    (tmp_path / "boolean.jinja").write_text("{{ problem }} Say yes or no.")
    boolean = {"problem": "Is it red?", "problem_type": "boolean"}
    numerical = {"problem": "How many?", "problem_type": "numerical"}
    assert render_prompt(boolean, tmp_path) == "Is it red? Say yes or no."
    assert render_prompt(numerical, tmp_path) == "How many?\n" + INSTRUCTION + " Answer with a single number."
    assert resolve_template("boolean", tmp_path) == tmp_path / "boolean.jinja"
    assert resolve_template("numerical", tmp_path) == TEMPLATES_DIR / "numerical.jinja"
    # A base.jinja in the folder restyles every built-in type template that extends it.
    (tmp_path / "base.jinja").write_text(
        "Look at the {{ data_type }}. {{ problem }}{% block answer_format %}{% endblock %}"
    )
    restyled = "Look at the video. How many? Answer with a single number."
    assert render_prompt(numerical, str(tmp_path)) == restyled
    assert render_prompt(boolean, str(tmp_path)) == "Is it red? Say yes or no."


def test_template_digest_tracks_every_file_that_can_change_a_prompt(tmp_path):
    builtin = template_digest()
    assert builtin == template_digest(None) and len(builtin) == 64
    path = tmp_path / "mine.jinja"
    path.write_text("{{ problem }}")
    first = template_digest(path)
    path.write_text("{{ problem }}!")
    assert len({builtin, first, template_digest(path)}) == 3
    folder = tmp_path / "folder"
    folder.mkdir()
    assert template_digest(folder) == builtin  # an empty folder changes no prompt
    (folder / "ocr.jinja").write_text("{{ problem }}")
    assert template_digest(folder) != builtin


def test_user_template_typo_fails_loudly_with_its_name(tmp_path):
    path = tmp_path / "typo.jinja"
    path.write_text("{{ problme }}")
    with pytest.raises(ValueError, match=r"typo\.jinja: 'problme' is undefined"):
        render_prompt({"problem": "Q?", "problem_type": "boolean"}, str(path))
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% if %}")
    with pytest.raises(ValueError, match=r"broken\.jinja, line 1"):
        render_prompt({"problem": "Q?", "problem_type": "boolean"}, str(broken))
    with pytest.raises(FileNotFoundError, match="missing.jinja"):
        render_prompt({"problem": "Q?", "problem_type": "boolean"}, str(tmp_path / "missing.jinja"))
    include = tmp_path / "include.jinja"
    include.write_text('{% include "nowhere.jinja" %}')
    with pytest.raises(ValueError, match=r"include\.jinja: template 'nowhere\.jinja' not found"):
        render_prompt({"problem": "Q?", "problem_type": "boolean"}, include)


def test_broken_base_in_user_folder_names_the_file_and_line(tmp_path):
    (tmp_path / "base.jinja").write_text("{{ problem }}\n{% if %}")
    with pytest.raises(ValueError, match=r"base\.jinja, line 2"):
        render_prompt({"problem": "Q?", "problem_type": "numerical"}, tmp_path)


def test_builtin_templates_are_all_used():
    """Every file in templates/ is the base, the fallback, or a canonical type's template."""
    expected = {"base.jinja", DEFAULT_TEMPLATE.name, *(template_name(name) for name in CANONICAL)}
    assert {path.name for path in Path(TEMPLATES_DIR).glob("*.jinja")} == expected
