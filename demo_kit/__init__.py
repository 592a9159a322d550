"""The embedded demo's stand-ins for real inputs: tiny offline Qwen-VL checkpoints (``tiny_models``) and
synthetic media with known answers (``synthetic``).

The Dagster assets fall back to these when no model or dataset is configured, and the CLI, tests and
benchmarks build them directly. They use ``cache_store`` (to write and cache their videos) and nothing
above it, so the assets can take them without importing the CLI package.
"""
