"""The one generation interface every engine implements (HF transformers everywhere, vLLM on GPU).

Callers (rollouts in the trainer, the pass-rate filter, the evaluator) build ``GenerationRequest``s
from a rendered prompt and the media already decoded by the cache, so an engine never decodes,
resamples or resizes anything: what the cache holds is what the model sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cache_store.types import CachedMedia

if TYPE_CHECKING:
    from training.models.processor import EncodedPrompt


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. ``temperature == 0`` means greedy; ``n`` responses per request."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 64
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class GenerationRequest:
    """One prompt: the user text (already rendered from the prompt template) and its media.

    ``encoded``: when set, returns the same prompt as the policy's processor encodes it (ids and patches);
    the RL step passes its once-per-step encoding (``rollout.StepPrompts``) so that the update reuses it.
    An engine that encodes with that processor (``HFEngine``) calls it instead of encoding again, inside
    ``generate``, so an encoding error fails that request like any other generation error."""

    request_id: str
    prompt: str
    media: list[CachedMedia] = field(default_factory=list)
    system: str | None = None
    encoded: Callable[[], EncodedPrompt] | None = None


@dataclass
class Completion:
    """One generated response. ``token_ids`` excludes the prompt and includes EOS when it was emitted.

    ``logprobs``, when the engine reports them (vLLM), is the log-probability of each token of
    ``token_ids`` under the engine's model before any sampling setting (temperature 1, no banned tokens):
    the trainer compares them with its own log-probs of the same tokens."""

    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (EOS) or "length"
    logprobs: list[float] | None = None


@runtime_checkable
class GenerationEngine(Protocol):
    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[list[Completion]]:
        """Return, for each request in order, ``params.n`` completions."""
        ...

    def close(self) -> None: ...
