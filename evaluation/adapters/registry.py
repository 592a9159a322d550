"""Benchmark adapters registered by name, one dispatch path (EasyR1 ``core_algos`` style).

An adapter turns a benchmark's annotation file into canonical ``BenchmarkRecord``s, scores one
response in a given mode and computes the benchmark's official aggregates. Two scoring modes:

- ``robust``: the reward library's scorer for the record's problem type (what training optimises);
- ``official``: the official script's behaviour, quirks included, so numbers compare with papers.

``score_sample`` returns a dict with at least ``score`` (the per-sample value the aggregates use) and
``extraction_failed`` (no answer could be pulled out of the response); adapters add their own keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.unified import UnifiedSignature
from evaluation.records import BenchmarkRecord
from training.registry import Registry, UnknownNameError

MODES = ("robust", "official")

A = TypeVar("A", bound=type["BenchmarkAdapter"])


class UnknownBenchmarkError(UnknownNameError):
    """Raised for a benchmark name nobody registered; the message lists the registered ones."""


_REGISTRY: Registry[type[BenchmarkAdapter]] = Registry(
    "benchmark", error=UnknownBenchmarkError, known="registered benchmarks"
)


class BenchmarkAdapter(ABC):
    """Base class of every benchmark adapter; subclasses are registered with ``@register_benchmark``."""

    name: str = ""
    #: True for adapters that grade some answers with an LLM judge: their constructor takes ``judge=`` (a
    #: ``training.rewards.judge.Judge`` or None), and the runner/CLI pass the configured judge client.
    uses_judge: bool = False
    #: Jinja2 template used to render prompts; ``None`` = the training library's default template.
    prompt_template: str | Path | None = None
    #: What marks this benchmark's EasyVideoR1 unified file (None: the adapter reads no unified file);
    #: ``load`` refuses a unified file whose records lack it, i.e. another benchmark's file.
    unified_signature: UnifiedSignature | None = None
    #: Frame settings the benchmark documents (None: none found); an evaluation that takes its media spec
    #: from the benchmark starts from these (``evaluation.media_spec``).
    media_settings: MediaSettings | None = None
    #: Where the annotation and media files go (README's layout table is generated from these).
    media_layout: MediaLayout | None = None

    @abstractmethod
    def load(self, annotation_path: str | Path, media_root: str | Path | None) -> list[BenchmarkRecord]:
        """Parse an annotation file (format detected from its content) into canonical records.

        Format errors raise ``ValueError`` naming the file and the line or record; so does another
        benchmark's file (the message says what was expected and what was found).
        """

    @abstractmethod
    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        """Score one response; returns at least ``{"score": float, "extraction_failed": bool}``."""

    @abstractmethod
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        """Official aggregates over scored samples; ``per_sample_scores[i]`` belongs to ``records[i]``."""

    def prompt_fields(self, record: BenchmarkRecord) -> dict[str, Any]:
        """Fields handed to ``training.prompts.render_prompt``."""
        return {
            "problem": record.problem,
            "problem_type": record.problem_type,
            "options": list(record.options),
            "data_type": record.data_type,
        }


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; known modes: {', '.join(MODES)}")
    return mode


def register_benchmark(name: str) -> Callable[[A], A]:
    """Class decorator: register an adapter under ``name``; a second registration of a name raises."""

    def deco(cls: A) -> A:
        if not (isinstance(cls, type) and issubclass(cls, BenchmarkAdapter)):
            raise TypeError(f"@register_benchmark({name!r}) needs a BenchmarkAdapter subclass, got {cls!r}")
        _REGISTRY.add(name, cls)
        cls.name = name
        return cls

    return deco


def adapter_class(name: str) -> type[BenchmarkAdapter]:
    """The adapter class registered as ``name``; an unknown name raises listing the known ones."""
    return _REGISTRY.get(name)


def get_adapter(name: str, **options: Any) -> BenchmarkAdapter:
    """A fresh adapter instance for ``name`` (``options`` go to its constructor, e.g. a prompt style);
    an unknown name raises listing the known ones."""
    return adapter_class(name)(**options)


def list_benchmarks() -> list[str]:
    return _REGISTRY.names()


def recognised_benchmarks(rows: Any) -> list[str]:
    """The benchmarks whose unified signature every row of ``rows`` has (sorted; [] for none)."""
    return sorted(
        name
        for name, cls in _REGISTRY.items()
        if cls.unified_signature is not None
        and isinstance(rows, list)
        and cls.unified_signature.matches(rows)
    )
