"""Run configs: the embedded default (the demo) and the minimal end-to-end test.

The assets' config defaults *are* the embedded default (tiny model, synthetic data, sizes for a 2-core
CPU machine), so "Materialize all" in the UI and ``reelrl demo`` run the same thing.
"""

DEMO_OPS: dict = {}

# The smallest run that still exercises every asset for real (used by the end-to-end tests).
MINIMAL_OPS = {
    "source_dataset": {"config": {"demo_train": 6, "demo_test": 6}},
    "media_cache": {"config": {"workers": 1}},
    "sft_warm_start": {"config": {"steps": 2, "batch_size": 4}},
    "rollout_pass_rates": {"config": {"k": 2, "max_new_tokens": 12}},
    # a 2-step warm start solves (almost) nothing: keep every row so RL still has data
    "filtered_train_set": {"config": {"low": -1.0, "high": 2.0}},
    "training_run": {"config": {"steps": 2, "rollout_batch_size": 2, "n": 2, "max_new_tokens": 12}},
    "benchmark_eval": {"config": {"max_new_tokens": 12}},
}


def run_config(ops: dict, log_level: str = "INFO") -> dict:
    return {"ops": ops, "loggers": {"console": {"config": {"log_level": log_level}}}}
