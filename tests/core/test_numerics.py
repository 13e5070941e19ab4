"""Pinned CPU numerics: the same bits whichever kernels the CPU would pick, and a record of them.

Other machines are simulated by the settings that choose torch's CPU kernels: ATen's
capability (default, avx2, avx512 where this CPU has it) and oneDNN's ISA. Each probe trains
a classifier for one epoch and a GAN for one epoch in a fresh process.
"""
import json
import os
import subprocess
import sys

import pytest

from qgan.core.errors import QganError
from qgan.core.numerics import PINNED, SWITCH, env_of_record, numerics_mode, pin_cpu_numerics
from tests.conftest import ROOT

PROBE = """
from qgan.core.numerics import pin_cpu_numerics
pin_cpu_numerics()  # what stages/__init__.py does, before torch loads
import json, torch
from qgan.core.runtime import make_deterministic
from qgan.scoring.classifier import train_classifier
from qgan.gan.data import load_source, subsample
from qgan.gan.models import state_dict_sha256
from qgan.gan.training import train_gan
from qgan.noise.streams import make_noise, noise_context
from qgan.params import dict_to_params
p = dict_to_params({"latent_dim": 8, "data": {"n_train": 512}, "classifier": {"epochs": 1},
                    "train": {"seeds": [0], "epochs": 1, "batch_size": 32}})
runtime = make_deterministic(2)
train = subsample(load_source(p.data)[0], 512, 0, "n_train")
c = train_classifier(train, p.classifier, torch.device("cpu"), progress=False)
noise = make_noise("prng", "train", noise_context(p.noise_plan, 512, 0, None, None))
g = train_gan(train, p.train, 8, 0, noise, torch.device("cpu"), progress=False).generator
print(json.dumps({"classifier": state_dict_sha256(c), "generator": state_dict_sha256(g), "runtime": runtime}))
"""

# Kernel choices this CPU allows (AVX-512 only where the CPU has it).
CHOICES = [{"ATEN_CPU_CAPABILITY": "default"}, {"ATEN_CPU_CAPABILITY": "avx2"},
           {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "SSE41"}]
if "avx512f" in open("/proc/cpuinfo").read():
    CHOICES.append({"ATEN_CPU_CAPABILITY": "avx512"})


def probe(mode: str, choice: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PINNED and k != SWITCH}
    env.update(choice, **{SWITCH: mode})
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.integration
def test_pinned_numerics_give_the_same_weights_under_every_kernel_choice_and_native_do_not():
    pinned = [probe("pinned", c) for c in CHOICES]
    native = [probe("native", c) for c in CHOICES]
    assert len({(r["classifier"], r["generator"]) for r in pinned}) == 1, pinned
    assert all(r["runtime"]["numerics"] == "pinned" and r["runtime"]["aten_cpu_capability"] == "AVX2"
               and r["runtime"]["mkl_cbwr"] == PINNED["MKL_CBWR"] for r in pinned)
    # the same choices without the pin: the kernels change the bits (so the check above can fail)
    assert len({r["classifier"] for r in native}) >= 3, native
    assert len({r["generator"] for r in native}) >= 2, native
    assert native[0]["runtime"]["numerics"] == "native" and native[0]["runtime"]["aten_cpu_capability"] == "DEFAULT"


@pytest.mark.integration
def test_a_pin_that_did_not_take_stops_with_one_line():
    """torch that ran a kernel before the pin keeps its first choice: the run refuses, not records it."""
    code = ("import torch\ntorch.ones(8).exp()\nfrom qgan.core.numerics import pin_cpu_numerics\npin_cpu_numerics()\n"
            "from qgan.core.runtime import make_deterministic\nmake_deterministic(1)")
    env = {**{k: v for k, v in os.environ.items() if k not in PINNED and k != SWITCH}, "ATEN_CPU_CAPABILITY": "default"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "CPU numerics: ATen runs DEFAULT kernels, not the pinned AVX2" in out.stderr


@pytest.mark.integration
def test_conversion_is_the_same_without_avx512_dispatch():
    """numpy's float32 log/sin/cos: the AVX-512 and AVX2 paths give the same normals, so convert needs no pin."""
    code = ("import hashlib, numpy as np\nfrom qgan.noise.convert import bytes_to_normals\n"
            "raw = np.random.default_rng(0).integers(0, 256, 3 * 1_000_000, dtype=np.uint8)\n"
            "print(hashlib.sha256(bytes_to_normals(raw, 24).tobytes()).hexdigest())")
    digests = set()
    for disabled in ("", "X86_V4 AVX512_ICL AVX512_SPR"):
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1


def test_pin_overrides_the_environment_unless_native():
    env = {"ATEN_CPU_CAPABILITY": "default"}
    assert pin_cpu_numerics(env) == PINNED and env["ATEN_CPU_CAPABILITY"] == "avx2"
    native = {"ATEN_CPU_CAPABILITY": "default", SWITCH: "native"}
    assert pin_cpu_numerics(native) == {} and native["ATEN_CPU_CAPABILITY"] == "default"
    with pytest.raises(QganError, match=f"{SWITCH}: 'fast' is not allowed"):
        numerics_mode({SWITCH: "fast"})


def test_replay_env_from_a_record():
    assert env_of_record({"numerics": "pinned"}) == {SWITCH: "pinned", **PINNED}
    old = env_of_record({"threads": 2})  # recorded before numerics were pinned: native, pin unset
    assert old[SWITCH] == "native" and all(old[k] is None for k in PINNED)


def test_a_pinned_process_matches_a_pinned_record_without_the_switch_set():
    from qgan.core.numerics import differs_from
    pinned = env_of_record({"numerics": "pinned"})
    assert not differs_from(pinned, dict(PINNED))  # pinned by default: QGAN_CPU_NUMERICS need not be set
    assert differs_from(pinned, {**PINNED, SWITCH: "native"})
    assert differs_from(env_of_record({}), dict(PINNED)) and not differs_from(env_of_record({}), {SWITCH: "native"})
