"""Partitions: checkpoints (dynamic: added when a run saves one or the sensor finds one) x benchmarks
(static: every registered adapter). An evaluation cell is one (checkpoint, benchmark) pair."""

import dagster as dg

from evaluation.adapters.registry import list_benchmarks

CHECKPOINTS = dg.DynamicPartitionsDefinition(name="checkpoints")
BENCHMARKS = dg.StaticPartitionsDefinition(list_benchmarks())
EVAL_CELLS = dg.MultiPartitionsDefinition({"benchmark": BENCHMARKS, "checkpoint": CHECKPOINTS})


def cell_key(checkpoint: str, benchmark: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"checkpoint": checkpoint, "benchmark": benchmark})


def register_checkpoints(instance: dg.DagsterInstance, names: list[str]) -> list[str]:
    """Add the checkpoint partitions not registered yet; returns those added."""
    new = [n for n in dict.fromkeys(names) if not instance.has_dynamic_partition(CHECKPOINTS.name, n)]
    if new:
        instance.add_dynamic_partitions(CHECKPOINTS.name, new)
    return new
