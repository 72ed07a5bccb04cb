"""CLI commands derived from the steps' config dataclasses: each field is one option (or argument) with its flags,
default and help, declared once in the library. A command here only says what to print."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer

from molpeft_cli.schema import base_type, build, cli_fields, flag_of, option_flags, split_comma

# command name -> its config class, so that errors naming a setting can show that command's flag
CONFIGS: dict[str, type] = {}


def _parameter(f: dataclasses.Field, declared: Any, default: Any) -> inspect.Parameter:
    """One Typer parameter (annotation: the type; default: the Option/Argument with the field's default)."""
    tp, _ = base_type(declared)
    annotation = declared
    if f.metadata.get("comma"):  # one comma-separated value
        annotation, default = str | None, None
    elif typing.get_origin(tp) is list:  # Typer's empty repeatable option is None
        annotation = tp | None
        if default is dataclasses.MISSING or default == []:
            default = None
    value = ... if default is dataclasses.MISSING else default  # `...`: required
    extra = dict(f.metadata.get("extra") or {})
    help_text = f.metadata.get("help", "")
    if f.metadata.get("kind") == "argument":
        info = typer.Argument(value, metavar=f.metadata.get("metavar"), help=help_text, **extra)
    else:
        on, off = option_flags(f, tp)
        flags = (list(f.metadata.get("flags") or ()) or [f"{on[0]}/{off[0]}"]) if tp is bool else on
        info = typer.Option(value, *flags, help=help_text, **extra)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=info)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _parameters(config_cls: type) -> tuple[list[inspect.Parameter], dict[str, str | None]]:
    """Typer parameters for every field (nested recipes flattened) and the nested field each belongs to."""
    hints = typing.get_type_hints(config_cls)
    params: list[inspect.Parameter] = []
    group_of: dict[str, str | None] = {}
    fields = cli_fields(config_cls)
    # arguments first: click takes positionals in declaration order, and options may come in any order
    for f in [f for f in fields if f.metadata.get("kind") == "argument"] + \
             [f for f in fields if f.metadata.get("kind") != "argument"]:
        if f.metadata.get("kind") == "nested":
            inner = hints[f.name]
            inner_hints = typing.get_type_hints(inner)
            for g in cli_fields(inner):
                params.append(_parameter(g, inner_hints[g.name], _default(g)))
                group_of[g.name] = f.name
        else:
            params.append(_parameter(f, hints[f.name], _default(f)))
            group_of[f.name] = None
    return params, group_of


def config_from_cli(config_cls: type, ctx: typer.Context, values: dict[str, Any],
                    group_of: dict[str, str | None]):
    """The config the command line gives: only the settings given on it, so that a settings file (`--config`)
    and then the dataclass defaults fill the rest."""
    hints = typing.get_type_hints(config_cls)
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {g: {} for g in set(group_of.values()) if g}
    for name, value in values.items():
        if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") == "DEFAULT":
            continue  # not given: the settings file's value, else the dataclass default
        group = group_of[name]
        owner = config_cls if group is None else base_type(hints[group])[0]  # a nested recipe's own field
        tp = base_type(typing.get_type_hints(owner)[name])[0]
        if isinstance(value, tuple) and typing.get_origin(tp) is list:
            value = list(value)
        if value is not None and _field(owner, name).metadata.get("comma"):
            value = split_comma(value, tp, name)
        if group is not None:
            nested[group][name] = value
        else:
            top[name] = value
    return build(config_cls, top, nested)


def _field(config_cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(config_cls) if f.name == name)


def step_command(app: typer.Typer, name: str, config_cls: type, handle: Callable[[typer.Context, Any], None],
                 doc: str) -> None:
    """Register command `name` whose options are `config_cls`'s fields; `handle(ctx, config)` runs it."""
    params, group_of = _parameters(config_cls)

    def command(ctx: typer.Context, **values: Any) -> None:
        handle(ctx, config_from_cli(config_cls, ctx, values, group_of))

    ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    command.__signature__ = inspect.Signature([ctx_param, *params])  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__name__ = name
    CONFIGS[name] = config_cls
    app.command(name)(command)


def flag_for(command: str | None, setting: str) -> str:
    """How the command line spells a setting of `command`."""
    config_cls = CONFIGS.get(command or "")
    return flag_of(config_cls, setting) if config_cls else "--" + setting.replace("_", "-")


def runtime_of(ctx: typer.Context):
    """The runtime the global options chose (the app callback puts it on the context)."""
    from molpeft_cli.settings import Runtime

    return ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()


def argv() -> list[str]:
    """This process's command line, recorded in the manifests."""
    import sys

    return list(sys.argv)
