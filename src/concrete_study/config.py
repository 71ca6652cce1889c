"""Loading and checking the study's config: JSON Schema with defaults, then cross-checks.

Every problem becomes one ConfigError line that names the key, the value and what was expected.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import jsonschema
import yaml

from concrete_study.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a study must not."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"duplicate key {key!r} at line {key_node.start_mark.line + 1}: each name may appear once"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML file, rejecting duplicate keys."""
    try:
        with open(path) as fh:
            data = yaml.load(fh, Loader=_UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return data or {}


def _with_defaults(validator_class):
    """A validator that fills in `default` values of properties as it goes."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    key = _key_path(error.absolute_path)
    value = error.instance
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        name = f"{key}.{extra[0]}" if key != "(top level)" and extra else (extra[0] if extra else key)
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"config key {name!r}: unknown key{hint}"
    if v == "type":
        hint = ""
        if isinstance(value, str) and error.validator_value in ("number", "integer"):
            try:
                float(value)
                hint = " (YAML reads 1e-3 as a string: write 1.0e-3)"
            except ValueError:
                pass
        return f"config key {key!r}: value {value!r} is not of type {error.validator_value!r}{hint}"
    if v == "enum":
        return f"config key {key!r}: value {value!r} is not one of {error.validator_value}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": ">=",
            "exclusiveMinimum": ">",
            "maximum": "<=",
            "exclusiveMaximum": "<",
        }
        return f"config key {key!r}: value {value!r} must be {words[v]} {error.validator_value}"
    if v in ("minItems", "minProperties"):
        return f"config key {key!r}: value {value!r} must not be empty"
    if v == "required":
        return f"config key {key!r}: {error.message}"
    if v == "uniqueItems":
        return f"config key {key!r}: value {value!r} names an item twice"
    return f"config key {key!r}: value {value!r}: {error.message}"


def validate(config: dict, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Check `config` against the schema, fill in defaults, cross-check; return a new dict."""
    config = copy.deepcopy(config)
    schema = read_yaml(schema_path)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_explain(jsonschema.exceptions.best_match(errors)))
    split = config["split"]
    total = split["train"] + split["val"] + split["test"]
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"config key 'split': fractions train {split['train']} + val {split['val']} + "
            f"test {split['test']} = {total:g}, expected 1"
        )
    for name, experiment in config["experiments"].items():
        for i, grid in enumerate(experiment["grids"]):
            if ("width" in grid) != ("depth" in grid):
                raise ConfigError(f"config key 'experiments.{name}.grids[{i}]': width and depth go together")
            if "hidden" in grid and "width" in grid:
                raise ConfigError(
                    f"config key 'experiments.{name}.grids[{i}]': give hidden or width+depth, not both"
                )
    # Expanding the experiments checks what only resolved runs can show (figures' runs), and
    # every other run the config names must be one that can train.
    from concrete_study.runs import expand_study, resolve

    try:
        resolve(config)
    except ConfigError as exc:
        raise ConfigError(f"config key 'base': {exc}") from None
    expand_study(config)
    for i, overrides in enumerate(config["benchmark"]["candidates"]):
        key = f"benchmark.candidates[{i}]"
        try:
            resolve(config, overrides)
        except ConfigError as exc:
            raise ConfigError(f"config key {key!r}: {exc}") from None
    return config


def load(path: str | Path, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Read and validate a config file."""
    return validate(read_yaml(path), schema_path)
