"""Command-line subcommands built from typed ``run_*`` functions: one mechanism, one source of help.

A tool is a plain function; its signature is the command line and its docstring the help:

* positional-only parameters (before ``/``) are positional arguments, the others ``--options``;
  a parameter without a default is required;
* ``--num-frames`` and ``--num_frames`` both name ``num_frames`` (dashes are shown, the
  underscore spelling matches LightningCLI's ``--ckpt_path``); a trailing ``_`` is dropped
  (``list_`` is ``--list``);
* ``bool`` (default ``False``) is a flag, ``Literal[...]`` a choice, ``Optional[X]`` an ``X`` that
  may be left out, ``list[X]`` takes one or more values (an option may also be repeated);
* the docstring's first line is the one-line help, the rest the description, and its
  ``Args:`` section the help of each argument; defaults are appended from the signature.

jsonargparse (the LightningCLI commands' parser) builds parsers from signatures too, but spells
options as the parameters (``--num_frames`` only), wants ``--json true`` for flags and a
``--lists+`` for appending: every documented command would change. This keeps them.
"""
import argparse
import inspect
import typing
from typing import Any, Callable, Literal, Union

import docstring_parser


def _unwrap(hint: Any) -> Any:
    """The type inside ``Optional[...]`` (an option left out is ``None``)."""
    if typing.get_origin(hint) is Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _escape(text: str) -> str:
    return (text or "").replace("%", "%%")


def _argument(param: inspect.Parameter, hint: Any, help_text: str) -> tuple[list[str], dict]:
    """argparse ``add_argument`` names and keywords for one parameter."""
    hint = _unwrap(hint)
    positional = param.kind is inspect.Parameter.POSITIONAL_ONLY
    has_default = param.default is not inspect.Parameter.empty
    default = list(param.default) if isinstance(param.default, (tuple, list)) else param.default
    kwargs: dict[str, Any] = {"help": _escape(help_text)}
    if hint is bool:
        if not has_default or param.default is not False:
            raise TypeError(f"{param.name}: a bool option is a flag and must default to False")
        kwargs["action"] = "store_true"
    elif typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (str,)
        kwargs.update(type=item, nargs=("*" if has_default else "+") if positional else "+")
        if not positional:
            kwargs["action"] = "extend"
    elif typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        kwargs.update(type=type(choices[0]), choices=choices)
    else:
        kwargs["type"] = hint if hint in (int, float, str) else str
    if positional:
        if has_default and kwargs.get("nargs") is None and kwargs.get("action") is None:
            kwargs["nargs"] = "?"
        kwargs["metavar"] = param.name.rstrip("_").upper()
        return [param.name], {**kwargs, **({"default": default} if has_default else {})}
    if has_default:
        kwargs["default"] = default
        if not (default is None or default is False or default == []) and "default" not in help_text:
            kwargs["help"] += f" (default: {_escape(str(default))})"
    else:
        kwargs["required"] = True
    name = param.name.rstrip("_")
    flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
    if kwargs.get("action") != "store_true" and "choices" not in kwargs:
        kwargs["metavar"] = name.upper()
    return flags, {**kwargs, "dest": param.name}


def add_command(subparsers, name: str, func: Callable[..., int]) -> argparse.ArgumentParser:
    """Add subcommand ``name`` whose arguments are ``func``'s parameters (see the module doc)."""
    doc = docstring_parser.parse(inspect.getdoc(func) or "")
    summary = doc.short_description or ""
    parser = subparsers.add_parser(
        name, help=_escape(summary), formatter_class=argparse.RawDescriptionHelpFormatter,
        description="\n\n".join(filter(None, [summary, doc.long_description])))
    helps = {p.arg_name: " ".join((p.description or "").split()) for p in doc.params}
    hints = typing.get_type_hints(func)
    for param in inspect.signature(func).parameters.values():
        flags, kwargs = _argument(param, hints.get(param.name, str), helps.get(param.name, ""))
        parser.add_argument(*flags, **kwargs)
    parser.set_defaults(func=func)
    return parser


def call(func: Callable[..., int], args: argparse.Namespace) -> int:
    """Run ``func`` with the parsed ``args`` (positional-only parameters by position)."""
    positional, keywords = [], {}
    for param in inspect.signature(func).parameters.values():
        value = getattr(args, param.name)
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            positional.append(value)
        else:
            keywords[param.name] = value
    return func(*positional, **keywords)
