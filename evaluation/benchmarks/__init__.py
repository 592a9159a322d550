"""Benchmark adapters. Importing this package registers every built-in adapter."""

from evaluation.benchmarks import charades_sta, reelrl_jsonl  # noqa: F401  (registration)
from evaluation.benchmarks.registry import (
    MODES,
    BenchmarkAdapter,
    UnknownBenchmarkError,
    get_adapter,
    list_benchmarks,
    register_benchmark,
)

__all__ = [
    "MODES",
    "BenchmarkAdapter",
    "UnknownBenchmarkError",
    "get_adapter",
    "list_benchmarks",
    "register_benchmark",
]
