"""The `concrete-study` command: score new rows of a table's raw inputs with the final model."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from concrete_study.errors import DataError, ModelFileError


def read_rows(rows: str):
    """The CSV of rows to score (a path, or - for standard input). A row with more or fewer fields
    than the header is an error: pandas would shift its values a column or fill in blanks."""
    import pandas as pd

    if rows != "-" and not Path(rows).exists():
        raise DataError(f"{rows}: file not found")
    try:
        text = sys.stdin.read() if rows == "-" else Path(rows).read_text()
    except UnicodeDecodeError as exc:
        raise DataError(f"{rows}: not a readable CSV ({exc.reason})") from None
    records = [r for r in csv.reader(io.StringIO(text)) if r]
    for number, record in enumerate(records[1:], start=1):
        if len(record) != len(records[0]):
            raise DataError(
                f"{rows}: row {number} has {len(record)} fields, the header {len(records[0])}: "
                "every row needs one value per column"
            )
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{rows}: not a readable CSV ({str(exc).splitlines()[0]})") from None


def predict(model: str, rows: str, output: str | None) -> None:
    import torch

    from concrete_study.files import write_csv
    from concrete_study.model_file import load_model

    torch.set_num_threads(1)  # as the workflow's jobs: MKL's bytes may depend on the thread count
    final = load_model(model)
    frame = read_rows(rows)
    scored = final.predict_table(frame, source=rows)
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
        help="predict the target of a table's rows with a final model",
        description="The CSV needs exactly the raw input columns of the model's table (the model "
        "file names them); its target column may stay. Output: the rows with predicted_<target> "
        "(ensemble mean), predicted_<target>_std (spread over seeds), lower_<target> and "
        "upper_<target> (the model's split-conformal interval, 90% by default) and out_of_range "
        "(the inputs outside the range seen in training, if any).",
    )
    p.add_argument("--model", default="results/final/model.pt", help="final model file")
    p.add_argument("--output", "-o", help="write CSV here instead of standard output")
    p.add_argument("rows", help="CSV of rows to score, or - for standard input")
    args = parser.parse_args(argv)
    try:
        predict(args.model, args.rows, args.output)
    except (DataError, ModelFileError) as exc:
        print(f"concrete-study: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
