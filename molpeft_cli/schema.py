"""Each step's settings are declared once, as fields of a config dataclass: name, type, default and help. The CLI
derives its options from them, the pipeline turns a recorded command line back into the same config, and a TOML
`--config` file uses the same names.

`option(...)`/`argument(...)` build the dataclass fields; `make` builds a config from settings given by name (how
the pipeline builds its steps), `settings_for` checks such settings once (a profile's overrides); `to_args` writes
a config as the command line that stands for it (manifests, the Makefile, the Snakefile, `--dry-run`) and
`parse_args` reads one back (tests, and manifests written before configs were recorded); `config_record` is the
JSON form a manifest records.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Collection, Sequence
from dataclasses import MISSING, Field
from pathlib import Path
from typing import Any

from molpeft_cli.errors import InputError, MolpeftError, SettingError


def option(default: Any = MISSING, help: str = "", *, flags: Sequence[str] = (), cli: bool = True,
           default_factory: Any = MISSING, nested: bool = False, comma: bool = False, **extra: Any) -> Any:
    """A setting given as `--name VALUE` (or `flags`, e.g. ("--output", "-o"); a bool: ("--bf16/--fp32",) or
    ("--truncate",) for an on-only switch). `cli=False` keeps it out of the command line (Python-only).
    `nested=True`: a dataclass whose own fields are options of this command (a training recipe; also the
    command's TOML table). `comma=True`: a list given as one comma-separated value. `extra` is passed on to the
    CLI option (min=..., metavar=...)."""
    metadata = {"help": help, "flags": tuple(flags), "kind": "nested" if nested else "option", "cli": cli,
                "extra": extra, "comma": comma}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def argument(default: Any = MISSING, help: str = "", *, metavar: str | None = None, **extra: Any) -> Any:
    """A positional command-line argument."""
    metadata = {"help": help, "kind": "argument", "metavar": metavar, "cli": True, "extra": extra}
    return dataclasses.field(default=default, metadata=metadata)


def cli_fields(cls: type) -> list[Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True) and f.init]


def nested_fields(cls: type) -> list[Field]:
    return [f for f in cli_fields(cls) if f.metadata.get("kind") == "nested"]


def _options_of(cls: type) -> list[tuple[Field, Any, str | None]]:
    """(field, its type, the nested field it belongs to) for every option of a command, nested ones included."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in cli_fields(cls):
        kind = f.metadata.get("kind")
        if kind == "nested":
            inner = hints[f.name]
            inner_hints = typing.get_type_hints(inner)
            out += [(g, inner_hints[g.name], f.name) for g in cli_fields(inner)]
        elif kind == "option":
            out.append((f, hints[f.name], None))
    return out


def base_type(tp: Any) -> tuple[Any, bool]:
    """(the type without `| None`, whether None is allowed)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), True
    return tp, False


def option_flags(f: Field, tp: Any) -> tuple[list[str], list[str]]:
    """(flags that set the option, or a bool on; flags that set a bool off)."""
    declared = list(f.metadata.get("flags") or ())
    if tp is bool:
        if not declared:
            name = "--" + f.name.replace("_", "-")
            return [name], ["--no-" + name[2:]]
        on, off = [], []
        for flag in declared:
            if "/" in flag:
                yes, no = flag.split("/")
                on.append(yes)
                off.append(no)
            else:
                on.append(flag)
        return on, off
    return declared or ["--" + f.name.replace("_", "-")], []


def flag_of(cls: type, setting: str) -> str:
    """The command-line spelling of a setting (its first flag, or its metavar for an argument)."""
    for f in cli_fields(cls):
        if f.name == setting and f.metadata.get("kind") == "argument":
            return f.metadata.get("metavar") or f.name.upper()
    for f, declared, _ in _options_of(cls):
        if f.name == setting:
            tp, _ = base_type(declared)
            on, _ = option_flags(f, tp)
            return on[0]
    return "--" + setting.replace("_", "-")


def split_comma(value: str, tp: Any, name: str) -> list:
    """A comma-separated value as a list of `tp`'s items (blank items dropped)."""
    (item,) = typing.get_args(tp) or (str,)
    items = [t.strip() for t in value.split(",") if t.strip()]
    try:
        return [item(t) for t in items]
    except ValueError:
        raise SettingError(name, f"{{setting}} must be comma-separated {item.__name__} values, got {value!r}") from None


def _convert(value: str, tp: Any, name: str) -> Any:
    try:
        if tp is int:
            return int(value)
        if tp is float:
            return float(value)
    except ValueError:
        raise SettingError(name, f"{{setting}} expects a {tp.__name__}, got {value!r}") from None
    return value


def parse_args(cls: type, args: Sequence[str]) -> Any:
    """The config that `args` (a step's command line without the program and command names) stands for, read as
    the CLI reads it: positionals in order, `--flag VALUE`, `--flag=VALUE`, bool switches, repeatable list
    options, fixed-length tuple options."""
    hints = typing.get_type_hints(cls)
    positionals = [f for f in cli_fields(cls) if f.metadata.get("kind") == "argument"]
    by_flag: dict[str, tuple[Field, Any, Any, str | None]] = {}
    for f, declared, group in _options_of(cls):
        tp, _ = base_type(declared)
        on, off = option_flags(f, tp)
        for flag in on:
            by_flag[flag] = (f, True if tp is bool else None, tp, group)
        for flag in off:
            by_flag[flag] = (f, False, tp, group)
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {f.name: {} for f in nested_fields(cls)}
    position = 0
    tokens = list(args)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("-") and token != "-":
            flag, _, inline = token.partition("=")
            if flag not in by_flag:
                raise MolpeftError(f"{cls.__name__}: unknown option {flag}")
            f, switch, tp, group = by_flag[flag]
            values = nested[group] if group else top
            if switch is not None:
                values[f.name] = switch
                continue
            origin = typing.get_origin(tp)
            if origin is tuple:
                item_types = typing.get_args(tp)
                raw = tokens[i:i + len(item_types)]
                i += len(item_types)
                values[f.name] = tuple(_convert(v, t, f.name) for v, t in zip(raw, item_types, strict=True))
                continue
            if inline:
                raw = inline
            else:
                if i >= len(tokens):
                    raise SettingError(f.name, "{setting} needs a value")
                raw = tokens[i]
                i += 1
            if origin is list and f.metadata.get("comma"):
                values[f.name] = split_comma(raw, tp, f.name)
            elif origin is list:
                (item,) = typing.get_args(tp)
                values.setdefault(f.name, []).append(_convert(raw, item, f.name))
            else:
                values[f.name] = _convert(raw, tp, f.name)
        else:
            if position >= len(positionals):
                raise MolpeftError(f"{cls.__name__}: unexpected argument {token!r}")
            values = top
            f = positionals[position]
            tp, _ = base_type(hints[f.name])
            if typing.get_origin(tp) is list:  # a variadic positional takes the rest
                (item,) = typing.get_args(tp)
                values.setdefault(f.name, []).append(_convert(token, item, f.name))
                continue
            values[f.name] = _convert(token, tp, f.name)
            position += 1
    return build(cls, top, nested)


def build(cls: type, values: dict[str, Any], nested: dict[str, dict[str, Any]]) -> Any:
    """A command's config from the settings given explicitly (top-level `values`, and each nested recipe's own):
    defaults < the TOML file named by the `config` setting (if any) < the given values."""
    hints = typing.get_type_hints(cls)
    values = dict(values)
    nested = {name: dict(given) for name, given in nested.items()}
    if values.get("config"):
        groups = {f.name: g for f, _, g in _options_of(cls)}
        for name, value in read_settings_file(cls, values["config"]).items():
            target = nested.setdefault(groups[name], {}) if groups[name] else values
            target.setdefault(name, value)
    try:
        inner = {f.name: hints[f.name](**nested.get(f.name, {})) for f in nested_fields(cls)}
        return cls(**values, **inner)
    except TypeError as exc:
        raise MolpeftError(f"bad settings for {command_of(cls)}: {exc}") from None


def command_of(cls: type) -> str:
    return getattr(cls, "command", cls.__name__)


def settings_names(cls: type) -> set[str]:
    """The names a settings file may set: every option of the command (nested recipes flattened), but not the
    file itself and not positional arguments."""
    return {f.name for f, _, _ in _options_of(cls)} - {"config"}


def read_settings_file(cls: type, path: str | Path) -> dict[str, Any]:
    """The settings in a TOML file for a command: its `[<command>]` table, or the top level; unknown names are
    refused (the same names as the command's options, with underscores)."""
    import tomllib

    path = Path(path)
    if path.is_dir():
        raise InputError(f"config file {path} is a folder, not a TOML file")
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    command = command_of(cls)
    data = data.get(command, data)
    unknown = sorted(set(data) - settings_names(cls))
    if unknown:
        raise InputError(f"config file {path} has unknown fields for {command}: {', '.join(unknown)}")
    declared = {f.name: tp for f, tp, _ in _options_of(cls)}
    for name, value in data.items():
        expected = _toml_kind(declared[name], value)
        if expected:
            raise InputError(f"config file {path}: field `{name}` must be {expected}, got {value!r}")
    return data


def _toml_kind(declared: Any, value: Any) -> str | None:
    """What a TOML value for a setting of type `declared` should be, when `value` is not that; None when fine."""
    tp, optional = base_type(declared)
    if value is None and optional:
        return None
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp) or (str,)
        if not isinstance(value, list):
            return f"a list of {_KIND.get(item, item.__name__)}"
        bad = [v for v in value if _toml_kind(item, v)]
        return f"a list of {_KIND.get(item, item.__name__)}" if bad else None
    if tp is bool:
        return None if isinstance(value, bool) else _KIND[bool]
    if tp is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else _KIND[int]
    if tp is float:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else _KIND[float]
    if tp is str:
        return None if isinstance(value, str) else _KIND[str]
    return None  # tuples and other shapes: the config class checks them


