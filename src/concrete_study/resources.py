"""What a job that trains asks a cluster for: memory and time from what it trains.

A rule fitted to measurements (benchmarks/rows.py, docs/slurm.md): a job on a node is a Snakemake
process that reads the table at parse time plus the job's script, which imports torch, reads the
table and trains its nets (a net per seed, and per split in a benchmark job) side by side. Its
memory is a fixed part plus a part per table cell and a part per row, net and hidden unit. Its
time is a start-up plus a part per weight update (rows x epochs x nets x weights). The LightGBM
peer's job has a fixed part of its own and a part per boosting round. A job killed
for memory or time by the cluster comes back (the SLURM profile's `retries`) with `attempt` times
the request.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# Fitted to benchmarks/rows.py on an AMD EPYC (2026-12-06): 1k, 10k and 50k rows of [128, 64] and
# [128] x 4 nets, 8 and 32 inputs, 5 and 10 seeds (peaks 407-571 MB), rounded up.
BASE_MB = 410  # both processes before the table: Python, torch, numpy, pandas, Snakemake
CELL_BYTES = 90  # per table cell (rows x columns): the table as read, parsed and scaled
ACTIVATION_BYTES = 0.8  # per row, net and hidden unit: what training keeps per row
# Above the fitted peak: the allocator's slack and a node's libraries differ.
MEMORY_MARGIN = 1.25
START_S = 2  # imports, the table, the split
UPDATE_NS = 0.15  # per row, epoch, net and weight: one sample's forward and backward pass
# The LightGBM peer's job, fitted the same way (1k, 10k and 50k rows, 8 and 32 inputs; peaks
# 232-357 MB): its cells cost what a training job's do.
PEER_BASE_MB = 235  # its processes before the table: Python, LightGBM, pandas, Snakemake
PEER_ROUND_NS = 4  # per row, input, booster and round (at most max_rounds)
# Time is cheap to ask for and a slower node is common: this many times the estimate, at least
# MIN_RUNTIME minutes.
RUNTIME_MARGIN = 5
MIN_RUNTIME = 10


class Request(NamedTuple):
    mem_mb: int
    runtime: int  # minutes


def weights(inputs: int, hidden) -> int:
    """An MLP's weights and biases, from `inputs` through `hidden` to one output."""
    sizes = [inputs, *hidden, 1]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def train_size(rows: int, inputs: int, hidden, nets: int, epochs: int) -> tuple[float, float]:
    """The peak memory (MB) and the seconds of a job that trains `nets` nets of widths `hidden` side
    by side for `epochs` epochs on a table of `rows` rows and `inputs` inputs."""
    cells = rows * (inputs + 1)
    activations = rows * nets * sum(hidden)
    memory = BASE_MB + (CELL_BYTES * cells + ACTIVATION_BYTES * activations) / 2**20
    return memory, START_S + UPDATE_NS * 1e-9 * rows * epochs * nets * weights(inputs, hidden)


def peer_size(rows: int, inputs: int, benchmark: dict, seeds: int) -> tuple[float, float]:
    """The same for the LightGBM peer's job: on every split of `benchmark` it fits one booster per
    grid point and seed (the choice) and one per seed (the retrain), each of at most `max_rounds`
    rounds."""
    peer = benchmark["peer"]
    grid = math.prod(len(values) for values in peer["grid"].values())
    boosters = benchmark["splits"] * (grid + 1) * seeds
    memory = PEER_BASE_MB + CELL_BYTES * rows * (inputs + 1) / 2**20
    return memory, START_S + PEER_ROUND_NS * 1e-9 * rows * inputs * boosters * peer["max_rounds"]


def request(memory: float, time: float, attempt: int = 1) -> Request:
    """What a job of peak `memory` (MB) and `time` (seconds) asks for on its `attempt`-th try."""
    return Request(
        mem_mb=attempt * math.ceil(MEMORY_MARGIN * memory),
        runtime=attempt * max(MIN_RUNTIME, math.ceil(RUNTIME_MARGIN * time / 60)),
    )
