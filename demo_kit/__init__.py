"""The embedded demo's stand-ins for real inputs: tiny offline Qwen-VL checkpoints (``tiny_models``) and
synthetic media with known answers (``synthetic``).

The Dagster assets fall back to these when no model or dataset is configured, and the CLI, tests and
benchmarks build them directly. The package sits under ``assets`` in the import contract (pyproject's
``[tool.importlinter]``), beside ``evaluation`` and independent of it: ``training``, ``evaluation`` and
``cache_store`` never import it, so no library code depends on demo data (it uses only ``cache_store``
itself, to write and cache its videos).
"""
