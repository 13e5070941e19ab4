#!/usr/bin/env bash
# Every CUDA check of the training engine in one go (run where a CUDA GPU is present):
#   1. the same group trained twice gives the same generator sha256 for every model;
#   2. group-composition and position independence: seed 0 alone, and inside other groups at other
#      positions (reported; on CUDA batched kernels may round with the group's size, which is why
#      `qgan replay` re-trains the whole recorded group for CUDA runs);
#   3. the throughput benchmark on CUDA (M = 1, 64, 256), last line `ratio <x>`.
# Usage: bash benchmarks/cuda_check.sh   (from the repository root, after `make setup`)
set -euo pipefail
PY=${PY:-.venv/bin/python}
export MLFLOW_DISABLE_TELEMETRY=true DVC_NO_ANALYTICS=1
"$PY" - <<'PY'
from qgan.core.numerics import pin_cpu_numerics
pin_cpu_numerics()
import sys
import numpy as np
import torch
from qgan.core.runtime import make_deterministic, select_device
from qgan.gan.data import Split
from qgan.gan.models import state_dict_sha256
from qgan.gan.training import train_group
from qgan.noise.streams import TorchNoise
from qgan.params import TrainConfig

if not torch.cuda.is_available():
    sys.exit("cuda_check: no CUDA device here; nothing to check")
device = select_device("cuda")
make_deterministic(2)
print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
rng = np.random.default_rng(0)
train = Split(rng.integers(0, 256, (4000, 28, 28), dtype=np.uint8), (np.arange(4000) % 10).astype(np.uint8))
cfg = TrainConfig(epochs=2)  # 124 steps: enough for rounding differences to show


def shas(seeds):
    runs = train_group(train, cfg, 100, seeds, [TorchNoise(s) for s in seeds], device, progress=False)
    return {s: state_dict_sha256(r.generator) for s, r in zip(seeds, runs)}


group = list(range(16))
first, second = shas(group), shas(group)
same = first == second
print(f"1. same group of 16 trained twice: {'identical' if same else 'DIFFERENT'} "
      f"({sum(first[s] == second[s] for s in group)}/16 generators equal)")
alone = shas([0])[0]
results = {str(seeds): shas(seeds)[0] == alone for seeds in ([0, 5, 7], [9, 3, 0], list(range(64)),
                                                            list(range(255, -1, -1)))}
for seeds, equal in results.items():
    print(f"2. seed 0 in group {seeds[:40]}{'...' if len(seeds) > 40 else ''}: "
          f"{'same as alone' if equal else 'differs from alone'}")
print(f"2. composition/position independence on CUDA: {'holds' if all(results.values()) else 'does NOT hold'}")
sys.exit(0 if same else 1)
PY
"$PY" benchmarks/train_throughput.py --device cuda --rounds 2
