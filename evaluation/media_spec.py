"""The one resolver of media specs: every door (the ``media_cache`` asset, the ``checkpoint_eval`` cell,
``reelrl eval run``) asks ``resolve_media_spec`` which frames and pixels to sample, so the same benchmark
never gets different frames through different doors without someone choosing it.

Values are applied in layers, each later one winning, and every field remembers the layer it came from:

1. ``MediaSpec``'s defaults (qwen-vl-utils' pixel budgets scaled by the model family's resize factor);
2. for an evaluation, what ``media_from`` names:

   - ``benchmark`` (the default, ``DEFAULT_MEDIA_FROM``, the same for the CLI and the Dagster cell): the
     frame settings the benchmark's adapter declares (``BenchmarkAdapter.media_settings``), if any;
   - ``training``: the spec the training cache was built with (``training_spec``);

3. explicit choices, in order (the ``media_cache`` config; ``reelrl eval run``'s flags, then its
   ``--media B:key=value``).

The resize ``factor`` always comes from the model family. This module is pure (no Dagster, no I/O); it lives in
``evaluation`` because that is the lowest layer that knows the benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # cache_store is imported when a spec is resolved: the CLI's parser reads the names below
    from cache_store import MediaSpec

#: ``MediaSpec`` field -> the media cache's config key (EasyR1's ``data.*`` name) that sets it in training
CACHE_CONFIG_KEYS = {
    "fps": "video_fps",
    "max_frames": "video_max_frames",
    "min_frames": "video_min_frames",
    "min_pixels": "video_min_pixels",
    "max_pixels": "video_max_pixels",
    "image_min_pixels": "image_min_pixels",
    "image_max_pixels": "image_max_pixels",
}
PURPOSES = ("training", "evaluation")
MEDIA_FROM = ("benchmark", "training")
DEFAULT_MEDIA_FROM = "benchmark"
#: The ``MediaSpec`` fields a person may choose (``factor`` comes from the model, ``preprocess_version`` from
#: the code).
SPEC_FIELDS = (
    "fps",
    "max_frames",
    "min_frames",
    "max_pixels",
    "min_pixels",
    "total_pixels",
    "image_max_pixels",
    "image_min_pixels",
)
DEFAULTS_LABEL = "MediaSpec defaults (qwen-vl-utils)"
TRAINING_LABEL = "training cache spec"


@dataclass(frozen=True)
class ResolvedMediaSpec:
    """A ``MediaSpec`` and where each of its values came from: ``origins`` maps every chosen field and
    ``factor`` to the layer that set it; ``source`` says the same in one line (manifests, CLI output)."""

    spec: MediaSpec
    purpose: str
    media_from: str | None
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        groups: dict[str, list[str]] = {}
        for name in (*SPEC_FIELDS, "factor"):
            groups.setdefault(self.origins[name], []).append(f"{name}={getattr(self.spec, name)}")
        head = self.purpose + (f", media from {self.media_from}" if self.media_from else "")
        return head + ": " + "; ".join(f"{label}: {', '.join(items)}" for label, items in groups.items())

    def to_dict(self) -> dict[str, Any]:
        """What a manifest records: the choice, the one-line source and each field's origin."""
        return {
            "purpose": self.purpose,
            "media_from": self.media_from,
            "source": self.source,
            "origins": dict(self.origins),
        }


def _apply(values: dict[str, Any], origins: dict[str, str], label: str, layer: Mapping[str, Any]) -> None:
    unknown = sorted(set(layer) - set(SPEC_FIELDS))
    if unknown:
        raise ValueError(f"{label}: unknown media setting(s) {unknown}; known: {list(SPEC_FIELDS)}")
    for name, value in layer.items():
        if value is not None:
            values[name] = value
            origins[name] = label


def resolve_media_spec(
    purpose: str,
    model_type: str,
    *,
    benchmark: str | None = None,
    media_from: str | None = None,
    training_spec: MediaSpec | None = None,
    choices: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> ResolvedMediaSpec:
    """The ``MediaSpec`` of one purpose (``training`` or ``evaluation``) for a model family.

    benchmark: the evaluated benchmark (evaluation only); its adapter's ``media_settings`` are used when
        ``media_from`` is ``benchmark``.
    media_from: ``benchmark`` or ``training`` (evaluation only; None = ``DEFAULT_MEDIA_FROM``).
    training_spec: the training cache's spec; required when ``media_from`` is ``training``.
    choices: ``(label, {field: value})`` layers applied last, in order; a None value leaves the field alone.
    Raises ValueError naming the bad choice.
    """
    from cache_store import MediaSpec
    from cache_store.sampling import factor_for_family

    if purpose not in PURPOSES:
        raise ValueError(f"media spec purpose must be one of {PURPOSES}, got {purpose!r}")
    factor = factor_for_family(model_type)
    values: dict[str, Any] = {}
    origins = {name: DEFAULTS_LABEL for name in SPEC_FIELDS}
    origins["factor"] = f"model family {model_type}"
    if purpose == "training":
        if benchmark is not None or media_from is not None or training_spec is not None:
            raise ValueError("a training media spec takes no benchmark, media_from or training_spec")
    else:
        media_from = media_from or DEFAULT_MEDIA_FROM
        if media_from not in MEDIA_FROM:
            raise ValueError(f"media_from must be one of {MEDIA_FROM}, got {media_from!r}")
        if media_from == "benchmark":
            if benchmark is None:
                raise ValueError("media_from='benchmark' needs the benchmark's name")
            from evaluation.adapters.registry import adapter_class

            settings = adapter_class(benchmark).media_settings
            if settings is not None and settings.values:
                _apply(values, origins, f"{benchmark} ({settings.source})", settings.values)
        else:
            if training_spec is None:
                raise ValueError(
                    "media_from='training' needs the training cache's spec (the media_cache asset's, or "
                    "reelrl eval run --training-spec FILE)"
                )
            if training_spec.factor != factor:
                raise ValueError(
                    f"the training cache's spec has resize factor {training_spec.factor}, but model family "
                    f"{model_type!r} uses {factor}: its frames do not fit this model"
                )
            _apply(values, origins, TRAINING_LABEL, {k: getattr(training_spec, k) for k in SPEC_FIELDS})
    for label, layer in choices:
        _apply(values, origins, label, layer)
    try:
        spec = MediaSpec(factor=factor, **values)
    except ValueError as e:
        chosen = ", ".join(f"{k}={v} ({origins[k]})" for k, v in values.items())
        raise ValueError(f"{e} [chosen: {chosen or 'nothing'}]") from e
    return ResolvedMediaSpec(spec, purpose, media_from if purpose == "evaluation" else None, origins)


def spec_from_json(data: Mapping[str, Any], where: str) -> MediaSpec:
    """A ``MediaSpec`` from its JSON form (``MediaSpec.to_dict()``, ``reelrl cache build --json``'s ``spec``,
    the ``media_cache`` asset's ``sampling`` metadata); unknown keys are an error naming ``where``."""
    from cache_store import MediaSpec

    known = {*SPEC_FIELDS, "factor", "preprocess_version"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: not a media spec (unknown keys {unknown}; known: {sorted(known)})")
    return MediaSpec(**dict(data))
