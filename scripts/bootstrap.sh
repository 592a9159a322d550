#!/usr/bin/env bash
# Create .venv at the repo root and install ReelRL with its dev tools, CPU-only.
# Needs only Python 3.11 + pip. uv is used for speed (~20 s vs ~2 min with pip); uv does not read
# pip's config, so the machine's local wheel folder (where the CPU torch 2.13.0 wheel lies) is passed
# to it explicitly. Without that folder torch==2.13.0 would come from PyPI with CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade uv >/dev/null 2>&1 || true
links=$("$VENV/bin/python" -m pip config get global.find-links 2>/dev/null || true)
extras=".[dev]"
if [ "${REELRL_GPU:-0}" = "1" ]; then extras=".[dev,gpu]"; fi
if [ -x "$VENV/bin/uv" ]; then
  args=()
  for l in $links; do args+=(--find-links "$l"); done
  echo "[bootstrap] installing $extras with uv ${args[*]:-}"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" "${args[@]}" -e "$extras"
else
  echo "[bootstrap] uv unavailable, installing $extras with pip (slower)"
  "$VENV/bin/python" -m pip install -q -e "$extras"
fi
"$VENV/bin/python" -c "import torch, sys; assert torch.__version__.startswith('2.13'), torch.__version__; print('[bootstrap] torch', torch.__version__, 'cuda' if torch.version.cuda else 'cpu')"
touch "$VENV/.installed"
