"""Benchmark adapters. Importing this package imports every module in it, which registers every
built-in adapter (a module registers its adapters with ``@register_benchmark``)."""

import importlib
import pkgutil

from evaluation.adapters.registry import (
    MODES,
    BenchmarkAdapter,
    UnknownBenchmarkError,
    get_adapter,
    list_benchmarks,
    register_benchmark,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "MODES",
    "BenchmarkAdapter",
    "UnknownBenchmarkError",
    "get_adapter",
    "list_benchmarks",
    "register_benchmark",
]
