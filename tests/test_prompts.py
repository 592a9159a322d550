"""Prompt rendering: the default template per problem type, user overrides, loud template errors."""

import pytest

from training.prompts import render_prompt
from training.rewards import UnknownProblemTypeError

INSTRUCTION = (
    "Think step by step inside <think> </think>, then give the final answer inside <answer> </answer>."
)


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
    ],
)
def test_per_type_instructions(problem_type, tail):
    prompt = render_prompt(
        {"problem": "Q?", "problem_type": problem_type, "options": None, "data_type": "image"}
    )
    assert prompt == "Q?\n" + INSTRUCTION + tail


def test_rendered_prompts_stay_short():
    for problem_type in (
        "mc",
        "numerical",
        "regression",
        "temporal grounding",
        "spatial grounding",
        "boolean",
    ):
        assert len(render_prompt({"problem": "Q?", "problem_type": problem_type})) < 200


def test_unknown_problem_type_and_missing_fields():
    with pytest.raises(UnknownProblemTypeError):
        render_prompt({"problem": "Q?", "problem_type": "haiku"})
    with pytest.raises(ValueError, match=r"lacks required field\(s\) \['problem'\]"):
        render_prompt({"problem_type": "mc"})


def test_user_template_overrides_default(tmp_path):
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
    # Extra sample fields reach the template too.
    path.write_text("{{ problem }} ({{ data_source }})")
    assert render_prompt({**sample, "data_source": "clevrer"}, str(path)) == "Which? (clevrer)"


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
