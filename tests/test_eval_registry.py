"""The benchmark adapter registry: one dispatch path, duplicates rejected, clear unknown-name errors."""

import pytest

from evaluation.adapters import BenchmarkAdapter, UnknownBenchmarkError, get_adapter, list_benchmarks
from evaluation.adapters.registry import _REGISTRY, check_mode, register_benchmark


def test_builtin_adapters_registered():
    assert {"charades_sta", "reelrl_jsonl"} <= set(list_benchmarks())
    adapter = get_adapter("charades_sta")
    assert isinstance(adapter, BenchmarkAdapter) and adapter.name == "charades_sta"
    assert get_adapter("charades_sta", prompt_style="reelrl").prompt_style == "reelrl"


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownBenchmarkError) as err:
        get_adapter("video_mme_typo")
    assert "unknown benchmark 'video_mme_typo'" in str(err.value)
    assert "charades_sta" in str(err.value) and "reelrl_jsonl" in str(err.value)


def test_duplicate_registration_rejected():
    with pytest.raises(
        ValueError, match="'charades_sta' is already registered by evaluation.adapters.charades_sta"
    ):

        @register_benchmark("charades_sta")
        class Again(BenchmarkAdapter):  # pragma: no cover - never instantiated
            pass


def test_non_adapter_rejected():
    with pytest.raises(TypeError, match="needs a BenchmarkAdapter subclass"):
        register_benchmark("not_an_adapter")(object)
    assert "not_an_adapter" not in _REGISTRY


def test_modes():
    assert check_mode("official") == "official"
    with pytest.raises(ValueError, match="unknown scoring mode 'strict'; known modes: robust, official"):
        check_mode("strict")
