"""Qwen2/2.5/3-VL, Qwen3-VL-MoE and Qwen3.5 (dense, MoE) model inputs from cached frames: chat template,
placeholder expansion, patchify.

Why not ``AutoProcessor``: transformers' Qwen video processors need torchvision, which has no CPU build
here, and they would resample/resize frames that the cache already sampled and resized with the exact
qwen-vl-utils rules. This module does what the official processors of the pinned transformers (5.19) do
with resizing and frame sampling turned off (``do_resize=False, do_sample_frames=False``), so
``video_grid_thw`` is the same in rollout, log-prob, update and evaluation, and so a vLLM engine (which
runs the official processor) sees the same prompt ids and pixels; ``tests/test_processor_parity.py``
checks it against the official classes:

- rescale by ``rescale_factor`` (1/255) and normalise with the checkpoint's ``image_mean``/``image_std``;
- pad T to a multiple of ``temporal_patch_size`` by repeating the last frame (an image is one frame);
- patchify to ``(grid_t·grid_h·grid_w, C·tp·p·p)`` in the processors' (t, h/m, w/m, m, m) order;
- replace each ``<|image_pad|>``/``<|video_pad|>`` of the template's
  ``<|vision_start|>…<|vision_end|>`` with ``grid_t·grid_h·grid_w / merge²`` tokens; Qwen3-VL (and the
  families that share its processor: Qwen3-VL-MoE, Qwen3.5, Qwen3.5-MoE, see ``QWEN3_LAYOUT``) replaces a
  video's pad with one ``<{t:.1f} seconds><|vision_start|>…<|vision_end|>`` group per temporal patch,
  inside the template's outer markers, with timestamps from the sampled source indices;
- Qwen2.5-VL also gets ``second_per_grid_ts = temporal_patch_size / sampled_fps``, where the sampled fps
  comes from the video metadata (``len(indices) / total_frames · source_fps``), as the official processor
  computes it.

Settings come from the checkpoint's ``preprocessor_config.json`` / ``video_preprocessor_config.json``,
the files a real Qwen checkpoint ships.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cache_store.sampling import sample_fps
from cache_store.types import CachedMedia

FAMILIES = {
    name: name for name in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")
}
# Families whose official processor is transformers' ``Qwen3VLProcessor`` (its auto mapping for all four):
# per-frame "<t seconds>" groups, timestamps from the sampled indices, patch 16.
QWEN3_LAYOUT = ("qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
# Checkpoint files the processor reads besides the tokenizer's own (copied by ``save_pretrained``).
PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "chat_template.jinja")


class PlaceholderMismatchError(ValueError):
    """The prompt's visual placeholder tokens do not match the visual features of its media."""


@dataclass(frozen=True)
class VisionSettings:
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    rescale_factor: float = 1 / 255

    @property
    def factor(self) -> int:
        """Frame sides must be multiples of this (28 for Qwen2/2.5-VL, 32 for Qwen3-VL)."""
        return self.patch_size * self.merge_size

    @classmethod
    def from_json(cls, path: Path) -> VisionSettings:
        cfg = json.loads(path.read_text())
        return cls(
            patch_size=int(cfg["patch_size"]),
            temporal_patch_size=int(cfg.get("temporal_patch_size", 2)),
            merge_size=int(cfg.get("merge_size", 2)),
            image_mean=tuple(float(x) for x in cfg["image_mean"]),
            image_std=tuple(float(x) for x in cfg["image_std"]),
            rescale_factor=float(cfg.get("rescale_factor", 1 / 255)),
        )


@dataclass
class EncodedPrompt:
    """One prompt ready for the model. Tensors are per-sample; ``collate`` batches them."""

    input_ids: list[int]
    mm_token_type_ids: list[int]
    pixel_values: torch.Tensor | None = None  # images: (N_img_patches, patch_dim)
    image_grid_thw: list[list[int]] = field(default_factory=list)
    pixel_values_videos: torch.Tensor | None = None  # videos: (N_vid_patches, patch_dim)
    video_grid_thw: list[list[int]] = field(default_factory=list)
    second_per_grid_ts: list[float] = field(default_factory=list)


def _as_uint8_tensor(frames: np.ndarray) -> torch.Tensor:
    """A tensor over ``frames`` without a copy. Cache reads give read-only views; they are only read here
    (``.float()`` makes the first new tensor), so torch's warning about non-writable arrays is silenced."""
    frames = np.ascontiguousarray(frames)
    if frames.flags.writeable:
        return torch.from_numpy(frames)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(frames)


