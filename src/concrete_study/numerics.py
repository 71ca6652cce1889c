"""The numerics every process of the project computes with: the same bytes on any x86-64 CPU with
AVX2, so that dvc.lock reproduces on machines other than the one that wrote it.

Two libraries choose their kernels by CPU, and different kernels round differently:

- numpy's OpenBLAS: the engine's matrix products (cpu_pass.py) and the least-squares
  baseline. `OPENBLAS_CORETYPE=Haswell` (its AVX2 kernels) on every CPU, where an Intel Xeon's own
  choice gave other coefficients; `OPENBLAS_NUM_THREADS=1`, since a threaded product gave other
  bytes (and was slower: jobs run side by side, one per core). OpenBLAS reads both when numpy
  loads, so the pin is in the environment before numpy is imported.
- torch's MKL: every other matrix product (the final model's predictions, `predict`).
  `MKL_CBWR=COMPATIBLE` is its one code path shared by Intel and AMD CPUs: an AMD EPYC ignores
  the other modes (AVX2, AVX, SSE4_2 ... all gave its own bytes), and an Intel Xeon computed other
  bytes under AVX2. It is 3-4 times slower, which is why the engine does not use MKL. MKL reads
  it at its first call.

Measured and left alone: ATen's own kernels give the same bytes at capability avx2 and avx512 (not
at `default`, what a CPU without AVX2 runs); `MKL_ENABLE_INSTRUCTIONS` changes nothing under the
pin. torch's thread count is the config's (`threads`), so the lock pins it too.

Importing the package (any `concrete_study` module) calls `pin()`: the Snakemake process, whose
jobs (local, or on SLURM where the job step reads the Snakefile again) inherit it, the
`concrete-study` command, the tests and the benchmarks. A value the user set stays, with a warning.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys
from collections.abc import MutableMapping
from pathlib import Path

PINNED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1", "MKL_CBWR": "COMPATIBLE"}
# A process without the pin, for benchmarks and tests: each library's own choice for this CPU.
UNPINNED = {"OPENBLAS_CORETYPE": "", "OPENBLAS_NUM_THREADS": "", "MKL_CBWR": "AUTO"}
# ATen's kernel sets that compute the pinned bytes (any other is a CPU without AVX2, or forced).
ATEN_CAPABILITIES = ("avx2", "avx512")
X86_64 = ("x86_64", "AMD64")


def lock_breakers(environ: MutableMapping[str, str], machine: str | None = None) -> list[str]:
    """The settings of this process under which the numbers differ from dvc.lock's."""
    problems = [
        f"{key}={environ[key]!r} (pinned: {value})"
        for key, value in PINNED.items()
        if environ.get(key, value) != value
    ]
    capability = environ.get("ATEN_CPU_CAPABILITY")
    if capability is not None and capability.lower() not in ATEN_CAPABILITIES:
        problems.append(
            f"ATEN_CPU_CAPABILITY={capability!r} (bit-exact only at {' or '.join(ATEN_CAPABILITIES)})"
        )
    machine = machine or platform.machine()
    if machine not in X86_64:
        problems.append(f"a {machine} CPU (bit-exact on x86-64 only)")
    return problems


# x86-64 machine code of `uint64_t f(void)`: CPUID leaf 1's ECX in the high half, leaf 7's EBX
# in the low half (push rbx; mov eax,1; cpuid; mov esi,ecx; mov eax,7; xor ecx,ecx; cpuid;
# mov eax,ebx; shl rsi,32; or rax,rsi; pop rbx; ret).
_CPUID = bytes.fromhex("53b8010000000fa289ceb80700000031c90fa289d848c1e62048 09f05bc3".replace(" ", ""))


@functools.cache
def has_avx2() -> bool:
    """Whether this x86-64 CPU runs AVX2, from CPUID itself: OpenBLAS does not check a forced
    kernel set against the CPU, and /proc/cpuinfo shows the host's flags under an emulator."""
    import mmap

    try:
        buffer = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, AttributeError, ValueError):  # no executable memory: trust the kernel's flags
        cpuinfo = Path("/proc/cpuinfo")
        return cpuinfo.exists() and " avx2" in cpuinfo.read_text()
    buffer.write(_CPUID)
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    bits = ctypes.CFUNCTYPE(ctypes.c_uint64)(address)()
    avx, avx2 = bits >> 32 & 1 << 28, bits & 1 << 5
    return bool(avx and avx2)


def warning(problems: list[str]) -> str:
    return (
        f"concrete-study: warning: {'; '.join(problems)}: the numbers will not reproduce dvc.lock byte "
        "for byte (docs/reproducibility.md)"
    )


def pin(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the pinned values where the user set none; say in one line what breaks the lock. On an
    x86-64 CPU without AVX2, OpenBLAS keeps its own kernels: forced to Haswell's, it would stop
    the process at its first product with an illegal instruction."""
    x86 = platform.machine() in X86_64
    avx2 = x86 and has_avx2()
    for key, value in PINNED.items():
        if key != "OPENBLAS_CORETYPE" or avx2:
            environ.setdefault(key, value)
    problems = lock_breakers(environ)
    if x86 and not avx2:
        problems.append("a CPU without AVX2 (OpenBLAS keeps its own kernels)")
    if problems:
        print(warning(problems), file=sys.stderr)


@functools.cache
def openblas_library() -> ctypes.CDLL | None:
    """The OpenBLAS that numpy loaded (the same handle); None where numpy has another BLAS."""
    import numpy

    libs = sorted(Path(numpy.__file__).parent.parent.glob("numpy.libs/libscipy_openblas64_*.so"))
    try:
        return ctypes.CDLL(str(libs[0]))
    except (IndexError, OSError):
        return None


def openblas_state() -> tuple[str, int] | None:
    """(kernel set, threads) of the OpenBLAS that numpy loaded; None where numpy has another BLAS."""
    lib = openblas_library()
    try:
        lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
        return lib.scipy_openblas_get_corename64_().decode(), int(lib.scipy_openblas_get_num_threads64_())
    except AttributeError:  # no such library, or another build of it
        return None


@functools.cache  # once per process and device
def check_training(device_type: str) -> None:
    """Say in one line where training computes off the pinned path: on a GPU, on a CPU without AVX2
    (ATen then runs its `default` kernels), or with an OpenBLAS that numpy loaded unpinned (numpy
    imported before concrete_study, in a process that did not inherit the pin)."""
    import torch

    problems = []
    if device_type != "cpu":
        problems.append(f"training on {device_type} (bit-exact on the CPU only)")
    capability = torch.backends.cpu.get_cpu_capability().lower()
    if capability not in ATEN_CAPABILITIES and "ATEN_CPU_CAPABILITY" not in os.environ:
        problems.append(f"ATen's kernels at {capability!r}, a CPU without AVX2")
    state = openblas_state()
    pinned = (PINNED["OPENBLAS_CORETYPE"], int(PINNED["OPENBLAS_NUM_THREADS"]))
    if device_type == "cpu" and state != pinned:
        found = f"kernels {state[0]}, {state[1]} threads" if state else "not the wheel's OpenBLAS"
        problems.append(f"numpy's BLAS runs {found} (pinned: {pinned[0]}, {pinned[1]} thread)")
    if problems:
        print(warning(problems), file=sys.stderr)
