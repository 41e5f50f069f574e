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
    """Set each `key.path=value` in a copy of `recipe` (intermediate mappings are created).

    The partition follows the root: overriding a section's `root` (`data.root=/data/CASIA-B-pkl`) without its
    `partition` keeps only the partition's file name, which `DataConfig` looks up in the new root (see there).
    """
    out = copy.deepcopy(recipe)
    keys = [parse_override(text)[0] for text in overrides]
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
        if path[-1] == "root" and [*path[:-1], "partition"] not in keys and isinstance(node.get("partition"), str):
            node["partition"] = Path(node["partition"]).name
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


def _example(value: Any) -> str:
    """A value as it is typed after `key=` on the command line (YAML flow style, no spaces)."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_example(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


EXAMPLES = {int: 200, float: 0.1, str: "name", bool: True}


def _key(where: str) -> str:
    """The dotted recipe key of a location: 'recipes/x.yaml.data.input_size' → 'data.input_size'."""
    for sep in (".yaml.", ".yml.", ": ", "recipe."):
        if sep in where:
            where = where.rsplit(sep, 1)[-1]
    return where


def _wrong(where: str, what: str, value: Any, example: Any) -> GaitCompressError:
    """'<where>: expected <what>, got <value>' with the hint `write <key>=<example>`."""
    key = _key(where)
    return GaitCompressError(
        f"{where}: expected {what}, got {value!r}", f"write {key} as {what}, e.g. {key}={_example(example)}"
    )


def _coerce(tp: Any, value: Any, where: str, example: Any = None) -> Any:
    """Convert a YAML value to the annotated type `tp` (dataclasses recurse; tuples from lists).

    A value of the wrong shape (a number where a list or a section belongs, a list of the wrong length) is an error
    naming the key, with `example` (the field's default) as the fix.
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where, example) if len(args) == 1 else value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            key = _key(where)
            raise GaitCompressError(
                f"{where}: expected a section of keys, got {value!r}",
                f"set the keys inside it, e.g. {key}.<key>=value (see {tp.__name__})",
            )
        return from_dict(tp, value, where)
    if origin is dict and not isinstance(value, Mapping):
        raise _wrong(where, "a mapping", value, example if example else "{}")
    if origin is tuple:
        args = typing.get_args(tp)
        variable = len(args) == 2 and args[1] is Ellipsis
        shape = "a list" if variable else f"a list of {len(args)} values"
        if not isinstance(value, (list, tuple)) or (not variable and len(value) != len(args)):
            raise _wrong(where, shape, value, example if example is not None else [EXAMPLES.get(a, 0) for a in args])
        if variable:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if tp is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            raise _wrong(where, "a number", value, example if example is not None else 0.1) from None
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        key, article = _key(where), "an" if tp is int else "a"
        shown = _example(example if example is not None else EXAMPLES[tp])
        raise GaitCompressError(
            f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}",
            f"write {key} as {article} {tp.__name__}, e.g. {key}={shown}",
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
        default = fields[key].default
        example = None if default is dataclasses.MISSING or dataclasses.is_dataclass(default) else default
        kwargs[key] = _coerce(hints[key], value, f"{where}.{key}", example)
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