def patchify(frames: np.ndarray, s: VisionSettings) -> tuple[torch.Tensor, list[int]]:
    """uint8 frames (T, H, W, 3) -> (flattened patches (t·h·w, 3·tp·p·p) float32, [grid_t, grid_h, grid_w])."""
    t, h, w, c = frames.shape
    if h % s.factor or w % s.factor:
        raise ValueError(
            f"frame size {h}x{w} is not a multiple of {s.factor} (patch {s.patch_size} x merge {s.merge_size}); "
            "the cache was built for another model family: rebuild it with this model's factor"
        )
    # Rescale and normalise fused, in the official processors' float32 operations and order (mean and std
    # scaled up by 1/rescale_factor, then subtract and divide), so the pixels are bit-identical to theirs.
    x = _as_uint8_tensor(frames).permute(0, 3, 1, 2).float()
    mean = (torch.tensor(s.image_mean) * (1.0 / s.rescale_factor)).view(1, 3, 1, 1)
    std = (torch.tensor(s.image_std) * (1.0 / s.rescale_factor)).view(1, 3, 1, 1)
    x = (x - mean) / std
    if pad := -t % s.temporal_patch_size:
        x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)], dim=0)
    tp, p, m = s.temporal_patch_size, s.patch_size, s.merge_size
    gt, gh, gw = x.shape[0] // tp, h // p, w // p
    x = x.view(gt, tp, c, gh // m, m, p, gw // m, m, p)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gt * gh * gw, c * tp * p * p).contiguous(), [gt, gh, gw]


UNKNOWN_FPS = 24.0  # what transformers' VideoMetadata and Qwen3VLProcessor assume when the source fps is unknown


@dataclass(frozen=True)
class VideoMetadata:
    """What the official processors are told about a cached video (transformers' ``VideoMetadata`` fields):
    the source fps (None when unknown), the sampled source frame indices and the source frame count. The
    same values go to this module's processor and to vLLM, so timestamps and ``second_per_grid_ts`` agree."""

    fps: float | None
    frames_indices: list[int]
    total_num_frames: int

    @classmethod
    def of(cls, media: CachedMedia) -> VideoMetadata:
        fps = float(media.source_fps) if media.source_fps and media.source_fps > 0 else None
        return cls(fps, [int(i) for i in media.indices], int(media.total_frames))

    @property
    def sampled_fps(self) -> float:
        """``len(indices) / total · fps``, as ``transformers.video_utils.VideoMetadata.sampled_fps`` (and the
        cache's ``sample_fps``)."""
        if self.fps is None:
            return UNKNOWN_FPS
        return sample_fps(len(self.frames_indices), self.total_num_frames, self.fps)

    def as_dict(self) -> dict:
        """The metadata dict vLLM's multimodal parser turns into transformers' ``VideoMetadata``."""
        out = {
            "fps": self.fps,
            "frames_indices": self.frames_indices,
            "total_num_frames": self.total_num_frames,
            "video_backend": "reelrl-cache",
        }
        if self.fps is not None:
            out["duration"] = self.total_num_frames / self.fps
        return out


def qwen3_timestamps(indices: list[int], source_fps: float | None, temporal_patch_size: int) -> list[float]:
    """Mean time of each temporal group of sampled frames, as ``Qwen3VLProcessor._calculate_timestamps``."""
    idx = list(indices)
    if pad := -len(idx) % temporal_patch_size:
        idx += [idx[-1]] * pad
    fps = source_fps or UNKNOWN_FPS  # the processor's own fallback when fps is unknown
    ts = [i / fps for i in idx]
    return [(ts[i] + ts[i + temporal_patch_size - 1]) / 2 for i in range(0, len(ts), temporal_patch_size)]


class QwenVLProcessor:
    """Tokenizer + vision settings of one checkpoint directory (loaded the way a real checkpoint is)."""

    def __init__(self, path: str | Path):
        from transformers import AutoTokenizer

        self.path = Path(path)
        config = json.loads((self.path / "config.json").read_text())
        self.family = FAMILIES.get(config.get("model_type", ""))
        if self.family is None:
            raise ValueError(
                f"{self.path}/config.json has model_type={config.get('model_type')!r}; "
                f"supported: {sorted(FAMILIES)}"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.image = VisionSettings.from_json(self.path / "preprocessor_config.json")
        video_cfg = self.path / "video_preprocessor_config.json"
        self.video = VisionSettings.from_json(video_cfg) if video_cfg.exists() else self.image
        ids = self.tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
        self.vision_start_id, self.vision_end_id, self.image_token_id, self.video_token_id = ids
        self.eos_token_ids = self._eos_ids(config)

    @property
    def eos_id(self) -> int:
        """The EOS that ends a response: the tokenizer's, else the first of ``eos_token_ids``."""
        eos = self.tokenizer.eos_token_id
        return eos if eos is not None else self.eos_token_ids[0]

    def _eos_ids(self, config: dict) -> list[int]:
        gen = self.path / "generation_config.json"
        eos = json.loads(gen.read_text()).get("eos_token_id") if gen.exists() else None
        eos = eos if eos is not None else config.get("eos_token_id", self.tokenizer.eos_token_id)
        return sorted({*([eos] if isinstance(eos, int) else eos), self.tokenizer.eos_token_id})

    def render(self, prompt: str, media: list[CachedMedia], system: str | None = None) -> str:
        content = [{"type": m.kind} for m in media] + [{"type": "text", "text": prompt}]
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": content}
        ]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _video_replacement(self, grid: list[int], meta: VideoMetadata) -> str:
        """What replaces a video's one ``<|video_pad|>`` (the template's outer markers stay around it)."""
        per_group = grid[1] * grid[2] // self.video.merge_size**2
        if self.family not in QWEN3_LAYOUT:
            return "<|video_pad|>" * (grid[0] * per_group)
        times = qwen3_timestamps(meta.frames_indices, meta.fps, self.video.temporal_patch_size)
        frame = "<|vision_start|>" + "<|video_pad|>" * per_group + "<|vision_end|>"
        return "".join(f"<{t:.1f} seconds>" + frame for t in times[: grid[0]])

    def encode(
        self, prompt: str, media: list[CachedMedia], system: str | None = None, sample_id: str = "?"
    ) -> EncodedPrompt:
        for token in VISION_TOKENS:
            if token in prompt:
                raise ValueError(f"sample {sample_id}: prompt text contains the reserved token {token}")
        text = self.render(prompt, media, system)
        out = EncodedPrompt(input_ids=[], mm_token_type_ids=[])
        images, videos, pieces = [], [], []
        rest = text
        for m in media:
            pad = "<|image_pad|>" if m.kind == "image" else "<|video_pad|>"
            wrapped = f"<|vision_start|>{pad}<|vision_end|>"
            before, sep, rest = rest.partition(wrapped)
            if not sep:
                raise PlaceholderMismatchError(f"sample {sample_id}: chat template did not emit {wrapped}")
            settings = self.image if m.kind == "image" else self.video
            patches, grid = patchify(m.frames, settings)
            if m.kind == "image":
                images.append(patches)
                out.image_grid_thw.append(grid)
                repl = "<|vision_start|>" + pad * (grid[0] * grid[1] * grid[2] // settings.merge_size**2)
                repl += "<|vision_end|>"
            else:
                meta = VideoMetadata.of(m)
                videos.append(patches)
                out.video_grid_thw.append(grid)
                out.second_per_grid_ts.append(settings.temporal_patch_size / meta.sampled_fps)
                repl = f"<|vision_start|>{self._video_replacement(grid, meta)}<|vision_end|>"
            pieces += [before, repl]
        pieces.append(rest)
        out.input_ids = self.tokenizer("".join(pieces), add_special_tokens=False)["input_ids"]
        ids = np.asarray(out.input_ids)
        types = np.zeros_like(ids)
        types[ids == self.image_token_id] = 1
        types[ids == self.video_token_id] = 2
        out.mm_token_type_ids = types.tolist()
        if images:
            out.pixel_values = torch.cat(images)
        if videos:
            out.pixel_values_videos = torch.cat(videos)
        self._check_placeholders(out, sample_id)
        return out

    def _check_placeholders(self, enc: EncodedPrompt, sample_id: str) -> None:
        """Strict: placeholder tokens must equal merged visual features, never truncated or padded."""
        for kind, tok, grids, merge in (
            ("image", self.image_token_id, enc.image_grid_thw, self.image.merge_size),
            ("video", self.video_token_id, enc.video_grid_thw, self.video.merge_size),
        ):
            n_tokens = sum(1 for i in enc.input_ids if i == tok)
            n_features = sum(t * h * w for t, h, w in grids) // merge**2
            if n_tokens != n_features:
                raise PlaceholderMismatchError(
                    f"sample {sample_id}: {kind} features and {kind} tokens do not match: "
                    f"tokens {n_tokens}, features {n_features}"
                )

    def save_pretrained(self, out_dir: str | Path) -> None:
        """Write what ``__init__`` reads: the tokenizer (with its chat template) and the image/video
        preprocessor configs, so ``QwenVLProcessor(out_dir)`` loads the same processor."""
        out = Path(out_dir)
        self.tokenizer.save_pretrained(out)
        for name in PROCESSOR_FILES:
            src = self.path / name
            if src.exists() and not (out / name).exists():
                shutil.copy2(src, out / name)

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)
