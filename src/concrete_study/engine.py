"""The training engine: all seeds of one configuration trained side by side in one process.

The replicas are stacked: layer l of every seed is one (R, fan_in, fan_out) weight and one
(R, 1, fan_out) bias, and a batched matmul runs all seeds at once. The loss is the sum of the
per-replica mean squared errors, so each replica receives exactly its own gradient, and one
optimizer (element-wise: Adam, SGD, SGD with momentum) steps them all. Each seed keeps its own
initialisation (PyTorch's nn.Linear default under torch.manual_seed(seed)) and its own shuffling.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from concrete_study import model
from concrete_study.cpu_pass import CpuNet, native, views
from concrete_study.layers import EVALUATION, Linear, Step
from concrete_study.numerics import check_training
from concrete_study.optimizer import FlatOptimizer
from concrete_study.runs import Run

# A seed's batches are drawn from a generator of their own, offset from the initialisation seed.
SHUFFLE_SEED_OFFSET = 1_000_003
# torch's fused optimizers step a buffer in units of 16 floats (a cache line), each vectorised but
# for a last, shorter unit, computed in scalar code that rounds differently now and then. The flat
# buffer is padded to whole units: a parameter's update is then the same wherever it lies, so a
# replica trains the same bytes in a stack of any size, and at AVX2's width and AVX-512's.
OPTIMIZER_UNIT = 16


@dataclass
class TrainResult:
    """Everything a training job records."""

    train_mse: np.ndarray  # (epochs, R) mean batch MSE over the epoch, in the target's unit squared
    val_mse: np.ndarray  # (epochs, R), the same
    lr: np.ndarray  # (epochs,) learning rate used in each epoch
    time_sec: np.ndarray  # (epochs,) cumulative wall time of the whole stack
    diverged_at: list[int | None]  # first epoch (1-based) with a non-finite loss, per seed
    grad_last_epoch: np.ndarray  # (layers, R) mean |gradient| per layer, averaged over batches
    state_dicts: list[dict[str, torch.Tensor]]  # final weights, one nn.Sequential dict per seed
    val_predictions: np.ndarray  # (R, n_val) predicted target after the last epoch
    parameters: int  # per model
    device: str
    # At each epoch of `snapshot_epochs`: validation predictions (R, n_val) and weights per replica.
    val_predictions_at: dict[int, np.ndarray] = field(default_factory=dict)
    state_dicts_at: dict[int, list[dict[str, torch.Tensor]]] = field(default_factory=dict)

    def member_predictions(self, members: tuple[int, ...]) -> np.ndarray:
        """The validation predictions (R, n_val) of a snapshot ensemble: the mean of the
        predictions after the epochs `members` (Run.members; each in `snapshot_epochs`)."""
        if len(members) == 1:
            return self.val_predictions_at[members[0]]
        return np.mean([self.val_predictions_at[e] for e in members], axis=0)

    def member_weights(self, members: tuple[int, ...]) -> list[list[dict[str, torch.Tensor]]]:
        """Each replica's weights after the epochs `members`, in that order."""
        return [list(w) for w in zip(*(self.state_dicts_at[e] for e in members), strict=True)]


