"""Recipes: plain YAML → resolved dict → validated dataclasses.

A recipe is `yaml.safe_load`-ed (no tags, so it can never execute code), may name one `base:`
recipe (a path relative to itself; the base may not have a base of its own), and takes
`key.path=value` overrides from the command line, whose values are parsed as YAML scalars
(`train.iterations=200`, `model.name=gaitbase_w025`, `loss.ab.weight=0.003`). Each stage turns the
resolved dict into its own frozen dataclasses with `from_dict`, which rejects an unknown key by
naming it, the file it came from, and the nearest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gaitcompress.errors import GaitCompressError, did_you_mean

T = TypeVar("T")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise GaitCompressError(f"recipe not found: {path}", "check the path; recipes live under recipes/")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise GaitCompressError(f"{path}: not valid YAML ({exc})", "fix the syntax at the line shown") from exc
    if not isinstance(data, dict):
        raise GaitCompressError(f"{path}: a recipe must be a mapping at top level", "write `key: value` lines")
    return data


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `over` onto `base` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` → (['a', 'b', 'c'], yaml-parsed value)."""
    if "=" not in text:
        raise GaitCompressError(f"override {text!r} has no '='", "write overrides as key.path=value")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise GaitCompressError(f"override {text!r} has an empty key", "write overrides as key.path=value")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(recipe: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set each `key.path=value` in a copy of `recipe` (intermediate mappings are created)."""
    out = copy.deepcopy(recipe)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise GaitCompressError(
                    f"override {text!r}: {part!r} is a value, not a section", "override the value itself"
                )
            node = nxt
        node[path[-1]] = value
    return out


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read a recipe, resolve its one `base:` level and apply overrides; records its own source."""
    path = Path(path)
    data = _read_yaml(path)
    base_name = data.pop("base", None)
    if base_name is not None:
        base_path = (path.parent / str(base_name)).resolve()
        base = _read_yaml(base_path)
        if "base" in base:
            raise GaitCompressError(
                f"{base_path}: a base recipe may not have a base of its own",
                f"merge it into {base_path.name} (one base level keeps recipes readable)",
            )
        data = merge(base, data)
    data = apply_overrides(data, overrides)
    data.setdefault("source", str(path))
    return data


def save_recipe(recipe: Mapping[str, Any], path: str | Path) -> None:
    """Write the resolved recipe next to the artifacts it produced."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(dict(recipe), sort_keys=False))


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type `tp` (dataclasses recurse; tuples from lists)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where) if len(args) == 1 else value
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_dict(tp, value, where)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=False))
    if tp is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError as exc:
            raise GaitCompressError(f"{where}: {value!r} is not a number", "write a number") from exc
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise GaitCompressError(
            f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}",
            f"write a {tp.__name__} value",
        )
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "recipe") -> T:
    """Build dataclass `cls` from `data`; an unknown key is an error naming it and the nearest key.

    `where` is the dotted location used in messages (e.g. 'recipes/synthgait/quick.yaml: train').
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise GaitCompressError(f"{where}: unknown key {key!r}", did_you_mean(key, fields))
        kwargs[key] = _coerce(hints[key], value, f"{where}.{key}")
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """Dataclass → plain dict/list tree, for saving resolved configs."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
