"""Derived inputs: named expressions over a table's columns, in a language that cannot run code.

A table's config may define derived inputs (`dataset.derived`: name -> expression), for example
a logarithm, `log(days)`, or a ratio, `a / (b + c)`. A run with `inputs: derived` reads the raw
inputs and these; `derive` computes them wherever a model is used (training, the benchmark,
`predict`), and a model file carries the expressions. An expression is numbers, column names,
+ - * / **, unary minus and the functions in FUNCTIONS: Python's parser reads it, and only
those nodes are accepted, so a model file from elsewhere cannot make `predict` run anything.
"""

from __future__ import annotations

import ast

import numpy as np

from concrete_study.errors import DataError

FUNCTIONS = {
    "log": np.log,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
}
OPERATORS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}


ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Name,
    ast.Constant,
    ast.Load,
    ast.Call,
    ast.USub,
    ast.UAdd,
    *OPERATORS,
)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse(expression: str, columns: list[str], where: str) -> ast.Expression:
    """The expression's tree, checked: only the language's nodes, only known columns, functions
    only called. `where` names the expression in errors (for example "dataset.derived.log_age")."""
    if not isinstance(expression, str):
        raise DataError(f"{where}: {expression!r} is not an expression (a string)")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise DataError(f"{where}: {expression!r} is not a valid expression") from None
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED):
            raise DataError(
                f"{where}: {expression!r} uses {type(node).__name__}, which the language does not have "
                f"(numbers, columns, + - * / **, and {', '.join(FUNCTIONS)})"
            )
        if isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name)
            or node.func.id not in FUNCTIONS
            or len(node.args) != 1
            or node.keywords
        ):
            raise DataError(
                f"{where}: {expression!r}: only {', '.join(FUNCTIONS)} of one argument may be called"
            )
        if isinstance(node, ast.Name) and id(node) not in called and node.id not in columns:
            raise DataError(
                f"{where}: {expression!r} names {node.id!r}, which is not a column of the table "
                f"(columns: {', '.join(columns)})"
            )
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise DataError(f"{where}: {expression!r}: {node.value!r} is not a number")
    return tree


def _evaluate(node: ast.AST, columns: dict[str, np.ndarray]):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, columns)
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, columns)
        return np.negative(value) if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return OPERATORS[type(node.op)](_evaluate(node.left, columns), _evaluate(node.right, columns))
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](_evaluate(node.args[0], columns))
    raise DataError(f"unexpected {type(node).__name__}")  # parse() lets no other node through


def evaluate(expression: str, table, where: str) -> np.ndarray:
    """The expression on every row of `table` (a DataFrame), float64, checked to be finite on
    each: a row where it is not (a division by 0, the log of 0) is one DataError naming it."""
    tree = parse(expression, list(table.columns), where)
    values = {name: table[name].to_numpy(np.float64) for name in table.columns}
    with np.errstate(all="ignore"):
        out = np.broadcast_to(np.asarray(_evaluate(tree, values), dtype=np.float64), (len(table),))
    bad = ~np.isfinite(out)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: row {row + 1}: {expression!r} is undefined there ({out[row]})")
    return out


def derive(table, columns: list[str], derived: dict[str, str], source: str = "rows"):
    """The columns a model reads, from the raw inputs of `table` (a DataFrame): raw columns as
    they are, derived ones computed by their expressions (`derived`: name -> expression)."""
    extra = {}
    for name in columns:
        if name in table.columns:
            continue
        if name not in derived:
            raise DataError(f"{source}: missing input {name!r}")
        extra[name] = evaluate(derived[name], table, f"{source}: derived input {name!r}")
    return table.assign(**extra)[columns] if extra else table[columns]
