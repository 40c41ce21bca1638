#!/usr/bin/env bash
# The CUDA checks (tests/gpu: moves and casts, a CUDA run equal to the CPU's within the dtype's
# tolerance, out-of-memory moves and runs the session survives, a memory snapshot page), plus the
# CPU tests of the same features, on a machine with a CUDA device. Under five minutes.
#
#   bench/gpu_check.sh            # uses .venv/bin/python (which needs a CUDA build of torch)
#   PYTHON=/path/to/python bench/gpu_check.sh
#
# It stops at once when torch sees no CUDA device: elsewhere the GPU tests only skip.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" - <<'PY'
import sys
import torch

if not torch.cuda.is_available():
    sys.exit(f"no CUDA device: torch {torch.__version__} (CUDA build: {torch.version.cuda})")
for i in range(torch.cuda.device_count()):
    free, total = torch.cuda.mem_get_info(i)
    print(f"cuda:{i} {torch.cuda.get_device_name(i)}: {free / 2**30:.1f} of {total / 2**30:.1f} GiB free")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}")
PY
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
start=$(date +%s)
timeout 300 "$PYTHON" -m pytest -p no:cacheprovider -q -rs \
    tests/gpu tests/kernel/test_placement.py tests/kernel/test_placement_failures.py \
    tests/kernel/test_placement_ops.py tests/kernel/test_memory_html.py
echo "gpu checks: $(( $(date +%s) - start )) s"
