"""Generation that survives a failing engine call: retry, and isolate the request that keeps failing.

An engine call covers many prompts; one bad sample (a media tensor the model rejects, a placeholder
mismatch) or a transient fault (an out-of-memory batch, a dropped server connection) makes the whole call
raise. ``generate_isolating`` splits a failed call in halves until the failing requests stand alone, retries
a lone request ``retries`` more times, and returns the completions of every request that succeeded plus a
``FailedRequest`` per request that did not. Callers record those and leave the prompt out; they never give
it a reward of 0 (``training.loop.rollout``).

Cost: a call that fails once because of one bad request of ``B`` takes about ``2·log2(B)`` extra calls plus
``retries``; a call that succeeds costs nothing extra.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from training.engines.base import Completion, GenerationEngine, GenerationRequest, SamplingParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedRequest:
    """A request whose generation still failed after isolation and retries."""

    request_id: str
    error: str  # "ExceptionType: message" of the last attempt
    attempts: int  # engine calls that included this request alone (1 + retries)


def generate_isolating(
    engine: GenerationEngine,
    requests: Sequence[GenerationRequest],
    params: SamplingParams,
    retries: int = 2,
    backoff_s: float = 0.0,
) -> tuple[list[list[Completion] | None], list[FailedRequest]]:
    """``engine.generate`` with isolation: per request, its ``params.n`` completions, or ``None`` when it
    failed (then one ``FailedRequest`` names it). ``backoff_s`` doubles between retries of one request.

    An engine answer of the wrong shape (not one list of ``n`` completions per request) is a bug in the
    engine and raises ``RuntimeError`` at once, as does ``KeyboardInterrupt``."""
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    out: list[list[Completion] | None] = [None] * len(requests)
    failed: list[FailedRequest] = []

    def call(reqs: list[GenerationRequest]) -> list[list[Completion]]:
        groups = engine.generate(reqs, params)
        if len(groups) != len(reqs) or any(len(g) != params.n for g in groups):
            shape = [len(g) for g in groups]
            raise _EngineBug(
                f"{type(engine).__name__}.generate returned {shape} completions for {len(reqs)} requests "
                f"with n={params.n}; it must return n completions per request, in order"
            )
        return groups

    def run(lo: int, hi: int) -> None:
        reqs = list(requests[lo:hi])
        try:
            out[lo:hi] = call(reqs)
            return
        except _EngineBug as bug:
            raise RuntimeError(str(bug)) from None
        except Exception as err:  # noqa: BLE001 - any engine fault: isolated, then recorded
            if hi - lo > 1:
                log.warning(
                    "generation of %d requests failed (%s); splitting to isolate", hi - lo, _name(err)
                )
                mid = (lo + hi) // 2
                run(lo, mid)
                run(mid, hi)
                return
            last = err
        for attempt in range(1, retries + 1):
            time.sleep(backoff_s * 2 ** (attempt - 1))
            try:
                out[lo] = call(reqs)[0]
                log.info("request %s succeeded on retry %d", reqs[0].request_id, attempt)
                return
            except _EngineBug as bug:
                raise RuntimeError(str(bug)) from None
            except Exception as err:  # noqa: BLE001 - any engine fault: isolated, then recorded
                last = err
        log.error("request %s failed %d times: %s", reqs[0].request_id, retries + 1, _name(last))
        failed.append(FailedRequest(reqs[0].request_id, _name(last), retries + 1))

    if requests:
        run(0, len(requests))
    return out, failed


class _EngineBug(Exception):
    pass


def _name(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
