"""Prompt rendering: a sample's fields through the Jinja2 template of its problem type.

Built-in templates (``templates/``): ``base.jinja`` lays out every prompt (the question, the
options one per line, the reasoning-first instruction: ``<think>`` then ``<answer>``) and ends
with a ``answer_format`` block that each ``<type>.jinja`` fills with its answer format (the
option letter, one number, the exact JSON schema of a grounding type, …). A file's name is the
canonical problem type with every run of non-alphanumerics made one ``_``: "multiple choice" ->
``multiple_choice.jinja``, "spatial-temporal grounding" -> ``spatial_temporal_grounding.jinja``,
"svg-code" -> ``svg_code.jinja``. A registered type without a file of its own uses
``default.jinja`` (the base, no answer format).

A user override (``template_path``) is either

- a template file: used for every problem type (it may branch on ``problem_type``), or
- a folder: for each type its ``<type>.jinja`` there, else the built-in one, else ``default.jinja``
  (the folder's, then the built-in). ``{% extends %}``/``{% include %}`` names resolve in the
  user's folder first, then the built-in one, so a ``base.jinja`` in the folder restyles every
  built-in type template, and a user template may extend the built-in ``base.jinja``.

The template sees every field of the sample plus defaults for the optional ones
(``options=[]``, ``data_type="video"``); ``problem_type`` is replaced by its canonical name
(``"multiple_choice"`` -> ``"multiple choice"``) so a template branches on one spelling; an
unregistered type is an ``UnknownProblemTypeError``. Templates are rendered with
``StrictUndefined``: a misspelt variable is an error naming the template, never an empty string
silently sent to the model.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from training.rewards import resolve_problem_type

TEMPLATES_DIR = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = TEMPLATES_DIR / "default.jinja"  # the fallback for a type with no file of its own
_FALLBACK = DEFAULT_TEMPLATE.name
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

TemplatePath = str | os.PathLike[str] | None


def template_name(problem_type: str) -> str:
    """The file name of a canonical problem type's template: "svg-code" -> "svg_code.jinja"."""
    return _NON_ALNUM.sub("_", problem_type.lower()).strip("_") + ".jinja"


@lru_cache(maxsize=16)
def _cached_environment(search_path: tuple[str, ...], user_files: tuple[str, ...]) -> jinja2.Environment:
    # jinja2 caches compiled templates and reloads a changed file, but a file added to the user's
    # folder would stay shadowed by the built-in one it overrides: its names are part of the key.
    del user_files
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(search_path)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def _environment(search_path: tuple[str, ...]) -> jinja2.Environment:
    user = search_path[:-1]  # the last folder is the built-in one, which does not change
    names = tuple(
        sorted(entry.name for folder in user for entry in os.scandir(folder) if entry.name.endswith(".jinja"))
    )
    return _cached_environment(search_path, names)


def _override(template_path: TemplatePath) -> Path | None:
    if template_path is None:
        return None
    path = Path(template_path).resolve()
    if not path.exists():
        raise FileNotFoundError(
            f"prompt template {path} does not exist (pass a .jinja file, or a folder of <type>.jinja files)"
        )
    return path


def _load(problem_type: str, override: Path | None) -> jinja2.Template:
    """The template that renders ``problem_type`` (canonical) under the override (module docstring)."""
    if override is not None and override.is_file():
        search, names = (str(override.parent), str(TEMPLATES_DIR)), [override.name]
    else:
        folders = (str(override),) if override is not None else ()
        search, names = (*folders, str(TEMPLATES_DIR)), [template_name(problem_type), _FALLBACK]
    return _environment(search).select_template(names)


def _template_error(err: jinja2.TemplateError, where: str, fields: dict[str, Any]) -> ValueError:
    """One ValueError naming the template file (and line) for any jinja2 error."""
    if isinstance(err, jinja2.TemplateSyntaxError):
        return ValueError(f"prompt template {err.filename or where}, line {err.lineno}: {err.message}")
    if isinstance(err, jinja2.TemplateNotFound):
        return ValueError(f"prompt template {where}: template {err.name!r} not found")
    if isinstance(err, jinja2.UndefinedError):
        return ValueError(f"prompt template {where}: {err.message} (fields given: {sorted(fields)})")
    return ValueError(f"prompt template {where}: {err}")


def resolve_template(problem_type: str, template_path: TemplatePath = None) -> Path:
    """The file that renders ``problem_type`` (any registered spelling) under ``template_path``."""
    override = _override(template_path)
    try:
        template = _load(resolve_problem_type(problem_type), override)
    except jinja2.TemplateError as err:
        raise _template_error(err, str(override or TEMPLATES_DIR), {}) from err
    return Path(template.filename or "")


def template_digest(template_path: TemplatePath = None) -> str:
    """SHA-256 (hex) of every template file the renderer may read under ``template_path``.

    Covers the built-in ``*.jinja`` files and the override (the file, or the folder's
    ``*.jinja``), so it changes whenever a built-in or overriding template does (not covered:
    other files a single override file pulls from its own folder with ``{% include %}``). Each file
    contributes ``"<origin>/<name>\\n" + text + "\\n"`` in sorted order, origin ``builtin`` or ``user``.
    """
    override = _override(template_path)
    files = [("builtin", p) for p in TEMPLATES_DIR.glob("*.jinja")]
    if override is not None:
        files += [("user", p) for p in ([override] if override.is_file() else override.glob("*.jinja"))]
    digest = hashlib.sha256()
    for origin, path in sorted(files, key=lambda item: (item[0], item[1].name)):
        digest.update(f"{origin}/{path.name}\n{path.read_text(encoding='utf-8')}\n".encode())
    return digest.hexdigest()


def render_prompt(sample_fields: dict[str, Any], template_path: TemplatePath = None) -> str:
    """The user prompt for one sample.

    ``sample_fields`` needs ``problem`` and ``problem_type``; ``options`` (a list or None) and
    ``data_type`` are optional. ``template_path`` is a user override (a file or a folder, see the
    module docstring). Raises ValueError naming the template on a missing field, an undefined
    variable or a template error, UnknownProblemTypeError on an unregistered problem type,
    FileNotFoundError when ``template_path`` does not exist.
    """
    override = _override(template_path)
    missing = [key for key in ("problem", "problem_type") if key not in sample_fields]
    if missing:
        raise ValueError(
            f"prompt template {override or TEMPLATES_DIR}: sample lacks required field(s) {missing}"
        )
    fields = {"options": [], "data_type": "video", **sample_fields}
    fields["options"] = list(fields["options"] or [])
    fields["problem_type"] = resolve_problem_type(fields["problem_type"])
    where = str(override or TEMPLATES_DIR)
    try:
        template = _load(fields["problem_type"], override)
        where = template.filename or where
        return template.render(**fields).strip()
    except jinja2.TemplateError as err:
        raise _template_error(err, where, fields) from err
