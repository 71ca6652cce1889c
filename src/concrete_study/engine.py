"""The training engine: all seeds of one configuration trained side by side in one process.

The replicas are stacked: layer l of every seed is one (R, fan_in, fan_out) weight and one
(R, 1, fan_out) bias, and a batched matmul runs all seeds at once. The loss is the sum of the
per-replica mean squared errors, so each replica receives exactly its own gradient, and one
optimizer (element-wise: Adam, SGD, SGD with momentum) steps them all. Each seed keeps its own
initialisation (PyTorch's nn.Linear default under torch.manual_seed(seed)) and its own shuffling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from concrete_study.model import initial_mlp, state_dict_keys
from concrete_study.numerics import check_training
from concrete_study.runs import Run

# A seed's batches are drawn from its own generator, offset from the initialisation seed.
SHUFFLE_SEED_OFFSET = 1_000_003


@dataclass
class TrainResult:
    """Everything a training job records."""

    train_mse: np.ndarray  # (epochs, R) mean batch MSE over the epoch, MPa^2
    val_mse: np.ndarray  # (epochs, R), MPa^2
    lr: np.ndarray  # (epochs,) learning rate used in each epoch
    time_sec: np.ndarray  # (epochs,) cumulative wall time of the whole stack
    diverged_at: list[int | None]  # first epoch (1-based) with a non-finite loss, per seed
    grad_last_epoch: np.ndarray  # (layers, R) mean |gradient| per layer, averaged over batches
    state_dicts: list[dict[str, torch.Tensor]]  # final weights, one nn.Sequential dict per seed
    val_predictions: np.ndarray  # (R, n_val) predicted strength after the last epoch, MPa
    parameters: int  # per model
    device: str
    # At each epoch of `snapshot_epochs`: validation predictions (R, n_val) and weights per replica.
    val_predictions_at: dict[int, np.ndarray] = field(default_factory=dict)
    state_dicts_at: dict[int, list[dict[str, torch.Tensor]]] = field(default_factory=dict)


def pick_device(device: str) -> torch.device:
    """'auto' takes CUDA where present; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key 'device': value 'cuda' but no CUDA device is available")
    return torch.device(device)


def _stacked_parameters(n_inputs, hidden, seeds, device):
    """Per-seed default initialisation, stacked layer by layer, in one flat buffer.

    Returns (flat, params): each layer's weight (R, in, out) and bias (R, 1, out) is a view of
    `flat`, and its gradient a view of `flat.grad`, so the optimizer steps one tensor instead
    of two per layer: per-step overhead, not arithmetic, dominates these small nets.
    """
    models = [initial_mlp(n_inputs, hidden, s).state_dict() for s in seeds]
    stacked = []
    for w_key, b_key in state_dict_keys(hidden):
        stacked.append(torch.stack([m[w_key].T for m in models]))  # (R, in, out)
        stacked.append(torch.stack([m[b_key] for m in models]).unsqueeze(1))
    flat = torch.nn.Parameter(torch.cat([t.reshape(-1) for t in stacked]).to(device))
    flat.grad = torch.zeros_like(flat)
    shapes = [t.shape for t in stacked]
    params = [v.requires_grad_(True) for v in _views(flat.data, shapes)]
    for view, grad in zip(params, _views(flat.grad, shapes), strict=True):
        view.grad = grad
    return flat, params


def _views(flat: torch.Tensor, shapes) -> list[torch.Tensor]:
    """Consecutive views of `flat` with the given shapes."""
    views, offset = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        views.append(flat[offset : offset + n].view(shape))
        offset += n
    return views


def _state_dicts(
    params: list[torch.Tensor], hidden, y_mean=0.0, y_scale=1.0
) -> list[dict[str, torch.Tensor]]:
    """One nn.Sequential state dict per replica, on the CPU, predicting MPa: a standardised
    target's scale and mean (floats, or (R, 1) tensors) are folded into the output layer."""
    out = []
    keys = state_dict_keys(hidden)
    for r in range(params[0].shape[0]):
        sd = {}
        for i, (w_key, b_key) in enumerate(keys):
            # Copies: a view would follow later steps, and torch.save would write the whole buffer.
            w = params[2 * i][r].detach().T.cpu().clone(memory_format=torch.contiguous_format)
            b = params[2 * i + 1][r, 0].detach().cpu().clone()
            if i == len(keys) - 1 and (torch.is_tensor(y_scale) or y_scale != 1.0 or y_mean != 0.0):
                scale = float(y_scale[r]) if torch.is_tensor(y_scale) else y_scale
                mean = float(y_mean[r]) if torch.is_tensor(y_mean) else y_mean
                w, b = w * scale, b * scale + mean
            sd[w_key], sd[b_key] = w, b
        out.append(sd)
    return out