def pick_device(device: str) -> torch.device:
    """'auto' takes CUDA where present; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key 'device': value 'cuda' but no CUDA device is available")
    return torch.device(device)


def _stacked_parameters(net, seeds, device):
    """Per-seed initialisation (model.initial), stacked parameter by parameter, in one flat buffer.

    Returns (flat, params): each parameter of every replica, (R, *shape), is a view of `flat`,
    and its gradient a view of `flat.grad`, so the optimizer steps one tensor instead of two per
    layer: per-step overhead, not arithmetic, dominates these small nets.
    """
    per_seed = [model.initial(net, s) for s in seeds]
    stacked = [torch.stack(part) for part in zip(*per_seed, strict=True)]
    values = torch.cat([t.reshape(-1) for t in stacked])
    padding = torch.zeros(-len(values) % OPTIMIZER_UNIT)  # zeros with zero gradients stay zeros
    flat = torch.nn.Parameter(torch.cat([values, padding]).to(device))
    flat.grad = torch.zeros_like(flat)
    shapes = [t.shape for t in stacked]
    params = [v.requires_grad_(True) for v in views(flat.data, shapes)]
    for view, grad in zip(params, views(flat.grad, shapes), strict=True):
        view.grad = grad
    return flat, params


def _copy(t: torch.Tensor) -> torch.Tensor:
    # A copy: a view would follow later steps, and torch.save would write the whole buffer.
    return t.detach().cpu().clone(memory_format=torch.contiguous_format)


def _state_dicts(net, params: list[torch.Tensor], y_mean=0.0, y_scale=1.0) -> list[dict[str, torch.Tensor]]:
    """One state dict per replica (model.state_dict), on the CPU, predicting the target: a
    standardised target's scale and mean (floats, or (R, 1) tensors) are folded into the output
    layer."""
    out = []
    # One set of key strings for every replica: torch.save pickles each string once per file.
    keys = list(model.state_dict(net, [p[0] for p in params]))
    weight, bias = keys[-2:]  # the output layer's
    for r in range(params[0].shape[0]):
        values = model.state_dict(net, [p[r] for p in params]).values()
        sd = {k: _copy(v) for k, v in zip(keys, values, strict=True)}
        if torch.is_tensor(y_scale) or y_scale != 1.0 or y_mean != 0.0:
            scale = float(y_scale[r]) if torch.is_tensor(y_scale) else y_scale
            mean = float(y_mean[r]) if torch.is_tensor(y_mean) else y_mean
            sd[weight], sd[bias] = sd[weight] * scale, sd[bias] * scale + mean
        out.append(sd)
    return out


def _loss_gradient(diff: np.ndarray, alive: np.ndarray | None) -> np.ndarray:
    """The gradient of the summed per-replica MSE with respect to the predictions, (R, B), as
    autograd computes it: (1 / B, or 0 for a diverged replica) * (2 * diff), diff = pred - y."""
    share = np.float32(1) / np.float32(diff.shape[1])
    factor = share if alive is None else np.where(alive, share, np.float32(0))[:, None]
    return factor * (diff * np.float32(2))


@dataclass
class _Rows:
    """The training and validation rows on the device, and the target as the replicas learn it.

    x: (rows, inputs) shared by every replica, or (R, rows, inputs) each replica its own; y_fit
    is the target, standardised per replica's rows when the run asks; losses are reported in its
    unit squared through loss_scale. Without validation rows (a final retrain) x_val is None.
    """

    x: torch.Tensor
    y_fit: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    y_mean: float | torch.Tensor
    y_scale: float | torch.Tensor
    loss_scale: float | torch.Tensor

    @property
    def own_rows(self) -> bool:
        return self.x.ndim == 3

    @property
    def n_rows(self) -> int:
        return self.x.shape[-2]


def _rows(run: Run, n_rep: int, x_train, y_train, x_val, y_val, dev) -> _Rows:
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=dev)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=dev)
    xv = yv = None
    if x_val is not None:
        xv = torch.as_tensor(x_val, dtype=torch.float32, device=dev).expand(n_rep, -1, -1)
        yv = torch.as_tensor(y_val, dtype=torch.float32, device=dev)
    y_mean, y_scale = 0.0, 1.0
    if run.standardize_target and xt.ndim == 3:
        y_mean, y_scale = yt.mean(dim=1, keepdim=True), yt.std(dim=1, keepdim=True)
    elif run.standardize_target:
        y_mean, y_scale = float(yt.mean()), float(yt.std())
    loss_scale = y_scale**2 if not torch.is_tensor(y_scale) else (y_scale**2).squeeze(1)
    return _Rows(xt, (yt - y_mean) / y_scale, xv, yv, y_mean, y_scale, loss_scale)


def _epoch_batches(rows: _Rows, gens, batch: int, dev):
    """One epoch's batches, (R, B, inputs) and (R, B): each replica's rows in its own order."""
    order = torch.stack([torch.randperm(rows.n_rows, generator=g) for g in gens]).to(dev)
    # Each seed's shuffled copy of the data, once per epoch: batches are then plain slices.
    if rows.own_rows:
        replica = torch.arange(len(gens), device=dev).unsqueeze(1)
        x_epoch, y_epoch = rows.x[replica, order], rows.y_fit[replica, order]
    else:
        x_epoch, y_epoch = rows.x[order], rows.y_fit[order]  # (R, n, inputs), (R, n)
    for start in range(0, rows.n_rows, batch):
        yield x_epoch[:, start : start + batch], y_epoch[:, start : start + batch]


def _mean_abs_gradients(linears, layer_sizes: torch.Tensor) -> torch.Tensor:
    """(linear layers, R): each linear layer's mean |gradient| over its weights and bias, per replica."""
    sums = [w.grad.abs().sum(dim=(1, 2)) + b.grad.abs().sum(dim=(1, 2)) for w, b in linears]
    return torch.stack(sums) / layer_sizes.unsqueeze(1)


