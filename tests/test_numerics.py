"""The pin (numerics.py): the same bytes whatever kernels another CPU would pick.

Each probe is a fresh process (tests/numerics_probe.py), since MKL and OpenBLAS read their settings
once. Other CPUs are emulated on this one: MKL told to use only AVX2 or AVX-512 instructions, ATen
told to run its avx2 or avx512 kernels (avx512 only where this CPU has it: elsewhere it crashes),
numpy told to run its baseline loops.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ENV, RAW, ROOT

from concrete_study.numerics import PINNED, UNPINNED, lock_breakers, pin, warning

# Computed under the pin by an AMD EPYC (Zen 3, AVX2; torch 2.13.0, numpy 2.4.6), under every
# emulated CPU below, and since the C pass (cpu_pass.c) also by an Intel Xeon (AVX-512 and AMX)
# under each of them. The least squares did not change.
FINGERPRINTS = {
    "stack 2x128 e60 r5": "2f91a858930f70cfb64e4dd763b1b150",
    "stack 2x128 e20 r8": "54b99b8ec73e05bf3928e1ea2529845c",
    "stack 2x16 e30 r2": "53a96e2e81969f23a953a61fbe59a8d1",
    "stack 16x32 e10 r5": "897a49e1f7f8138916fc86cc46cf1ed4",
    "least squares": "abd0412e588704610ba462ef9da0e303",
    # The embedding computes with numpy's element-wise loops alone.
    "stack 2x16 e30 r3 periodic": "b3abda449b536e2a8be27a3d4ba85bc3",
}
SMOKE_CONFIG = ROOT / "config" / "smoke.yaml"
CPUINFO = Path("/proc/cpuinfo")
HAS_AVX512 = CPUINFO.is_file() and " avx512f" in CPUINFO.read_text()
EMULATED = {
    "MKL AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "MKL AVX-512": {"MKL_ENABLE_INSTRUCTIONS": "AVX512"},
    "ATen avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    **({"ATen avx512": {"ATEN_CPU_CAPABILITY": "avx512"}} if HAS_AVX512 else {}),
    # numpy picks its element-wise loops by CPU too (x86-64-v3: AVX2, v4: AVX-512); here its baseline.
    "numpy x86-64-v2": {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"},
}
CONTROLS = {"unpinned": UNPINNED, "ATen default": {"ATEN_CPU_CAPABILITY": "default"}}

pytestmark = pytest.mark.slow


def probe(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in ENV.items() if k not in PINNED and not k.startswith(("MKL_", "ATEN_"))}
    cmd = [sys.executable, str(ROOT / "tests" / "numerics_probe.py"), str(RAW), str(SMOKE_CONFIG)]
    proc = subprocess.run(cmd, env={**env, **extra}, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def probes() -> dict[str, dict[str, str]]:
    variants = {"pinned": {}, **EMULATED, **CONTROLS}
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(variants, pool.map(probe, variants.values()), strict=True))


def numbers(fingerprints: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fingerprints.items() if k != "capability"}


def test_the_pinned_bytes_are_those_measured_before(probes):
    assert {k: probes["pinned"][k] for k in FINGERPRINTS} == FINGERPRINTS


@pytest.mark.parametrize("cpu", EMULATED)
def test_an_emulated_cpu_computes_the_same_bytes_under_the_pin(probes, cpu):
    assert numbers(probes[cpu]) == numbers(probes["pinned"])


def test_other_kernels_give_other_bytes(probes):
    """What makes the tests above able to fail: the bytes do depend on the kernels."""
    pinned = numbers(probes["pinned"])
    assert all(probes["ATen default"][k] != v for k, v in pinned.items() if k.startswith("stack"))
    if HAS_AVX512 or (os.cpu_count() or 1) > 1:
        # OpenBLAS's own choice: its AVX-512 kernels, or as many threads as cores.
        assert numbers(probes["unpinned"]) != pinned


def test_a_setting_that_breaks_the_lock_is_named_in_one_line(capsys):
    environ = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "default"}
    pin(environ)
    assert environ["OPENBLAS_CORETYPE"] == "Haswell" and environ["MKL_CBWR"] == "AVX2"  # the user's stays
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "MKL_CBWR='AVX2' (pinned: COMPATIBLE)" in err and "ATEN_CPU_CAPABILITY='default'" in err
    assert "will not reproduce dvc.lock" in err


def test_the_pinned_environment_and_x86_64_break_nothing(capsys):
    environ = dict(PINNED, ATEN_CPU_CAPABILITY="avx512")
    pin(environ)
    assert capsys.readouterr().err == ""
    assert lock_breakers(environ, machine="arm64") == ["a arm64 CPU (bit-exact on x86-64 only)"]
    assert warning(["x"]).startswith("concrete-study: warning: x: ")


QEMU = shutil.which("qemu-x86_64")


@pytest.mark.parametrize("cpu, pinned", [("Nehalem", False), ("Haswell", True)])
def test_a_cpu_without_avx2_keeps_openblas_own_kernels_with_a_warning(cpu, pinned):
    """Under Debian's qemu-user, an older CPU model for real (no AVX2, CPUID says so): the pin
    leaves OpenBLAS its own kernels, where Haswell's would stop the process with an illegal
    instruction at the first product, and says in one line that the bytes will not match."""
    if QEMU is None:
        if os.environ.get("CI"):
            pytest.fail("qemu-user is not installed (.ci/run installs it)")
        pytest.skip("qemu-user is not installed: apt-get install qemu-user")
    code = (
        "import concrete_study, os, numpy as np\n"
        "a = np.ones((64, 64), np.float32)\n"
        "print(os.environ.get('OPENBLAS_CORETYPE'), float((a @ a).sum()))\n"
    )
    env = {k: v for k, v in ENV.items() if k not in PINNED}  # a process that has not pinned yet
    proc = subprocess.run(
        [QEMU, "-cpu", cpu, sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Haswell" if pinned else "None", "262144.0"]
    warned = [line for line in proc.stderr.splitlines() if "a CPU without AVX2" in line]
    assert len(warned) == (0 if pinned else 1)
