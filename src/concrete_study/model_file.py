"""The final model's file: the seed ensemble with its scaler and its table's facts (Dataset),
saved and loaded safely, and used to score new rows of the table's raw inputs."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from concrete_study import model
from concrete_study.cpu_pass import CpuNet, native
from concrete_study.data import Standardiser
from concrete_study.dataset import Dataset
from concrete_study.errors import ConfigError, DataError, ModelFileError
from concrete_study.evaluation import Blend, Interval, conformal_interval, seed_spread
from concrete_study.inputs import derive, parse
from concrete_study.layers import EVALUATION
from concrete_study.runs import Run

MODEL_FORMAT = "concrete-study-model/8"


class Ensemble:
    """The seed models of one configuration (`run`'s network, model.network), averaged; raw inputs
    in, the scaler's columns (raw, or derived by `derived`'s expressions: inputs.py) computed from
    them. Each seed predicts the mean of its members' predictions: the members are its weights
    after its last epoch and after any snapshot epochs it keeps (Run.members). Every member runs
    in one stack, through the exact CPU pass as in training (the same bytes as the engine's
    validation predictions), or in torch where that pass is not built."""

    def __init__(
        self, run: Run, scaler: Standardiser, state_dicts: dict[str, list[dict]], derived: dict[str, str]
    ):
        self.run = run
        self.scaler = scaler
        self.state_dicts = state_dicts
        self.derived = derived
        self.net = model.network(run, len(scaler.columns))
        members = [model.from_state_dict(self.net, sd) for sds in state_dicts.values() for sd in sds]
        self.members = [len(sds) for sds in state_dicts.values()]
        self.params = [torch.stack(part).float() for part in zip(*members, strict=True)]
        self._exact: CpuNet | None = None
        lib = native()
        if lib is not None:
            values = torch.cat([p.reshape(-1) for p in self.params]).numpy()
            self._exact = CpuNet(lib, values, np.zeros_like(values), self.net, len(members))

    def predict_scaled(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every seed, (seeds, rows), from standardised inputs."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        stacked = np.broadcast_to(x, (sum(self.members), *x.shape))  # every member reads the rows
        if self._exact is not None:
            pred = self._exact.forward(stacked)[0]
        else:
            with torch.no_grad():
                pred = model.forward(self.net, self.params, torch.from_numpy(stacked), EVALUATION).numpy()
        out, start = [], 0
        for n in self.members:
            out.append(pred[start] if n == 1 else np.mean(pred[start : start + n], axis=0))
            start += n
        return np.stack(out)

    def predict(self, frame: pd.DataFrame, source: str = "rows") -> np.ndarray:
        return self.predict_scaled(
            self.scaler.transform(derive(frame, self.scaler.columns, self.derived, source))
        )


class Served:
    """What the final model serves: the network's seed ensemble alone, or its equal blend
    (evaluation.Blend) with the peer's LightGBM boosters, seed k with seed k (kept as the model
    strings LightGBM writes: plain text, which torch's safe loading accepts)."""

    def __init__(
        self,
        ensemble: Ensemble,
        features: list[str],
        boosters: list[str] | None = None,
        params: dict | None = None,
    ):
        self.ensemble, self.features, self.boosters, self.params = ensemble, features, boosters or [], params
        self.blend = Blend(parts=2 if self.boosters else 1)
        self._trees = None

    def parts(self, frame: pd.DataFrame, source: str = "rows") -> list[np.ndarray]:
        """Each part's predictions per seed, (seeds, rows): the network's, then the peer's (on the
        raw inputs, `features`)."""
        parts = [self.ensemble.predict(frame, source)]
        if self.boosters:
            x = frame[self.features].to_numpy(np.float64)
            parts.append(np.stack([t.predict(x) for t in self.trees()]))
        return parts

    def predict(self, frame: pd.DataFrame, source: str = "rows") -> np.ndarray:
        """Every seed's prediction of the target, (seeds, rows), from raw inputs."""
        return self.blend.combine(self.parts(frame, source))

    def trees(self) -> list:
        """The peer's boosters, read from their model strings once."""
        if self._trees is None:
            import lightgbm as lgb

            self._trees = [lgb.Booster(model_str=b) for b in self.boosters]
        return self._trees

    def description(self) -> dict:
        return {
            "weights": list(self.blend.weights),
            "peer_params": self.params,
            "peer_seeds": len(self.boosters),
        }

    def to_dict(self) -> dict | None:
        if not self.boosters:
            return None
        return {"params": self.params, "boosters": self.boosters}


def model_bundle(
    run: dict,
    seeds: list[int],
    served: Served,
    metrics: dict,
    interval: dict,
    input_range: dict,
    dataset: Dataset,
) -> dict:
    """Everything needed to predict, in types that torch.load(weights_only=True) accepts.

    `interval` holds the conformal interval (evaluation.Interval) and its record on the test
    rows; `input_range` the [min, max] of each
    input over the training rows, beyond which a prediction is an extrapolation; `peer` the
    peer's parameters and boosters, or None for the network alone; `dataset` the table's facts
    (its inputs, target, units, bounds and derived inputs' expressions).
    """
    ensemble = served.ensemble
    return {
        "format": MODEL_FORMAT,
        "description": description(dataset),
        "dataset": dataset.params(),
        "hidden": list(ensemble.run.hidden),
        "run": dict(run),
        "seeds": list(seeds),
        "scaler": ensemble.scaler.to_dict(),
        "state_dicts": ensemble.state_dicts,
        "metrics": metrics,
        "interval": interval,
        "input_range": input_range,
        "peer": served.to_dict(),
    }


