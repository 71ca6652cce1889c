"""The engine's optimizer: torch's fused Adam, AdamW and SGD kernels and the StepLR and cosine
schedules, on one flat buffer, without torch.optim's classes.

torch.optim's classes import torch._dynamo when first used, which costs every training job about
1.5 s of start-up, as long as the job's other imports together. This calls the same kernels with
the same arguments and state as torch.optim's fused path, and steps the learning rate by the same
float arithmetic as its schedulers, so the bytes are torch.optim's (tests/test_optimizer.py).
"""

from __future__ import annotations

import math

import torch

from concrete_study.runs import Run

BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
EPS = 1e-8


class FlatOptimizer:
    """`run`'s optimizer and schedule for `flat`, whose gradient is `flat.grad`."""

    def __init__(self, flat: torch.Tensor, run: Run) -> None:
        self.flat, self.run = flat, run
        self.lr = run.lr  # this epoch's learning rate
        self.epoch = 0  # epochs completed
        if run.optimizer == "adam":
            # As torch.optim.Adam(fused=True) keeps them: the step count a float32 on the device.
            self.steps = torch.zeros((), dtype=torch.float32, device=flat.device)
            self.exp_avg = torch.zeros_like(flat, memory_format=torch.preserve_format)
            self.exp_avg_sq = torch.zeros_like(flat, memory_format=torch.preserve_format)
        self.momentum_buffer: torch.Tensor | None = None

    @torch.no_grad()
    def step(self) -> None:
        run, flat = self.run, self.flat
        if run.optimizer == "adam":
            self.steps.add_(1)
            # Adam with decay is AdamW (decoupled), as in runs.Run.
            kernel = torch._fused_adamw_ if run.weight_decay else torch._fused_adam_
            kernel(
                [flat],
                [flat.grad],
                [self.exp_avg],
                [self.exp_avg_sq],
                [],
                [self.steps],
                amsgrad=False,
                lr=self.lr,
                beta1=BETAS[0],
                beta2=BETAS[1],
                weight_decay=run.weight_decay,
                eps=EPS,
                maximize=False,
            )
            return
        momentum = run.momentum  # 0 unless sgd_momentum (Run.uses)
        first = momentum != 0 and self.momentum_buffer is None
        if first:
            self.momentum_buffer = torch.empty_like(flat.grad)
        torch._fused_sgd_(
            [flat],
            [flat.grad],
            [] if momentum == 0 else [self.momentum_buffer],
            weight_decay=run.weight_decay,
            momentum=momentum,
            lr=self.lr,
            dampening=0.0,
            nesterov=False,
            maximize=False,
            is_first_step=first,
        )

    def end_epoch(self) -> None:
        """The next epoch's learning rate, by the arithmetic of torch's StepLR and
        CosineAnnealingLR (eta_min 0, T_max the run's epochs): each from the last."""
        self.epoch += 1
        run, k = self.run, self.epoch
        if run.scheduler == "step" and k % run.step_size == 0:
            self.lr = self.lr * run.gamma
        elif run.scheduler == "cosine":
            now, before = math.cos(math.pi * k / run.epochs), math.cos(math.pi * (k - 1) / run.epochs)
            self.lr = (1 + now) / (1 + before) * self.lr