def _validate(st: _Stack, n_rep: int, dev, validated: bool):
    """Validation predictions in the target's unit (R, n_val) and each replica's MSE (R,); zeros where not
    `validated` (no rows, or not this epoch)."""
    rows = st.rows
    with torch.no_grad():
        if not validated:
            return torch.empty(n_rep, 0, device=dev), torch.zeros(n_rep, device=dev)
        if st.exact is not None:
            raw = torch.from_numpy(st.exact.forward(st.x_val_numpy)[0])
        else:
            raw = model.forward(st.net, st.params, rows.x_val, EVALUATION)
        pred = raw * rows.y_scale + rows.y_mean
        return pred, ((pred - rows.y_val) ** 2).mean(dim=1)


class _History:
    """Per-epoch losses, learning rates and times, and which replicas diverged when."""

    def __init__(self, epochs: int, n_rep: int, dev) -> None:
        self.train_mse = np.zeros((epochs, n_rep))
        self.val_mse = np.zeros((epochs, n_rep))
        self.lr = np.zeros(epochs)
        self.time_sec = np.zeros(epochs)
        self.alive = torch.ones(n_rep, dtype=torch.bool, device=dev)
        self.all_alive = True
        self.diverged_at: list[int | None] = [None] * n_rep

    def loss(self, per_replica: torch.Tensor) -> torch.Tensor:
        """The summed loss of the replicas still alive: a diverged one gets no more gradient."""
        return per_replica.sum() if self.all_alive else torch.where(self.alive, per_replica, 0.0).sum()

    def record(self, epoch: int, train: torch.Tensor, val: torch.Tensor, validated: bool) -> None:
        """One epoch's MSEs; a replica whose loss is not finite is diverged from then on (NaN)."""
        finite = torch.isfinite(train) & torch.isfinite(val)
        newly = self.alive & ~finite
        if newly.any():
            for r in torch.nonzero(newly).flatten().tolist():
                self.diverged_at[r] = epoch + 1
            self.alive &= finite
            self.all_alive = False
        dead = ~self.alive
        self.train_mse[epoch] = torch.where(dead, torch.nan, train).cpu().numpy()
        self.val_mse[epoch] = torch.where(dead | (not validated), torch.nan, val).cpu().numpy()


@dataclass
class _Stack:
    """Everything one training loop steps: the rows, the network, the flat buffer of every
    replica's parameters and its views, the optimizer, each seed's batch generator and the
    records."""

    rows: _Rows
    net: list  # model.network
    seeds: tuple[int, ...]
    flat: torch.Tensor
    params: list[torch.Tensor]  # every parameter of every layer, (R, *shape), views of flat
    optimizer: FlatOptimizer
    gens: list[torch.Generator]
    linears: list[tuple[torch.Tensor, torch.Tensor]]  # each linear layer's weight and bias
    layer_sizes: torch.Tensor  # weights and biases of each linear layer, for mean |gradient|
    history: _History
    exact: CpuNet | None  # the exact CPU pass; None on a GPU or without it (autograd)
    x_val_numpy: np.ndarray | None  # the validation rows as the exact pass reads them
    steps: int = 0  # optimizer steps taken


def _stack(run: Run, seeds: list[int], x_train, y_train, x_val, y_val, dev) -> _Stack:
    rows = _rows(run, len(seeds), x_train, y_train, x_val, y_val, dev)
    net = model.network(run, rows.x.shape[-1])
    flat, params = _stacked_parameters(net, seeds, dev)
    linears = [tuple(part) for layer, part in model.per_layer(net, params) if isinstance(layer, Linear)]
    layer_sizes = torch.tensor(
        [w.shape[1] * w.shape[2] + b.shape[2] for w, b in linears], dtype=torch.float32, device=dev
    )
    lib = native() if dev.type == "cpu" else None
    return _Stack(
        rows=rows,
        net=net,
        seeds=tuple(seeds),
        flat=flat,
        params=params,
        optimizer=FlatOptimizer(flat, run),
        gens=[torch.Generator().manual_seed(SHUFFLE_SEED_OFFSET + s) for s in seeds],
        linears=linears,
        layer_sizes=layer_sizes,
        history=_History(run.epochs, len(seeds), dev),
        exact=None if lib is None else CpuNet(lib, flat.detach().numpy(), flat.grad.numpy(), net, len(seeds)),
        x_val_numpy=None if rows.x_val is None or lib is None else rows.x_val.numpy(),
    )


def _result(st: _Stack, run: Run, grad_sum, val_pred, val_at, state_dicts_at, dev) -> TrainResult:
    """What the loop recorded, and the replicas' weights after the last epoch."""
    h, rows = st.history, st.rows
    n_batches = (rows.n_rows + run.batch_size - 1) // run.batch_size
    return TrainResult(
        train_mse=h.train_mse,
        val_mse=h.val_mse,
        lr=h.lr,
        time_sec=h.time_sec,
        diverged_at=h.diverged_at,
        grad_last_epoch=(grad_sum / n_batches).cpu().numpy(),
        state_dicts=_state_dicts(st.net, st.params, rows.y_mean, rows.y_scale),
        val_predictions=val_pred.detach().cpu().numpy(),
        parameters=model.parameter_count(st.net),
        device=str(dev),
        val_predictions_at=val_at,
        state_dicts_at=state_dicts_at,
    )