def description(dataset: Dataset) -> str:
    """What the model predicts from what, in words."""
    return (
        f"predicts {dataset.label(dataset.target)} of the table {dataset.name!r} from its raw inputs "
        f"{', '.join(dataset.features)}"
    )


def output_columns(target: str) -> list[str]:
    """The columns `predict` adds, named after the target: the mean and std over seeds, the
    interval's ends, and the inputs outside the training range."""
    return [
        f"predicted_{target}",
        f"predicted_{target}_std",
        f"lower_{target}",
        f"upper_{target}",
        "out_of_range",
    ]


@dataclass
class Model:
    """A final model as its file holds it: its table's facts, what it serves, its split-conformal
    interval, each input's range over the training rows, and the whole content (run, seeds,
    metrics)."""

    dataset: Dataset
    served: Served
    interval: Interval
    input_range: dict[str, list[float]]
    content: dict

    def predict_table(self, frame: pd.DataFrame, source: str) -> pd.DataFrame:
        """The input rows with the predicted target (mean and std over seeds), its interval, and
        the inputs outside the range seen in training."""
        # A known target column may stay (to compare); any other extra column is an error.
        inputs = self.dataset.check_rows(frame, source)
        parts = self.served.parts(inputs, source)
        pred = self.served.blend.combine(parts)
        mean, std, lower, upper, outside = output_columns(self.dataset.target)
        out = frame.copy()
        out[mean] = pred.mean(axis=0)
        out[std] = pred.std(axis=0, ddof=1) if len(pred) > 1 else 0.0
        out[lower], out[upper] = conformal_interval(
            out[mean], self.interval.half_width(seed_spread(*parts)), self.dataset.lower_bound()
        )
        features = self.dataset.features
        beyond = pd.DataFrame(
            {f: ~inputs[f].between(*self.input_range[f]) for f in features}, index=inputs.index
        )
        out[outside] = [",".join(f for f in features if row[f]) for _, row in beyond.iterrows()]
        return out


def _checked_dataset(path: Path, data: dict) -> Dataset:
    """The model's table as its file describes it: derived inputs only in the language
    (inputs.py), since the file may come from elsewhere, and every input the scaler reads."""
    dataset = Dataset.from_params(data["dataset"])
    for name, expression in dataset.derived.items():
        parse(expression, dataset.features, f"derived input {name!r}")
    unknown = [c for c in data["scaler"]["columns"] if c not in dataset.columns("derived")]
    if unknown:
        raise ModelFileError(f"{path}: reads an input its table does not define: {unknown[0]!r}")
    return dataset


def load_model(path: str | Path) -> Model:
    """Load a model file safely (weights_only=True) and check that it is complete."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        # torch's message is a paragraph; its "WeightsUnpickler error:" line names the cause.
        lines = [ln.strip() for ln in str(exc).splitlines() if "Unpickler error" in ln]
        cause = lines[0] if lines else "unsafe or unreadable content"
        raise ModelFileError(f"{path}: refused, not a safe model file ({cause})") from None
    except Exception as exc:
        raise ModelFileError(f"{path}: not a model file ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("concrete-study-model/"):
        raise ModelFileError(f"{path}: not a concrete-study model (expected {MODEL_FORMAT})")
    if data["format"] != MODEL_FORMAT:
        raise ModelFileError(
            f"{path}: format {data['format']}, this version reads {MODEL_FORMAT}: rebuild it "
            "(snakemake results/final/model.pt)"
        )
    try:
        dataset = _checked_dataset(path, data)
        state_dicts = data["state_dicts"]
        if not all(isinstance(sds, list) and sds for sds in state_dicts.values()):
            raise TypeError("a seed's weights are not a list of its members")
        scaler = Standardiser.from_dict(data["scaler"])
        ensemble = Ensemble(Run(**data["run"]), scaler, state_dicts, dataset.derived)
        peer = data.get("peer")
        served = Served(ensemble, dataset.features, *(peer["boosters"], peer["params"]) if peer else ())
        if peer and (
            len(served.boosters) != len(ensemble.members)
            or not all(isinstance(b, str) for b in served.boosters)
        ):
            raise TypeError("the peer's boosters")
        model = Model(
            dataset,
            served,
            Interval.from_dict(data["interval"]),
            {f: data["input_range"][f] for f in dataset.features},
            data,
        )
    except DataError as exc:
        raise ModelFileError(f"{path}: refused: {exc}") from None
    except (ConfigError, KeyError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelFileError(f"{path}: damaged model file ({first})") from None
    try:
        if model.served.boosters:
            model.served.trees()
    except Exception as exc:  # LightGBM's own error for a model string it cannot read
        raise ModelFileError(
            f"{path}: damaged model file (the peer's boosters: {exc.__class__.__name__})"
        ) from None
    return model
