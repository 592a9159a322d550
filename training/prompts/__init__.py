"""Prompt rendering: a sample's fields through a Jinja2 template (the default or a user's file).

The template sees every field of the sample plus defaults for the optional ones
(``options=[]``, ``data_type="video"``); ``problem_type`` is replaced by its canonical name
(``"multiple_choice"`` -> ``"multiple choice"``) so a template branches on one spelling. Templates
are rendered with ``StrictUndefined``: a misspelt variable is an error naming the template, never
an empty string silently sent to the model.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from training.rewards import resolve_problem_type

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "default.jinja"


@lru_cache(maxsize=16)
def _environment(directory: str) -> jinja2.Environment:
    # One environment per folder; jinja2 caches compiled templates and reloads a changed file.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def _load(path: Path) -> jinja2.Template:
    if not path.is_file():
        raise FileNotFoundError(f"prompt template {path} does not exist (pass a .jinja file path)")
    try:
        return _environment(str(path.parent)).get_template(path.name)
    except jinja2.TemplateSyntaxError as err:
        raise ValueError(f"prompt template {path}, line {err.lineno}: {err.message}") from err


def render_prompt(sample_fields: dict[str, Any], template_path: str | None = None) -> str:
    """The user prompt for one sample.

    ``sample_fields`` needs ``problem`` and ``problem_type``; ``options`` (a list or None) and
    ``data_type`` are optional. ``template_path`` replaces the default template
    (``templates/default.jinja``). Raises ValueError naming the template on a missing field or an
    undefined variable, UnknownProblemTypeError on an unregistered problem type.
    """
    path = DEFAULT_TEMPLATE if template_path is None else Path(template_path).resolve()
    missing = [key for key in ("problem", "problem_type") if key not in sample_fields]
    if missing:
        raise ValueError(f"prompt template {path}: sample lacks required field(s) {missing}")
    fields = {"options": [], "data_type": "video", **sample_fields}
    fields["options"] = list(fields["options"] or [])
    fields["problem_type"] = resolve_problem_type(fields["problem_type"])
    template = _load(path)
    try:
        return template.render(**fields).strip()
    except jinja2.UndefinedError as err:
        raise ValueError(f"prompt template {path}: {err.message} (fields given: {sorted(fields)})") from err