@contextlib.contextmanager
def _memory_kept():
    """While training: the objects alive before it (the libraries' modules, mostly) frozen out of
    the collections that the loop's temporaries set off every few hundred steps, and thawed after,
    so that the caller's process collects as before; and glibc's malloc keeping freed memory."""
    _keep_freed_memory()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@functools.cache  # once per process: the setting is the process's
def _keep_freed_memory() -> None:
    """Let glibc's malloc keep the memory the loop frees, for the next step's arrays of the same
    sizes: by default it unmaps arrays above 128 KiB and trims the heap on free, and each step
    then pays the page faults of its fresh temporaries again. Nothing changes where the C
    library is another one."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError, TypeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 256 << 20)


def _gradient_step(st: _Stack, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """One batch's forward and backward pass: every replica's gradient into `flat.grad`, and
    each replica's MSE on the batch (R,)."""
    step = Step(training=True, seeds=st.seeds, number=st.steps)
    st.steps += 1
    if st.exact is None:  # autograd
        per_replica = ((model.forward(st.net, st.params, xb, step) - yb) ** 2).mean(dim=1)
        st.flat.grad.zero_()  # in place: the layers' gradients are views of it
        st.history.loss(per_replica).backward()
        return per_replica.detach()
    pred, cache = st.exact.forward(xb.numpy(), step)
    with np.errstate(over="ignore", invalid="ignore"):
        diff = pred - yb.numpy()
        alive = None if st.history.all_alive else st.history.alive.numpy()
        st.exact.backward(cache, _loss_gradient(diff, alive))
        return torch.from_numpy(diff * diff).mean(dim=1)


def train(
    run: Run,
    seeds: list[int],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    device: str = "cpu",
    snapshot_epochs: tuple[int, ...] = (),
    every_epoch_validated: bool = True,
) -> TrainResult:
    """Train `run` once per seed, all seeds stacked; record the history of every epoch.

    The data are shared by every replica ((rows, inputs) and (rows,)), or each replica has its
    own rows of the same size ((R, rows, inputs) and (R, rows)): the replicas of several splits
    then train side by side like seeds. `snapshot_epochs` keeps weights and validation
    predictions after those epochs (a snapshot ensemble's members). Without
    `every_epoch_validated`, only those epochs and the last are validated (val_mse NaN elsewhere),
    for callers that read nothing else.
    """
    dev = pick_device(device)
    check_training(dev.type)
    # Vanishing gradients in deep nets reach float32's subnormal range, where x86 arithmetic is
    # many times slower; flushed to zero they cost nothing and change nothing that matters.
    torch.set_flush_denormal(True)
    n_rep = len(seeds)
    st = _stack(run, seeds, x_train, y_train, x_val, y_val, dev)
    rows, history = st.rows, st.history
    grad_sum = torch.zeros(len(st.layer_sizes), n_rep, device=dev)
    val_at: dict[int, np.ndarray] = {}
    state_dicts_at: dict[int, list[dict[str, torch.Tensor]]] = {}
    start = time.perf_counter()
    with _memory_kept():
        for epoch in range(run.epochs):
            # One pass over each replica's rows in its own order.
            history.lr[epoch] = st.optimizer.lr
            sse = torch.zeros(n_rep, device=dev)
            for xb, yb in _epoch_batches(rows, st.gens, run.batch_size, dev):
                sse += _gradient_step(st, xb, yb) * yb.shape[1]
                if epoch == run.epochs - 1:
                    grad_sum += _mean_abs_gradients(st.linears, st.layer_sizes)
                st.optimizer.step()
            st.optimizer.end_epoch()
            # Validate, record, and keep the snapshots asked for.
            now = every_epoch_validated or epoch + 1 in snapshot_epochs or epoch + 1 == run.epochs
            validated = now and rows.x_val is not None
            val_pred, val_mse = _validate(st, n_rep, dev, validated)
            history.record(epoch, sse / rows.n_rows * rows.loss_scale, val_mse, validated)
            if epoch + 1 in snapshot_epochs:
                val_at[epoch + 1] = val_pred.detach().cpu().numpy()
                state_dicts_at[epoch + 1] = _state_dicts(st.net, st.params, rows.y_mean, rows.y_scale)
            history.time_sec[epoch] = time.perf_counter() - start

    return _result(st, run, grad_sum, val_pred, val_at, state_dicts_at, dev)
