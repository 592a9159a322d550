"""Benchmark evaluation: adapters to canonical records, official and robust scoring, a resumable runner.

Modules: ``records`` (canonical record), ``benchmarks`` (adapter registry and adapters), ``metrics``
(pure aggregates), ``official`` (official-script re-implementations), ``scoring`` (robust scoring via
the reward library), ``stages`` / ``runner`` (media -> generation -> scoring), ``manifest``,
``predictions``. Nothing is imported here so ``evaluation.metrics`` stays dependency-free.
"""