_KIND = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


CONFIG_HELP = ("TOML file with this command's settings (a table named after the command, or top level; names as "
               "the options, with underscores); options given on the command line win.")


def config_option() -> Any:
    """The `config` field every step's config has: a settings file, one meaning across commands."""
    return option(None, CONFIG_HELP)


def settings_for(cls: type, **values: Any) -> types.MappingProxyType:
    """Settings of a command by name, as in its TOML table (a nested recipe's settings by their own names),
    checked against the command's declarations: each name is one of its settings and each value of the declared
    kind. Read-only, so a profile's overrides cannot be changed by a plan that uses them."""
    declared = {f.name: tp for f, tp, _ in _options_of(cls)}
    unknown = _unknown_settings(cls, values)
    if unknown:
        raise TypeError(f"{command_of(cls)} has no setting {', '.join(unknown)}")
    for name, value in values.items():
        expected = _toml_kind(declared[name], value) if name in declared else None
        if expected:
            raise TypeError(f"{command_of(cls)} setting {name} must be {expected}, got {value!r}")
    return types.MappingProxyType(dict(values))


def _unknown_settings(cls: type, names: Collection[str]) -> list[str]:
    """The names that are neither an option (nested recipes' included) nor a positional argument of `cls`."""
    known = {f.name for f, _, _ in _options_of(cls)} | {f.name for f in cli_fields(cls)
                                                       if f.metadata.get("kind") == "argument"}
    return sorted(set(names) - known)


