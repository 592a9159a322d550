"""LoRA adapters on a Qwen-VL policy through peft, and saving the result as a plain HF checkpoint.

Settings follow EasyR1's ``worker.actor.model.lora`` (``rank``, ``alpha``, ``target_modules`` with
``"all-linear"`` as default; veRL names them ``lora_rank``/``lora_alpha``/``target_modules``), plus
``dropout`` (0 by default, so the old and new log-probs of one update see the same function).

Targets are resolved here, not by peft's shorthand, for two reasons: the vision tower is never adapted
unless asked (peft's ``"all-linear"`` would adapt its linears too), and a name that matches nothing
fails with the list of names that would have matched. ``"all-linear"`` means every ``nn.Linear`` of the
language model except the output head (which Qwen's small checkpoints tie to the input embeddings).

The model stays a ``peft.PeftModel``: its ``forward`` and ``generate`` take the same keyword arguments
as the transformers model (pixel values, grids, ``mm_token_type_ids``), so the HF engine and
``token_logprobs`` work unchanged. Checkpoints are written merged (``save_merged``), so evaluation and
vLLM load them like any other Qwen-VL checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from training.models.policy import vision_tower

ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class LoraSpec:
    """What to adapt and how. ``target_modules``: ``"all-linear"``, a comma-separated string or a sequence
    of short names (``"q_proj,v_proj"``) or full module names; ``include_vision`` extends the targets to
    the vision tower's linears (off by default: LoRA trains the language model only)."""

    rank: int
    alpha: float = 16
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = ALL_LINEAR
    include_vision: bool = False

    def __post_init__(self):
        if self.rank <= 0:
            raise ValueError(f"LoRA rank must be positive, got {self.rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        targets = self.target_modules
        if isinstance(targets, str):
            targets = targets.strip()
            if targets != ALL_LINEAR:
                targets = tuple(t.strip() for t in targets.split(",") if t.strip())
        else:
            targets = tuple(t.strip() for t in targets if t.strip())
        if not targets:
            raise ValueError("LoRA target_modules is empty")
        object.__setattr__(self, "target_modules", targets)


def resolve_targets(model: torch.nn.Module, spec: LoraSpec) -> list[str]:
    """Full names of the ``nn.Linear`` modules ``spec`` selects in ``model`` (a transformers model).

    Raises ``ValueError`` naming every requested target that matches no allowed linear layer, with the
    short names that exist (and a hint when a name exists only in the vision tower).
    """
    tower = {id(m) for m in vision_tower(model).modules()}
    head = model.get_output_embeddings()
    allowed, vision_only = {}, set()
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module is head:
            continue
        if id(module) in tower and not spec.include_vision:
            vision_only.add(name.rsplit(".", 1)[-1])
            continue
        allowed[name] = module
    if spec.target_modules == ALL_LINEAR:
        return sorted(allowed)
    chosen, unknown = set(), []
    for target in spec.target_modules:
        hits = {n for n in allowed if n == target or n.rsplit(".", 1)[-1] == target}
        if not hits:
            unknown.append(target)
        chosen |= hits
    if unknown:
        short = sorted({n.rsplit(".", 1)[-1] for n in allowed})
        hint = [t for t in unknown if t in vision_only]
        raise ValueError(
            f"LoRA target_modules {unknown} match no linear layer of {type(model).__name__}; "
            f"available: {short}"
            + (f"; {hint} exist only in the vision tower (set include_vision=True)" if hint else "")
        )
    return sorted(chosen)


def apply_lora(model: torch.nn.Module, spec: LoraSpec):
    """Wrap ``model`` with LoRA adapters on the targets of ``spec``; every other parameter is frozen.

    Returns the ``peft.PeftModel``. The adapters start as the identity (B = 0), so outputs are unchanged
    until the first update.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=resolve_targets(model, spec),
    )
    return get_peft_model(model, config)


def is_lora(model) -> bool:
    """True for a peft-wrapped model (what ``apply_lora`` returns)."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


@torch.no_grad()
def merged_state_for_save(model) -> dict[str, torch.Tensor]:
    """The state dict of the plain transformers model that computes what ``model`` computes.

    For a peft model: base weights plus each active adapter's delta (``B @ A · alpha/r``), added in
    float32 and cast back to the weight's dtype, under the original parameter names; adapter tensors are
    left out. The training model is not modified (no merge/unmerge round trip, so no drift). A plain model
    returns its own state dict.
    """
    from peft.tuners.lora import LoraLayer

    if not is_lora(model):
        from training.sharding import full_state

        return full_state(model)  # FSDP2: gathered from every rank's shards (a collective)
    base = model.get_base_model()
    state = {}
    for key, value in base.state_dict().items():
        parts = key.split(".")
        if any(p.startswith("lora_") for p in parts):
            continue
        state[".".join(p for p in parts if p != "base_layer")] = value
    for name, module in base.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        weight = module.get_base_layer().weight
        merged = weight.float()
        for adapter in module.active_adapters:
            if adapter not in module.merged_adapters:
                merged = merged + module.get_delta_weight(adapter).float()
        state[f"{name}.weight"] = merged.to(weight.dtype)
    return state


def save_merged(model, processor, out_dir: str | Path, weights: dict | None = None) -> Path:
    """Write a plain Hugging Face checkpoint (LoRA merged, if any) with the tokenizer and processor
    configs, loadable by ``AutoModelForImageTextToText.from_pretrained`` and ``QwenVLProcessor``.
    ``weights``: the whole state dict, when the caller already gathered it (a sharded model on rank 0)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = model.get_base_model() if is_lora(model) else model
    base.save_pretrained(out, state_dict=weights if weights is not None else merged_state_for_save(model))
    processor.save_pretrained(out)
    return out


def adapter_state(model) -> dict[str, torch.Tensor]:
    """The adapters of a peft model as CPU tensors (``get_peft_model_state_dict``: adapter name dropped)."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu() for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_state(model, adapter: dict[str, torch.Tensor]) -> None:
    """Put ``adapter_state``'s tensors back into a peft model built with the same LoRA settings; a
    ``ValueError`` says what does not fit (another rank or other target modules)."""
    from peft import set_peft_model_state_dict

    hint = "do not fit the model being resumed (different lora_rank or lora_target_modules?)"
    try:
        result = set_peft_model_state_dict(model, adapter)
    except RuntimeError as exc:  # shape mismatch
        raise ValueError(f"{hint}: {str(exc)[:300]}") from None
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    names = [n.replace(".default.", ".").replace(".default", "") for n, _ in model.named_parameters()]
    missing = [n for n in names if "lora_" in n and n not in adapter]
    if unexpected or missing:
        raise ValueError(f"{hint}: unexpected {unexpected[:3]}, missing {missing[:3]}")
