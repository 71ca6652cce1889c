"""Fingerprints of the numbers this process computes: run by tests/test_numerics.py in fresh
processes, each under another emulated CPU (MKL_ENABLE_INSTRUCTIONS, ATEN_CPU_CAPABILITY).

Prints one JSON object: the md5 of the weights of four small stacks (the engine), of the
least-squares coefficients on the smoke split (numpy's OpenBLAS), and of the smoke study's final
model file (training, calibration, test metrics: every library on the final model's path).

    python tests/numerics_probe.py data/Concrete_Data.xls config/smoke.yaml
"""

# First: importing the library pins the numerics before numpy and torch load (numerics.py).
import concrete_study  # noqa: F401

# isort: split
import hashlib
import io
import json
import sys

import numpy as np
import torch

from concrete_study.config import load
from concrete_study.data import baselines, fit_and_scale, split_indices
from concrete_study.dataset import read_table
from concrete_study.engine import train
from concrete_study.final import final_model
from concrete_study.runs import Run, resolve

# The stacks whose bytes were measured on two CPUs (tests/test_numerics.py): a wide one, a stack of
# 8 replicas (its flat buffer's length is 8 mod 16, so 8- and 16-wide vector loops split it
# differently), a small one and a deep one; and an embedded one (embedding.py: numpy's own
# element-wise loops, which numpy also picks by CPU).
STACKS = [
    ((128, 64), 60, 5, "none"),
    ((128, 64), 20, 8, "none"),
    ((16, 8), 30, 2, "none"),
    ((32,) * 16, 10, 5, "none"),
    ((16, 8), 30, 3, "periodic"),
]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def weights_md5(state_dicts) -> str:
    return md5(b"".join(v.numpy().tobytes() for sd in state_dicts for v in sd.values()))


def stacks() -> dict[str, str]:
    """Synthetic data, so that the fingerprints depend on nothing but the engine."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(721, 8)).astype(np.float32)
    y = (x @ rng.normal(size=8) * 10 + 35).astype(np.float32)
    xv = rng.normal(size=(154, 8)).astype(np.float32)
    yv = (xv[:, 0] * 10 + 35).astype(np.float32)
    out = {}
    for hidden, epochs, replicas, embedding in STACKS:
        run = Run(hidden=hidden, optimizer="adam", lr=1.0e-2, epochs=epochs, embedding=embedding)
        result = train(run, list(range(replicas)), x, y, xv, yv)
        name = f"stack {len(hidden)}x{hidden[0]} e{epochs} r{replicas}" + (
            f" {embedding}" * (embedding != "none")
        )
        out[name] = weights_md5(result.state_dicts)
    return out


def smoke(raw: str, config_file: str) -> dict[str, str]:
    config = load(config_file)  # with the schema's defaults
    dataset, table = read_table({**config["dataset"], "file": raw})
    fractions = {k: v for k, v in config["split"].items() if k != "seed"}
    split = split_indices(len(table), fractions, config["split"]["seed"])
    _, arrays = fit_and_scale(table, split, "train", dataset)
    coef = np.asarray(baselines(arrays)["linear_coefficients"])
    candidates = {r.id: r for r in (resolve(config, c) for c in config["benchmark"]["candidates"])}
    final = final_model(
        candidates,
        list(range(config["seeds"])),
        table,
        dataset,
        split,
        "cpu",
        config["benchmark"]["peer"],
        config["interval_level"],
        config["final"]["bootstrap"],
        config["final"]["importance_repeats"],
    )
    buffer = io.BytesIO()
    torch.save(final.bundle, buffer)
    return {"least squares": md5(coef.tobytes()), "smoke final model": md5(buffer.getvalue())}


if __name__ == "__main__":
    torch.set_num_threads(1)
    capability = torch.backends.cpu.get_cpu_capability()
    print(json.dumps({"capability": capability, **stacks(), **smoke(*sys.argv[1:])}))
