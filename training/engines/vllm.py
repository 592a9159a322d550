"""Generation with vLLM on GPU, behind the same interface as ``HFEngine``.

Written against vLLM's documented offline API (``LLM.generate`` with ``{"prompt", "multi_modal_data",
"mm_processor_kwargs"}`` prompts; ``vllm.SamplingParams``) and tested only where vLLM imports and CUDA
exists (``tests/test_engine_vllm.py``, marked ``gpu``): vLLM cannot be installed on the CPU machines this
project is built on. What is checked everywhere is the translation of a ``GenerationRequest`` into a vLLM
prompt (``vllm_prompt``) and of ``SamplingParams`` into vLLM's settings (``vllm_sampling_kwargs``).

The media contract is the cache's: frames arrive sampled and resized to multiples of the model's factor, so
vLLM's HF processor is told not to resize (``do_resize=False``) and not to sample frames
(``do_sample_frames=False``); the video metadata (source fps, sampled indices) goes with the frames so
Qwen3-VL's timestamp tokens and Qwen2.5-VL's ``second_per_grid_ts`` (``fps``) match what the trainer's
processor computes. Vision tokens are banned from generation (``logit_bias``), as in ``HFEngine``.

Weights: ``sync_weights(model)`` copies the trainer's current weights into the engine's model in place
(``load_weights`` of vLLM's model class, which maps Hugging Face names); that needs vLLM's engine in this
process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), as colocated RL trainers run it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from training.engines.base import Completion, GenerationRequest, SamplingParams
from training.models.processor import QwenVLProcessor

log = logging.getLogger(__name__)

BANNED_BIAS = -100.0  # logit bias on vision tokens: never generated


def vllm_prompt(processor: QwenVLProcessor, request: GenerationRequest) -> dict:
    """The vLLM prompt dict of one request: the chat-templated text with one placeholder per media item
    (vLLM expands it), the media and the processor settings that keep them as cached."""
    text = processor.render(request.prompt, request.media, request.system)
    images = [m.frames[0] for m in request.media if m.kind == "image"]
    videos, fps = [], []
    for m in request.media:
        if m.kind != "video":
            continue
        source_fps = float(m.source_fps or m.sample_fps or 2.0)
        metadata = {
            "fps": source_fps,
            "frames_indices": [int(i) for i in m.indices],
            "total_num_frames": int(m.total_frames),
            "duration": float(m.total_frames) / source_fps,
            "video_backend": "reelrl-cache",
        }
        videos.append((np.ascontiguousarray(m.frames), metadata))
        fps.append(float(m.sample_fps or 2.0))
    data: dict = {}
    if images:
        data["image"] = images[0] if len(images) == 1 else images
    if videos:
        data["video"] = videos[0] if len(videos) == 1 else videos
    kwargs: dict = {"do_resize": False}
    if videos:
        kwargs["do_sample_frames"] = False
        if processor.family != "qwen3_vl":  # Qwen2/2.5-VL: second_per_grid_ts = temporal_patch / fps
            kwargs["fps"] = fps[0] if len(fps) == 1 else fps
    prompt = {"prompt": text}
    if data:
        prompt["multi_modal_data"] = data
        prompt["mm_processor_kwargs"] = kwargs
    return prompt


def vllm_sampling_kwargs(params: SamplingParams, processor: QwenVLProcessor) -> dict:
    """``vllm.SamplingParams(**this)`` for ``params``: greedy at temperature 0, every EOS id a stop token
    (kept in the output ids, as ``HFEngine`` keeps it), vision tokens banned."""
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
        "skip_special_tokens": True,
    }


def to_completion(output, eos_ids: Sequence[int]) -> Completion:
    """A vLLM ``CompletionOutput`` as a ``Completion``: token ids end with the EOS when generation stopped
    on one (vLLM reports the stop id in ``stop_reason`` and may leave it out of ``token_ids``)."""
    tokens = [int(t) for t in output.token_ids]
    if output.finish_reason == "stop":
        if not tokens or tokens[-1] not in eos_ids:
            stop = output.stop_reason if isinstance(output.stop_reason, int) else eos_ids[0]
            tokens.append(int(stop))
        return Completion(output.text, tokens, "stop")
    return Completion(output.text, tokens, "length")


class VLLMEngine:
    """``vllm.LLM`` over cached media. ``llm`` may be passed (an already built ``vllm.LLM``)."""

    def __init__(self, model_path, processor: QwenVLProcessor | None = None, llm=None, **llm_kwargs):
        self.processor = processor or QwenVLProcessor(model_path)
        if llm is None:
            from vllm import LLM

            options = {"limit_mm_per_prompt": {"image": 4, "video": 2}, "seed": 0} | llm_kwargs
            llm = LLM(model=str(model_path), **options)
        self.llm = llm

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[list[Completion]]:
        from vllm import SamplingParams as VSampling

        prompts = [vllm_prompt(self.processor, r) for r in requests]
        outputs = self.llm.generate(
            prompts, VSampling(**vllm_sampling_kwargs(params, self.processor)), use_tqdm=False
        )
        eos = list(self.processor.eos_token_ids)
        return [[to_completion(o, eos) for o in out.outputs] for out in outputs]

    def sync_weights(self, model) -> None:
        """Load ``model``'s current weights (a ``transformers`` Qwen-VL, LoRA merged) into the engine."""
        from training.models.lora import merged_state_for_save

        runner = self._model()
        runner.load_weights((name, t.detach()) for name, t in merged_state_for_save(model).items())
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()  # cached prefixes were computed with the old weights

    def _model(self):
        executor = self.llm.llm_engine.model_executor
        worker = executor.driver_worker
        for path in (("worker", "model_runner", "model"), ("model_runner", "model")):
            obj = worker
            try:
                for attr in path:
                    obj = getattr(obj, attr)
                return obj
            except AttributeError:
                continue
        raise RuntimeError(
            "cannot reach vLLM's model in this process to load weights: run with "
            "VLLM_ENABLE_V1_MULTIPROCESSING=0 so the engine lives in the trainer's process"
        )

    def close(self) -> None:
        self.llm = None
