"""Are a checkpoint's weights finite? A NaN/inf census read one tensor at a time (memory stays small).

The weight files are the ones ``evaluation.checkpoints`` validated (what transformers would load).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from evaluation.checkpoints import weight_files

_CHUNK = 1 << 24  # elements per NaN/inf count, so a huge tensor never needs a second full-size buffer


def _count_non_finite(tensor) -> tuple[int, int]:
    """(NaN count, inf count) of a tensor; integer and bool tensors are finite."""
    import torch

    native = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
    if not (tensor.is_floating_point() or tensor.is_complex()):
        return 0, 0
    flat = tensor.reshape(-1)
    nan = inf = 0
    for start in range(0, flat.numel(), _CHUNK):
        chunk = flat[start : start + _CHUNK]
        if chunk.dtype not in native and not chunk.is_complex():
            chunk = chunk.float()  # float8 and other exotic floats
        nan += int(torch.isnan(chunk).sum())
        inf += int(torch.isinf(chunk).sum())
    return nan, inf


def weights_report(path: str | Path) -> dict:
    """NaN/inf census of a checkpoint's weights, read one tensor at a time (memory stays small).

    ``{"tensors": n, "parameters": total numel, "non_finite": [first 20 tensor names with NaN or inf],
    "nan": NaN values, "inf": inf values, "finite": bool, "files": [weight file names]}``. Reads the
    safetensors files transformers would load (``model.safetensors`` or the index's shards); a
    ``pytorch_model.bin`` checkpoint is memory-mapped instead. Raises ``ValueError`` when there are no
    weights.
    """
    import torch

    folder = Path(path).expanduser().absolute()
    weights = weight_files(folder)
    if isinstance(weights, str):
        raise ValueError(f"{folder}: {weights}")  # noqa: TRY004 (a missing file, not a wrong type)
    files, kind = weights
    report = {"tensors": 0, "parameters": 0, "non_finite": [], "nan": 0, "inf": 0, "finite": True}
    names_bad: list[str] = []

    def add(name: str, tensor) -> None:
        nan, inf = _count_non_finite(tensor)
        report["tensors"] += 1
        report["parameters"] += tensor.numel()
        report["nan"] += nan
        report["inf"] += inf
        if nan or inf:
            names_bad.append(name)

    for file in files:
        if kind == "safetensors":
            from safetensors import safe_open

            with safe_open(str(file), framework="pt") as fh:
                names = fh.keys()  # a safe_open handle is not iterable
                for key in names:
                    add(key, fh.get_tensor(key))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(file))
            for key, tensor in state.items():
                if isinstance(tensor, torch.Tensor):
                    add(key, tensor)
            del state
    report["non_finite"] = names_bad[:20]
    report["finite"] = not names_bad
    report["files"] = [f.name for f in files]
    return report
