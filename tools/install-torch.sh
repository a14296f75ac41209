#!/usr/bin/env bash
# Install PyTorch into a Python environment without pulling the multi-GB CUDA wheels on a CPU machine.
#
#   bash tools/install-torch.sh PYTHON
#
# Order of preference:
#   1. a torch that PYTHON can already import (bring your own build: it is never replaced);
#   2. a CPU build of torch==$TORCH_VERSION that pip can already see in a local wheelhouse
#      (pip's find-links), installed with its dependencies;
#   3. no NVIDIA driver on this machine: the CPU wheel index of the PyTorch project ($TORCH_CPU_INDEX);
#   4. otherwise the default build from the package index (CUDA on Linux).
# Set TORCH_SPEC (e.g. "torch==2.5.1") to choose the version in steps 3 and 4.
set -euo pipefail
PY=${1:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCH_SPEC=${TORCH_SPEC:-torch}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

if "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "install-torch: keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
    exit 0
fi
if "$PY" -m pip install --dry-run --no-index --no-deps --quiet --report - "torch==$TORCH_VERSION" 2>/dev/null \
        | grep -q '"version": *"[^"]*+cpu"'; then
    echo "install-torch: local CPU build of torch $TORCH_VERSION"
    exec "$PY" -m pip install --quiet "torch==$TORCH_VERSION"
fi
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "install-torch: no NVIDIA driver found; CPU build from $TORCH_CPU_INDEX"
    exec "$PY" -m pip install --quiet "$TORCH_SPEC" --index-url "$TORCH_CPU_INDEX"
fi
echo "install-torch: NVIDIA driver found; default build"
exec "$PY" -m pip install --quiet "$TORCH_SPEC"
