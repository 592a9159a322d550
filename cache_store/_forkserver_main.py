"""Forkserver preload that imports the parent's main module once, in the server, not in every worker.

A spawn or forkserver child re-runs the parent's main script (as ``__mp_main__``) before it runs its target,
unless its ``__main__`` already is that script. CPython's own ``set_forkserver_preload(["__main__"])`` is
meant to do it in the server, but 3.11 never passes the main path to the server (``ensure_running`` looks for
a ``main_path`` key that ``get_preparation_data`` calls ``init_main_from_path``), so every decode worker paid
the imports of the parent's script: 1.1 s per worker start for a script that imports lance and pyarrow
(measured). ``workers.DecodePool`` records the parent's main (``parent_main``) in ``ENV`` before the server
starts and names this module as a preload, so only the server imports it: it imports that main there, the
way CPython's forkserver would, and forked workers inherit it. If that import fails, workers import it
themselves as before and surface the error. Never import this module elsewhere.
"""

from __future__ import annotations

import os
import warnings
from multiprocessing import process, spawn

ENV = "CACHE_STORE_FORKSERVER_MAIN"  # also defined in workers.py, which must not import this module


def _import_parent_main() -> None:
    how, _, target = os.environ.get(ENV, "").partition(":")
    if not target:
        return
    process.current_process()._inheriting = True
    try:
        if how == "path":
            spawn.import_main_path(target)
        elif how == "name":
            spawn._fixup_main_from_name(target)
    except BaseException:  # noqa: BLE001, S110 - workers import it themselves and report the error
        pass
    finally:
        del process.current_process()._inheriting


_import_parent_main()
# A main script that imports lance makes lance warn in every worker forked from here; decode workers never
# touch Lance (they only decode and send frames back), so the warning is noise for them.
warnings.filterwarnings("ignore", message="lance is not fork-safe")
