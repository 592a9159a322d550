"""Dagster ``Config`` classes generated from the packages' typed dataclasses, field by field.

``dagster_config(RLConfig, ...)`` gives the launchpad exactly the sections and keys of ``training.config``
(EasyR1 names: ``algorithm.adv_estimator``, ``worker.actor.clip_ratio_high``, ``trainer.total_steps`` …), the
same defaults (or the demo's, where it sets its own), a dropdown for every choice key and the dataclass's
comments as field descriptions. A typo in a key or a value outside the choices is refused by the launchpad,
naming the field, before a run starts; what only the whole config can tell (``n > 1`` for GRPO) is checked by
``RLConfig.validate`` when the run starts.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from functools import cache
from typing import Any, Literal

import dagster as dg
import pydantic


def dagster_config(
    cls,
    name: str,
    *,
    defaults: dict[str, Any] | None = None,
    choices: dict[str, tuple] | None = None,
    exclude: tuple[str, ...] = (),
    extra: dict[str, tuple[type, Any, str]] | None = None,
    doc: str = "",
    _prefix: str = "",
) -> type[dg.Config]:
    """A ``dg.Config`` subclass with one field per dataclass field of ``cls`` (nested dataclasses become
    nested configs). ``defaults``/``choices``/``exclude`` take dotted keys; ``extra`` adds top-level fields
    ``{name: (type, default, description)}`` that belong to the asset, not to ``cls``."""
    defaults, choices = defaults or {}, choices or {}
    hints = typing.get_type_hints(cls)
    notes = field_comments(cls)
    fields: dict[str, Any] = {}
    instance = cls()
    for f in dataclasses.fields(cls):
        key = _prefix + f.name
        if key in exclude:
            continue
        typ = hints[f.name]
        if dataclasses.is_dataclass(typ):
            sub = dagster_config(
                typ,
                name + f.name.title().replace("_", ""),
                defaults=defaults,
                choices=choices,
                exclude=exclude,
                doc=(typ.__doc__ or "").strip() if not (typ.__doc__ or "").startswith(typ.__name__) else "",
                _prefix=key + ".",
            )
            fields[f.name] = (sub, pydantic.Field(default_factory=sub, description=notes.get(f.name) or None))
            continue
        default = defaults.get(key, getattr(instance, f.name))
        description = notes.get(f.name) or None
        fields[f.name] = (
            _field_type(typ, choices.get(key)),
            pydantic.Field(default, description=description),
        )
    for field_name, (typ, default, description) in (extra or {}).items():
        fields[field_name] = (typ, pydantic.Field(default, description=description))
    return pydantic.create_model(name, __base__=dg.Config, __doc__=doc or None, **fields)


def _field_type(typ: Any, allowed: tuple | None) -> Any:
    """The pydantic type of one leaf: a Literal over ``allowed`` when given, ``list[str]`` for lists
    (Dagster has no list-of-Literal type: their entries are checked by ``validate`` at run start),
    ``X | None`` kept optional."""
    if typ is list or typing.get_origin(typ) is list:
        return list[str]
    if allowed:
        return Literal[allowed]  # type: ignore[valid-type]
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        return typing.Optional[next(a for a in typing.get_args(typ) if a is not type(None))]  # noqa: UP045
    return typ


@cache
def field_comments(cls) -> dict[str, str]:
    """``{field: comment}`` from the class source: the comment on the field's line, else the comment lines
    right above it. Empty when the source is unavailable."""
    try:
        lines = textwrap.dedent(inspect.getsource(cls)).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    for node in ast.parse("\n".join(lines)).body[0].body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        tail = lines[node.end_lineno - 1][node.end_col_offset :]
        text = tail.split("#", 1)[1].strip() if "#" in tail else ""
        above, i = [], node.lineno - 2
        while not text and i >= 0 and lines[i].strip().startswith("#"):
            above.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        out[node.target.id] = text or " ".join(above)
    return out
