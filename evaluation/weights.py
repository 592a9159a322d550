"""A checkpoint folder's weight files: which ones transformers would load, whether each is whole (from
safetensors headers and sizes, never the tensors), and whether every tensor is finite (a NaN/inf census read
one tensor at a time, so memory stays small). ``evaluation.checkpoint_discovery`` decides completeness with these.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_FILE = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit on the JSON header
# bytes per element of each safetensors dtype (those not listed skip the per-tensor size check)
_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}


def safetensors_problem(file: Path) -> str | None:
    """Why ``file`` is not a whole safetensors file (reads its header only), or None when it is."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"{file.name}: truncated ({size} bytes, too short for a safetensors header)"
            (header_len,) = struct.unpack("<Q", head)
            if header_len > _MAX_HEADER:
                return f"{file.name}: corrupt safetensors header (header length {header_len} is implausible)"
            if 8 + header_len > size:
                return (
                    f"{file.name}: truncated ({size} bytes, smaller than its {header_len}-byte header "
                    "says it must be)"
                )
            raw = fh.read(header_len)
    except OSError as e:
        return f"{file.name}: unreadable ({e})"
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return f"{file.name}: corrupt safetensors header (not JSON: {e})"
    if not isinstance(header, dict):
        return f"{file.name}: corrupt safetensors header (not a JSON object)"
    data_end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            begin, end = (int(x) for x in entry["data_offsets"])
            shape = [int(x) for x in entry["shape"]]
            dtype = str(entry["dtype"])
        except (KeyError, TypeError, ValueError):
            return f"{file.name}: corrupt safetensors header (bad entry for tensor {key!r})"
        numel = 1
        for dim in shape:
            numel *= dim
        if begin < 0 or end < begin or (dtype in _DTYPE_BYTES and end - begin != numel * _DTYPE_BYTES[dtype]):
            return f"{file.name}: corrupt safetensors header (offsets of tensor {key!r} do not fit its shape)"
        data_end = max(data_end, end)
    expected = 8 + header_len + data_end
    if size < expected:
        return f"{file.name}: truncated ({size} bytes, its header says {expected}); half-written or corrupt"
    if size > expected:
        return f"{file.name}: corrupt ({size} bytes, its header says {expected})"
    return None


def bin_problem(file: Path) -> str | None:
    """Why ``file`` is not a whole ``torch.save`` file, judged from its end (zip) or first byte (pickle)."""
    try:
        if zipfile.is_zipfile(file):
            return None
        with open(file, "rb") as fh:
            first = fh.read(1)
    except OSError as e:
        return f"{file.name}: unreadable ({e})"
    if first == b"\x80":  # a legacy (pre-zip) pickle: cannot be checked without loading it
        return None
    return f"{file.name}: truncated or corrupt (not a torch.save zip archive)"


def _index_shards(folder: Path, index_name: str) -> list[Path] | str:
    try:
        index = json.loads((folder / index_name).read_text(encoding="utf-8"))
        shards = sorted(set(index["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return f"{index_name}: unreadable or not a weight index ({type(e).__name__}: {e})"
    if not shards:
        return f"{index_name}: names no shards"
    missing = [s for s in shards if not (folder / s).is_file()]
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        return f"{index_name} names missing shard(s): {', '.join(missing[:5])}{more}"
    return [folder / s for s in shards]


def weight_files(folder: Path) -> tuple[list[Path], str] | str:
    """The weight files transformers would load from ``folder`` and their kind (``safetensors`` or
    ``bin``), in its order of preference, or why there are none."""
    if (folder / SAFETENSORS_FILE).is_file():
        return [folder / SAFETENSORS_FILE], "safetensors"
    if (folder / SAFETENSORS_INDEX).is_file():
        shards = _index_shards(folder, SAFETENSORS_INDEX)
        return shards if isinstance(shards, str) else (shards, "safetensors")
    if (folder / BIN_FILE).is_file():
        return [folder / BIN_FILE], "bin"
    if (folder / BIN_INDEX).is_file():
        shards = _index_shards(folder, BIN_INDEX)
        return shards if isinstance(shards, str) else (shards, "bin")
    loose = sorted(p.name for p in folder.glob("*.safetensors"))
    if loose:
        return (
            f"no weights: {SAFETENSORS_FILE} or {SAFETENSORS_INDEX} missing "
            f"(found only {', '.join(loose[:3])}{', ...' if len(loose) > 3 else ''})"
        )
    return f"no weights: none of {SAFETENSORS_FILE}, {SAFETENSORS_INDEX}, {BIN_FILE}, {BIN_INDEX}"


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