class _StackedMLP(torch.autograd.Function):
    """The stacked MLP's forward and backward pass on the CPU, computed by numpy's OpenBLAS.

    Not torch's MKL: MKL's kernels differ between Intel and AMD CPUs in every mode but
    MKL_CBWR=COMPATIBLE, which is 3-4 times slower at these sizes, while OpenBLAS pinned to its AVX2
    kernels (numerics.py) gives the same bytes on every x86-64 CPU with AVX2 at full speed. One
    autograd node for the whole net, not two a layer: the deep nets' steps are per-call overhead.
    Layer l: h_{l+1} = relu(h_l @ W_l + b_l), the last layer without relu.
    """

    @staticmethod
    def forward(ctx, x, *params):
        weights = [p.detach().numpy() for p in params[0::2]]
        biases = [p.detach().numpy() for p in params[1::2]]
        inputs = []  # each layer's input, for the backward pass
        h = x.detach().numpy()
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging replica is data
            for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
                inputs.append(h)
                h = np.matmul(h, w)
                h += b
                if i < len(weights) - 1:
                    np.maximum(h, 0, out=h)
        ctx.inputs, ctx.weights = inputs, weights
        return torch.from_numpy(h[..., 0])

    @staticmethod
    def backward(ctx, grad):
        g = grad.contiguous().numpy()[..., None]  # (R, B, 1)
        grads = []
        with np.errstate(over="ignore", invalid="ignore"):
            for i in reversed(range(len(ctx.weights))):
                h = ctx.inputs[i]
                grads += [g.sum(1, keepdims=True), np.matmul(h.transpose(0, 2, 1), g)]  # bias, weight
                if i > 0:
                    g = np.matmul(g, ctx.weights[i].transpose(0, 2, 1))
                    np.multiply(g, h > 0, out=g)  # relu: no gradient where its output was 0
        return None, *(torch.from_numpy(a) for a in reversed(grads))


def _forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x: (R, B, inputs) -> predictions (R, B). On a GPU, torch's own kernels (not bit-exact anyway)."""
    if not x.is_cuda:
        return _StackedMLP.apply(x, *params)
    h = x
    last = len(params) // 2 - 1
    for i in range(last + 1):
        h = torch.baddbmm(params[2 * i + 1], h, params[2 * i])
        if i < last:
            h = torch.relu(h)
    return h.squeeze(-1)


def _optimizer(flat, run):
    """One element-wise optimizer over the flat buffer; fused: one kernel per step."""
    if run.optimizer == "adam":
        return torch.optim.Adam([flat], lr=run.lr, fused=True)
    if run.optimizer == "sgd":
        return torch.optim.SGD([flat], lr=run.lr, fused=True)
    if run.optimizer == "sgd_momentum":
        return torch.optim.SGD([flat], lr=run.lr, momentum=run.momentum, fused=True)
    raise ValueError(f"unknown optimizer {run.optimizer!r}")


def _scheduler(optimizer, run):
    if run.scheduler == "none":
        return None
    if run.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, run.step_size, run.gamma)
    if run.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=run.epochs)
    raise ValueError(f"unknown scheduler {run.scheduler!r}")


