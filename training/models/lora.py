"""LoRA adapters on a Qwen-VL policy through peft, and saving the result as a plain HF checkpoint.

Settings follow EasyR1's ``worker.actor.model.lora`` (``rank``, ``alpha``, ``target_modules`` with
``"all-linear"`` as default; veRL names them ``lora_rank``/``lora_alpha``/``target_modules``), plus
``dropout`` (0 by default, so the old and new log-probs of one update see the same function).

Targets are resolved here, not by peft's shorthand, for two reasons: the vision tower is never adapted
unless asked (peft's ``"all-linear"`` would adapt its linears too), and a name that matches nothing
fails with the list of names that would have matched. ``"all-linear"`` means every ``nn.Linear`` of the
language model except the output head (which Qwen's small checkpoints tie to the input embeddings): on
Qwen3.5 that includes the Gated DeltaNet projections (``in_proj_qkv``, ``in_proj_z``, ``in_proj_a``,
``in_proj_b``, ``out_proj``) and the shared expert, plus, on the MoE families, the routed experts.

Routed experts (Qwen3-VL-MoE, Qwen3.5-MoE) are not ``nn.Linear`` modules: each MoE block keeps all its
experts in two 3D parameters, ``experts.gate_up_proj`` and ``experts.down_proj``. They are adapted through
peft's ``target_parameters`` (one low-rank delta per 3D weight) and selected by the target name
``"experts"`` (or a parameter's full name); ``"all-linear"`` includes them. The router (``mlp.gate``, a bare
parameter too) is never adapted.

The model stays a ``peft.PeftModel``: its ``forward`` and ``generate`` take the same keyword arguments
as the transformers model (pixel values, grids, ``mm_token_type_ids``), so the HF engine and
``token_logprobs`` work unchanged. Checkpoints are written merged (``save_merged``), so evaluation and
vLLM load them like any other Qwen-VL checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from training.models.expert_layout import save_released
from training.models.vision import vision_tower

ALL_LINEAR = "all-linear"
EXPERTS = "experts"  # target name of the routed experts' 3D weights (MoE families)


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


def expert_parameters(model: torch.nn.Module) -> list[str]:
    """Full names of the routed experts' 3D weights of the language model (empty for dense families)."""
    tower = {id(m) for m in vision_tower(model).modules()}
    names = []
    for name, module in model.named_modules():
        if id(module) in tower or not type(module).__name__.endswith("Experts"):
            continue
        names += [f"{name}.{n}" for n, p in module.named_parameters(recurse=False) if p.dim() == 3]
    return sorted(names)


def _is_expert_target(target: str, experts: list[str]) -> bool:
    return bool(experts) and (
        target == EXPERTS or any(n == target or n.endswith("." + target) for n in experts if "." in target)
    )


def resolve_expert_targets(model: torch.nn.Module, spec: LoraSpec) -> list[str]:
    """Full names of the routed-expert parameters ``spec`` selects (``"all-linear"`` and ``"experts"``: all
    of them; ``"experts.down_proj"`` or a full name: those)."""
    experts = expert_parameters(model)
    if spec.target_modules == ALL_LINEAR:
        return experts
    chosen = set()
    for target in spec.target_modules:
        if target == EXPERTS:
            chosen |= set(experts)
        elif "." in target:
            chosen |= {n for n in experts if n == target or n.endswith("." + target)}
    return sorted(chosen)


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
    experts = expert_parameters(model)
    for target in spec.target_modules:
        hits = {n for n in allowed if n == target or n.rsplit(".", 1)[-1] == target}
        if not hits and not _is_expert_target(target, experts):
            unknown.append(target)
        chosen |= hits
    if unknown:
        short = sorted({n.rsplit(".", 1)[-1] for n in allowed}) + ([EXPERTS] if experts else [])
        hint = [t for t in unknown if t in vision_only]
        expert_hint = [t for t in unknown if any(n.endswith("." + t) for n in experts)]
        raise ValueError(
            f"LoRA target_modules {unknown} match no linear layer of {type(model).__name__}; "
            f"available: {short}"
            + (f"; {hint} exist only in the vision tower (set include_vision=True)" if hint else "")
            + (
                f"; {expert_hint} are routed-expert weights (3D parameters, not nn.Linear): select them "
                f"with '{EXPERTS}'"
                if expert_hint
                else ""
            )
        )
    return sorted(chosen)


def apply_lora(model: torch.nn.Module, spec: LoraSpec):
    """Wrap ``model`` with LoRA adapters on the targets of ``spec``; every other parameter is frozen.

    Returns the ``peft.PeftModel``. The adapters start as the identity (B = 0), so outputs are unchanged
    until the first update.
    """
    from peft import LoraConfig, get_peft_model

    experts = resolve_expert_targets(model, spec)
    config = LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=resolve_targets(model, spec),
        target_parameters=experts or None,
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
        from training.parallel.fsdp import full_state

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
        # a routed-expert wrapper (peft ParamWrapper) adapts one 3D parameter of the experts module; wrappers
        # of the same module nest (experts.base_layer...), so the parameter's name drops those parts
        param = getattr(module, "parameter_name", None) or "weight"
        weight = getattr(module.get_base_layer(), param)
        merged = weight.float()
        for adapter in module.active_adapters:
            if adapter not in module.merged_adapters:
                merged = merged + module.get_delta_weight(adapter).float()
        owner = ".".join(p for p in name.split(".") if p != "base_layer")
        state[f"{owner}.{param}"] = merged.to(weight.dtype)
    return state


def save_merged(model, processor, out_dir: str | Path, weights: dict | None = None) -> Path:
    """Write a plain Hugging Face checkpoint (LoRA merged, if any) with the tokenizer and processor
    configs, loadable by ``AutoModelForImageTextToText.from_pretrained`` and ``QwenVLProcessor``.
    ``weights``: the whole state dict, when the caller already gathered it (a sharded model on rank 0)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = model.get_base_model() if is_lora(model) else model
    state = weights if weights is not None else merged_state_for_save(model)
    if is_lora(model) and any(getattr(m, "parameter_name", None) for m in base.modules()):
        # peft's wrappers of the routed experts hide their 3D weights from transformers' save-time weight
        # conversion (Qwen3-VL-MoE transposes them back to the hub layout and looks them up by name): save
        # through a plain model of the same class, built on the meta device (no memory), as the writer
        plain_generation = base.generation_config
        with torch.device("meta"):
            base = type(base)(base.config)
        base.generation_config = plain_generation
    save_released(base, out, state)  # routed experts as the released checkpoints store them (vLLM reads it)
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
