"""The standard benchmark's train/test splits (published ones, or seeded random ones): reading,
checking, inner splits.

Each split is a pair of files `index_train_N.txt` / `index_test_N.txt` of 0-based row positions
of the spreadsheet, one a line. Every problem is one DataError line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from concrete_study.errors import DataError
from concrete_study.files import check_md5

PARTS = ("train", "test")


def split_file(directory: str | Path, part: str, index: int) -> Path:
    return Path(directory) / f"index_{part}_{index}.txt"


def split_file_names(n_splits: int) -> list[str]:
    return [split_file(".", part, i).name for i in range(n_splits) for part in PARTS]


def _read_rows(path: Path, n_rows: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(
            f"{path}: split file not found (get the splits with `dvc pull`, or let the workflow's "
            "download_splits rule fetch them where no DVC remote is configured)"
        )
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        try:
            row = int(text)
        except ValueError:
            raise DataError(f"{path}: line {number}: {text[:40]!r} is not a row position") from None
        if not 0 <= row < n_rows:
            raise DataError(f"{path}: line {number}: row {row} is out of range 0..{n_rows - 1}")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no row positions")
    rows = np.asarray(rows, dtype=np.int64)
    values, counts = np.unique(rows, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{path}: row {values[counts > 1][0]} is listed twice")
    return rows


def read_published_split(directory: str | Path, index: int, n_rows: int) -> dict[str, np.ndarray]:
    """One split's train and test rows (in file order), checked: in range, disjoint, complete."""
    train, test = (_read_rows(split_file(directory, part, index), n_rows) for part in PARTS)
    both = np.intersect1d(train, test)
    if len(both):
        raise DataError(
            f"{split_file(directory, 'test', index)}: row {both[0]} is also in "
            f"{split_file(directory, 'train', index).name}: train and test must not overlap"
        )
    if len(train) + len(test) != n_rows:
        missing = np.setdiff1d(np.arange(n_rows), np.concatenate([train, test]))
        raise DataError(
            f"{split_file(directory, 'train', index)}: with its test file it covers "
            f"{len(train) + len(test)} of {n_rows} rows (row {missing[0]} is in neither)"
        )
    return {"train": train, "test": test}


def read_splits(
    directory: str | Path, n_splits: int, n_rows: int | None = None
) -> list[dict[str, np.ndarray]]:
    """The first `n_splits` splits; all must have the same sizes, so that they stack.

    Without `n_rows` (before the dataset is read), the first split's two files set it.
    """
    if n_rows is None:
        first = split_file(directory, "train", 0), split_file(directory, "test", 0)
        n_rows = sum(len(p.read_text().split()) for p in first if p.is_file()) or 1
    splits = [read_published_split(directory, i, n_rows) for i in range(n_splits)]
    sizes = {(len(s["train"]), len(s["test"])) for s in splits}
    if len(sizes) > 1:
        raise DataError(f"{directory}: splits differ in size {sorted(sizes)}; expected one size")
    return splits


def read_md5s(md5_file: str | Path) -> dict[str, str]:
    """File name -> md5, from a file in `md5sum` format."""
    expected = {}
    for line in Path(md5_file).read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            expected[name] = digest
    return expected


def check_md5s(directory: str | Path, md5_file: str | Path, n_splits: int) -> None:
    """Every present split file of the first `n_splits` has the md5 that `md5_file` lists."""
    expected = read_md5s(md5_file)
    for name in split_file_names(n_splits):
        path = Path(directory) / name
        if name not in expected:
            raise DataError(f"{md5_file}: no md5 for {name}")
        if path.is_file():
            why = (
                f"({md5_file}): not the published split; "
                "restore it with `dvc checkout data.dvc` or `dvc pull`"
            )
            check_md5(path.read_bytes(), expected[name], path, why)


def random_splits(n_rows: int, n_splits: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Seeded random 90/10 splits, for a table without published ones: split N from seed + N."""
    n_test = round(0.1 * n_rows)
    splits = []
    for i in range(n_splits):
        order = np.random.default_rng(seed + i).permutation(n_rows)
        splits.append({"train": np.sort(order[n_test:]), "test": np.sort(order[:n_test])})
    return splits


def inner_split(train: np.ndarray, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """A seeded split of a training part into inner train and inner validation rows."""
    order = np.random.default_rng(seed).permutation(len(train))
    n_val = round(val_fraction * len(train))
    return {"train": np.sort(train[order[n_val:]]), "val": np.sort(train[order[:n_val]])}


def split_groups(n_splits: int, jobs: int) -> list[list[int]]:
    """The split numbers in `jobs` groups of consecutive numbers (fewer where there are fewer
    splits): one job each, so that a candidate's training runs on as many cores. A replica trains
    as it would alone, so the results are the same for any number of jobs."""
    return [group.tolist() for group in np.array_split(np.arange(n_splits), min(jobs, n_splits))]


def splits_subset(splits: dict[str, np.ndarray], numbers: list[int]) -> dict[str, np.ndarray]:
    """The stacked rows (train, test, inner_train, inner_val) of the splits `numbers` only."""
    return {key: rows[numbers] for key, rows in splits.items()}
