"""Generation with plain ``transformers`` (CPU and GPU): the engine that runs everywhere.

Visual tokens are suppressed during decoding: a generated ``<|video_pad|>`` would have no visual
feature behind it and the re-scoring forward pass would fail the placeholder check.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from training.engines.base import Completion, GenerationRequest, SamplingParams
from training.models.policy import collate_prompts, load_policy

log = logging.getLogger(__name__)


class HFEngine:
    """Batched ``model.generate`` over cached media; ``model`` may be shared with a trainer."""

    def __init__(self, model, processor, batch_size: int = 8):
        self.model = model
        self.processor = processor
        self.batch_size = batch_size

    @property
    def settings(self) -> dict:
        """What of this engine moves scores (an evaluation's manifest records it)."""
        return {"name": "hf", "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch.")}

    def sync_weights(self, policy) -> None:
        """Load ``policy``'s weights into the engine's own copy (under FSDP2: gathered from every rank's
        shards, a collective); nothing to do when the engine generates with the policy itself."""
        if policy is self.model:
            return
        from training.parallel.fsdp import full_state

        self.model.load_state_dict(full_state(policy), strict=True)

    @classmethod
    def from_pretrained(cls, path, batch_size: int = 8, device: str = "cpu") -> HFEngine:
        model, processor = load_policy(path, device=device)
        model.eval()
        return cls(model, processor, batch_size=batch_size)

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for start in range(0, len(requests), self.batch_size):
            out.extend(self._generate_batch(list(requests[start : start + self.batch_size]), params))
        return out

    @torch.no_grad()
    def _generate_batch(
        self, requests: list[GenerationRequest], params: SamplingParams
    ) -> list[list[Completion]]:
        proc = self.processor
        prompts = [
            r.encoded()
            if r.encoded is not None
            else proc.encode(r.prompt, r.media, r.system, sample_id=r.request_id)
            for r in requests
        ]
        device = next(self.model.parameters()).device
        batch = collate_prompts(prompts, proc.tokenizer.pad_token_id, device, proc.family)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        greedy = params.temperature == 0
        was_training = self.model.training
        self.model.eval()
        try:
            seqs = self.model.generate(
                **batch,
                do_sample=not greedy,
                temperature=None if greedy else params.temperature,
                top_p=None if greedy else params.top_p,
                top_k=None if greedy or params.top_k <= 0 else params.top_k,
                max_new_tokens=params.max_new_tokens,
                num_return_sequences=params.n,
                eos_token_id=proc.eos_token_ids,
                pad_token_id=proc.tokenizer.pad_token_id,
                suppress_tokens=[
                    proc.vision_start_id,
                    proc.vision_end_id,
                    proc.image_token_id,
                    proc.video_token_id,
                ],
            )
        finally:
            self.model.train(was_training)
        new = seqs[:, batch["input_ids"].shape[1] :].tolist()
        results: list[list[Completion]] = []
        for i in range(len(requests)):
            group = []
            for row in new[i * params.n : (i + 1) * params.n]:
                tokens, finish = _trim(row, proc.eos_token_ids, proc.tokenizer.pad_token_id)
                group.append(Completion(text=proc.decode(tokens), token_ids=tokens, finish_reason=finish))
            results.append(group)
        return results

    def close(self) -> None:
        self.model = None


def _trim(row: list[int], eos_ids: list[int], pad_id: int) -> tuple[list[int], str]:
    """Cut a generated row after its first EOS (kept, so the policy learns to stop) or at padding."""
    for j, tok in enumerate(row):
        if tok in eos_ids:
            return row[: j + 1], "stop"
    while row and row[-1] == pad_id:
        row = row[:-1]
    return row, "length"