def train(
    run: Run,
    seeds: list[int],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    device: str = "cpu",
    snapshot_epochs: tuple[int, ...] = (),
) -> TrainResult:
    """Train `run` once per seed, all seeds stacked; record the history of every epoch.

    The data are shared by every replica ((rows, inputs) and (rows,)), or each replica has its
    own rows of the same size ((R, rows, inputs) and (R, rows)): the replicas of several splits
    then train side by side like seeds. `snapshot_epochs` keeps weights and validation
    predictions after those epochs, for choosing a budget from one trajectory.
    """
    dev = pick_device(device)
    check_training(dev.type)
    # Vanishing gradients in deep nets reach float32's subnormal range, where x86 arithmetic is
    # many times slower; flushed to zero they cost nothing and change nothing that matters.
    torch.set_flush_denormal(True)
    hidden, epochs, batch = run.hidden, run.epochs, run.batch_size
    own_rows = x_train.ndim == 3  # each replica trains on its own rows
    n_rows, n_inputs = x_train.shape[-2:]
    n_rep = len(seeds)
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=dev)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=dev)
    # Without validation rows (a final retrain), nothing is validated: val_mse stays NaN.
    validate = x_val is not None
    if validate:
        xv = torch.as_tensor(x_val, dtype=torch.float32, device=dev).expand(n_rep, -1, -1)
        yv = torch.as_tensor(y_val, dtype=torch.float32, device=dev)
    # Optionally learn a standardised target (each replica on its own rows' statistics);
    # losses are always reported in MPa^2.
    y_mean, y_scale = 0.0, 1.0
    if run.standardize_target and own_rows:
        y_mean, y_scale = yt.mean(dim=1, keepdim=True), yt.std(dim=1, keepdim=True)
    elif run.standardize_target:
        y_mean, y_scale = float(yt.mean()), float(yt.std())
    yt_fit = (yt - y_mean) / y_scale
    loss_scale = y_scale**2 if not torch.is_tensor(y_scale) else (y_scale**2).squeeze(1)
    replica = torch.arange(n_rep, device=dev).unsqueeze(1)

    flat, params = _stacked_parameters(n_inputs, hidden, seeds, dev)
    optimizer = _optimizer(flat, run)
    scheduler = _scheduler(optimizer, run)
    gens = [torch.Generator().manual_seed(SHUFFLE_SEED_OFFSET + s) for s in seeds]
    n_layers = len(params) // 2
    layer_sizes = torch.tensor(
        [params[2 * i].shape[1] * params[2 * i].shape[2] + params[2 * i].shape[2] for i in range(n_layers)],
        dtype=torch.float32,
        device=dev,
    )

    train_mse = np.zeros((epochs, n_rep))
    val_mse = np.zeros((epochs, n_rep))
    lrs = np.zeros(epochs)
    times = np.zeros(epochs)
    alive = torch.ones(n_rep, dtype=torch.bool, device=dev)
    all_alive = True
    diverged_at: list[int | None] = [None] * n_rep
    grad_sum = torch.zeros(n_layers, n_rep, device=dev)
    val_at: dict[int, np.ndarray] = {}
    state_dicts_at: dict[int, list[dict[str, torch.Tensor]]] = {}
    n_batches = (n_rows + batch - 1) // batch
    start = time.perf_counter()

    for epoch in range(epochs):
        last_epoch = epoch == epochs - 1
        lrs[epoch] = optimizer.param_groups[0]["lr"]
        order = torch.stack([torch.randperm(n_rows, generator=g) for g in gens]).to(dev)
        # Each seed's shuffled copy of the data, once per epoch: batches are then plain slices.
        if own_rows:
            x_epoch, y_epoch = xt[replica, order], yt_fit[replica, order]
        else:
            x_epoch, y_epoch = xt[order], yt_fit[order]  # (R, n, inputs), (R, n)
        sse = torch.zeros(n_rep, device=dev)
        for b in range(n_batches):
            xb = x_epoch[:, b * batch : (b + 1) * batch]
            yb = y_epoch[:, b * batch : (b + 1) * batch]
            per_replica = ((_forward(params, xb) - yb) ** 2).mean(dim=1)  # (R,)
            sse += per_replica.detach() * yb.shape[1]
            loss = per_replica.sum() if all_alive else torch.where(alive, per_replica, 0.0).sum()
            flat.grad.zero_()  # in place: the layers' gradients are views of it
            loss.backward()
            if last_epoch:
                grad_sum += torch.stack(
                    [
                        params[2 * i].grad.abs().sum(dim=(1, 2))
                        + params[2 * i + 1].grad.abs().sum(dim=(1, 2))
                        for i in range(n_layers)
                    ]
                ) / layer_sizes.unsqueeze(1)
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        with torch.no_grad():
            if validate:
                val_pred = _forward(params, xv) * y_scale + y_mean
                v = ((val_pred - yv) ** 2).mean(dim=1)
            else:
                val_pred, v = torch.empty(n_rep, 0, device=dev), torch.zeros(n_rep, device=dev)
        t = sse / n_rows * loss_scale
        finite = torch.isfinite(t) & torch.isfinite(v)
        newly = alive & ~finite
        if newly.any():
            for r in torch.nonzero(newly).flatten().tolist():
                diverged_at[r] = epoch + 1
            alive &= finite
            all_alive = False
        dead = ~alive
        train_mse[epoch] = torch.where(dead, torch.nan, t).cpu().numpy()
        val_mse[epoch] = torch.where(dead | (not validate), torch.nan, v).cpu().numpy()
        if epoch + 1 in snapshot_epochs:
            val_at[epoch + 1] = val_pred.detach().cpu().numpy()
            state_dicts_at[epoch + 1] = _state_dicts(params, hidden, y_mean, y_scale)
        times[epoch] = time.perf_counter() - start

    n_params = sum(int(p[0].numel()) for p in params)
    return TrainResult(
        train_mse=train_mse,
        val_mse=val_mse,
        lr=lrs,
        time_sec=times,
        diverged_at=diverged_at,
        grad_last_epoch=(grad_sum / n_batches).cpu().numpy(),
        state_dicts=_state_dicts(params, hidden, y_mean, y_scale),
        val_predictions=val_pred.detach().cpu().numpy(),
        parameters=n_params,
        device=str(dev),
        val_predictions_at=val_at,
        state_dicts_at=state_dicts_at,
    )
