"""The checks and text forms every config shares: frozen dataclasses of plain values.

Configs validate themselves when built (`check_int`, `check_choice`), travel as JSON beside
every checkpoint (`to_dict` / `from_dict`), and take `--set field=value` text from the command
line (`apply_overrides`). One function each, so every config and argument says its errors the
same way.
"""
from __future__ import annotations

import dataclasses
import typing

import numpy as np


def check_int(name: str, value, minimum: int = 1, meaning: str = "") -> int:
    """`value` as an int when it is one (a bool is not) and at least `minimum`; else a
    ValueError naming `name` and what was expected (`meaning` adds what a value stands for)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {expected}{meaning}, got {value!r}")
    return int(value)


def check_positive_ints(config, names) -> None:
    for name in names:
        check_int(name, getattr(config, name))


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def to_dict(config) -> dict:
    """A JSON-ready dict of a config (tuples become lists)."""
    return dataclasses.asdict(config)


def from_dict(cls, values: dict):
    """Rebuild `cls` from `to_dict` output; unknown keys are an error, missing ones default."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}")
    return cls(**values)


def parse_field(cls, name: str, text: str):
    """Turn the text of `--set name=text` into the value `cls.name` expects, by its type hint."""
    hints = typing.get_type_hints(cls)
    if name not in hints:
        raise ValueError(f"--set {name}: unknown field; {cls.__name__} has {sorted(hints)}")
    hint = hints[name]
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union:          # Optional[X]
        if text == "None":
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    try:
        if typing.get_origin(hint) is tuple:
            item = args[0]
            parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
            return tuple(_parse_scalar(item, p) for p in parts)
        return _parse_scalar(hint, text)
    except ValueError:
        raise ValueError(f"--set {name}={text}: expected {_describe(hint)}") from None


def as_text(value) -> str:
    """A field's value as `--set` text (the inverse of `parse_field`)."""
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _parse_scalar(kind, text: str):
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    return kind(text)


def _describe(hint) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a comma-separated list of {typing.get_args(hint)[0].__name__}"
    return {bool: "true or false", int: "an int", float: "a float"}.get(hint, hint.__name__)


def apply_overrides(config, assignments):
    """config.replace(...) from ['field=value', ...]; unknown fields are an error."""
    changes = {}
    for item in assignments or []:
        if "=" not in item:
            raise ValueError(f"--set expects field=value, got {item!r}")
        name, text = item.split("=", 1)
        changes[name] = parse_field(type(config), name, text)
    return dataclasses.replace(config, **changes)
