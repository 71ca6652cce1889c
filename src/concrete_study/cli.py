"""The `concrete-study` command: score new concrete mixtures with the final model."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from concrete_study.data import FEATURES
from concrete_study.errors import DataError, ModelFileError


def read_mixtures(mixtures: str):
    """The CSV of mixtures (a path, or - for standard input). A row with more or fewer fields
    than the header is an error: pandas would shift its values a column or fill in blanks."""
    import pandas as pd

    if mixtures != "-" and not Path(mixtures).exists():
        raise DataError(f"{mixtures}: file not found")
    try:
        text = sys.stdin.read() if mixtures == "-" else Path(mixtures).read_text()
    except UnicodeDecodeError as exc:
        raise DataError(f"{mixtures}: not a readable CSV ({exc.reason})") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    for number, row in enumerate(rows[1:], start=1):
        if len(row) != len(rows[0]):
            raise DataError(
                f"{mixtures}: row {number} has {len(row)} fields, the header {len(rows[0])}: "
                "every row needs one value per column"
            )
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{mixtures}: not a readable CSV ({str(exc).splitlines()[0]})") from None


def predict(model: str, mixtures: str, output: str | None) -> None:
    import torch

    from concrete_study.files import write_csv
    from concrete_study.model_file import load_model

    torch.set_num_threads(1)  # as the workflow's jobs: MKL's bytes may depend on the thread count
    final = load_model(model)
    frame = read_mixtures(mixtures)
    scored = final.predict_table(frame, source=mixtures)
    outside = int((scored["out_of_range"] != "").sum())
    if outside:
        print(
            f"concrete-study: warning: {outside} of {len(scored)} rows have inputs outside the range "
            "seen in training (column out_of_range): their predictions are extrapolations",
            file=sys.stderr,
        )
    if output:
        write_csv(output, scored)
    else:
        scored.to_csv(sys.stdout, index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="concrete-study", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "predict",
        help="predict compressive strength for a CSV of mixtures",
        description=f"The CSV needs exactly the columns {', '.join(FEATURES)} (amounts in kg/m³, "
        "age in days); a strength column may stay. Output: the rows with "
        "predicted_strength_mpa (ensemble mean), predicted_strength_std_mpa (spread over seeds), "
        "lower_mpa and upper_mpa (the model's split-conformal interval, 90% by default) and "
        "out_of_range (the inputs outside the range seen in training, if any).",
    )
    p.add_argument("--model", default="results/final/model.pt", help="final model file")
    p.add_argument("--output", "-o", help="write CSV here instead of standard output")
    p.add_argument("mixtures", help="CSV of mixtures, or - for standard input")
    args = parser.parse_args(argv)
    try:
        predict(args.model, args.mixtures, args.output)
    except (DataError, ModelFileError) as exc:
        print(f"concrete-study: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