def make(cls: type, **settings: Any) -> Any:
    """A command's config from settings given by name (positionals and options, a nested recipe's by their own
    names; the rest at their defaults), validated as the CLI's would be."""
    groups = {f.name: g for f, _, g in _options_of(cls)}
    unknown = _unknown_settings(cls, settings)
    if unknown:
        raise MolpeftError(f"{command_of(cls)} has no setting {', '.join(unknown)}")
    if settings.get("config"):
        raise MolpeftError("make() takes settings, not a settings file")
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in settings.items():
        group = groups.get(name)
        (nested.setdefault(group, {}) if group else top)[name] = value
    return build(cls, top, nested)


def config_record(config: Any) -> dict[str, Any]:
    """A config as plain JSON values (nested recipes as objects, tuples as lists, paths as strings): what a
    manifest records, and what a recorded one is compared with."""
    import json

    return json.loads(json.dumps(jsonable(dataclasses.asdict(config))))


def defaults_record(cls: type) -> dict[str, Any]:
    """`config_record`'s form of the defaults of `cls`'s fields that have one (nested recipes as their defaults)."""
    import json

    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not MISSING:
            out[f.name] = jsonable(f.default)
        elif f.default_factory is not MISSING:
            value = f.default_factory()
            out[f.name] = jsonable(dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
    return json.loads(json.dumps(out))


def with_defaults(record: dict[str, Any], cls: type) -> dict[str, Any]:
    """A recorded config with the settings it does not name at their defaults: a record made before a setting
    existed reads as that setting's default, so adding a setting does not make every earlier output stale."""
    hints = typing.get_type_hints(cls)
    merged = {**defaults_record(cls), **record}
    for f in nested_fields(cls):
        if isinstance(merged.get(f.name), dict):
            merged[f.name] = {**defaults_record(hints[f.name]), **merged[f.name]}
    return merged


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: dicts (string keys) and lists of numbers, strings, booleans and None; enums as
    their values, paths and anything else as strings. The one conversion of configs and manifests."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "value") and hasattr(type(value), "__members__"):  # enums
        return value.value
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def to_args(config: Any, explicit: Collection[str] = ()) -> list[str]:
    """The command-line arguments that stand for `config`, so that `parse_args(type(config), to_args(config)) ==
    config`. Settings left at their defaults are omitted, except those named in `explicit` (what a plan set: its
    command lines then say so, and keep meaning the same if a default changes)."""
    cls = type(config)
    hints = typing.get_type_hints(cls)
    positional: list[str] = []
    options: list[str] = []
    for f in cli_fields(cls):
        value = getattr(config, f.name)
        kind = f.metadata.get("kind")
        if kind == "argument":
            if value is None:
                continue
            positional += [str(v) for v in value] if isinstance(value, list) else [str(value)]
        elif kind == "nested":
            inner_hints = typing.get_type_hints(type(value))
            for g in cli_fields(type(value)):
                options += _option_args(g, inner_hints[g.name], getattr(value, g.name), g.name in explicit)
        else:
            options += _option_args(f, hints[f.name], value, f.name in explicit)
    return positional + options


def _option_args(f: Field, declared: Any, value: Any, explicit: bool = False) -> list[str]:
    default = f.default if f.default is not MISSING else (
        f.default_factory() if f.default_factory is not MISSING else MISSING)
    if (value == default and not explicit) or value is None:
        return []
    tp, _ = base_type(declared)
    on, off = option_flags(f, tp)
    if tp is bool:
        if value:
            return [on[0]]
        if not off:
            raise MolpeftError(f"{f.name}=False has no command-line form")
        return [off[0]]
    if f.metadata.get("comma"):
        return [on[0], ",".join(str(v) for v in value)]
    origin = typing.get_origin(tp)
    if origin is list:
        return [token for v in value for token in (on[0], str(v))]
    if origin is tuple:
        return [on[0], *(repr(v) if isinstance(v, float) else str(v) for v in value)]
    return [on[0], repr(value) if isinstance(value, float) else str(value)]


def check_numbers(config: Any, minimums: dict[str, tuple[float, bool]] = {}) -> None:  # noqa: B006 (read only)
    """Refuse a setting's number outside its range (one SettingError naming it): every number of `config` (a
    dataclass) must be finite, and each named in `minimums` at least (inclusive=True) or above (False) its bound;
    None (unset) passes. Lists of numbers are checked item by item."""
    import math

    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int | float):
                continue
            if not math.isfinite(item):
                raise SettingError(f.name, f"{{setting}} must be a finite number, got {item!r}")
            if f.name in minimums:
                bound, inclusive = minimums[f.name]
                if item < bound or (item == bound and not inclusive):
                    words = "at least" if inclusive else "more than"
                    raise SettingError(f.name, f"{{setting}} must be {words} {bound:g}, got {item!r}")


def check_choices(setting: str, items: Sequence[str], choices: Sequence[str], *, empty_ok: bool = False) -> None:
    """Each item of a list setting must be one of `choices`, named once; a typo is refused, never dropped."""
    if not items and not empty_ok:
        raise SettingError(setting, f"{{setting}} names none; choose from {', '.join(choices)}")
    unknown = [item for item in items if item not in choices]
    if unknown:
        raise SettingError(setting, f"unknown {{setting}} {', '.join(map(repr, unknown))}; choose from "
                           f"{', '.join(choices)}")
    repeated = sorted({item for item in items if list(items).count(item) > 1})
    if repeated:
        raise SettingError(setting, f"{{setting}} names {', '.join(map(repr, repeated))} more than once")


def check_not_empty(config: Any, names: Sequence[str]) -> None:
    """Refuse an empty (or all-blank) string for each named setting that is set (a path, a name)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, str) and not value.strip():
            raise SettingError(name, "{setting} is empty")
