"""The engine's optimizer is torch.optim's fused one, byte for byte, without its start-up cost."""

import subprocess
import sys

import pytest
import torch

from concrete_study.optimizer import FlatOptimizer
from concrete_study.runs import Run


def reference(flat, run):
    """torch.optim's optimizer and scheduler for `run`, as the engine used them before."""
    if run.optimizer == "adam" and run.weight_decay:
        opt = torch.optim.AdamW([flat], lr=run.lr, weight_decay=run.weight_decay, fused=True)
    elif run.optimizer == "adam":
        opt = torch.optim.Adam([flat], lr=run.lr, fused=True)
    else:
        opt = torch.optim.SGD(
            [flat], lr=run.lr, momentum=run.momentum, weight_decay=run.weight_decay, fused=True
        )
    if run.scheduler == "step":
        return opt, torch.optim.lr_scheduler.StepLR(opt, run.step_size, run.gamma)
    if run.scheduler == "cosine":
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=run.epochs)
    return opt, None


@pytest.mark.parametrize(
    "run",
    [
        Run(optimizer="adam", lr=1e-2, epochs=12),
        Run(optimizer="adam", lr=1e-2, weight_decay=0.1, scheduler="cosine", epochs=12),
        Run(optimizer="adam", lr=2e-3, scheduler="step", step_size=3, gamma=0.5, epochs=12),
        Run(optimizer="sgd", lr=1e-2, weight_decay=1e-3, scheduler="cosine", epochs=12),
        Run(optimizer="sgd_momentum", momentum=0.9, lr=2e-3, scheduler="step", step_size=2, epochs=12),
    ],
    ids=lambda run: run.id,
)
def test_the_same_bytes_and_learning_rates_as_torch_optim(run):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(1000, generator=generator)
    grads = [torch.randn(1000, generator=generator) * (1 + k % 5) for k in range(run.epochs * 4)]
    mine = torch.nn.Parameter(start.clone())
    theirs = torch.nn.Parameter(start.clone())
    optimizer, (opt, scheduler) = FlatOptimizer(mine, run), reference(theirs, run)
    for epoch in range(run.epochs):
        assert optimizer.lr == opt.param_groups[0]["lr"], epoch
        for g in grads[epoch * 4 : (epoch + 1) * 4]:
            mine.grad, theirs.grad = g.clone(), g.clone()
            optimizer.step()
            opt.step()
            assert torch.equal(mine, theirs), epoch
        optimizer.end_epoch()
        if scheduler is not None:
            scheduler.step()
    assert not torch.equal(mine, start)


def test_training_imports_no_compiler():
    """What the optimizer saves: torch.optim's first step imports torch._dynamo (and sympy)."""
    code = (
        "import sys; from concrete_study.engine import train; from concrete_study.runs import Run; "
        "import numpy as np; "
        "x = np.zeros((8, 3), np.float32); y = np.zeros(8, np.float32); "
        "train(Run(hidden=[4], epochs=2, batch_size=4, scheduler='cosine'), [0], x, y, x, y); "
        "print('torch._dynamo' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False"] and proc.stderr == ""  # the package first: pinned, no warning
