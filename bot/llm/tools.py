"""Tools as data: a plain typed function becomes a tool the model may call, its JSON schema generated from
the signature and its description from the docstring (first paragraph; `Args:` lines describe parameters).

Calls are checked against the schema before they run: a missing or mistyped argument is an error the model
reads and corrects, never a crash.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARG_LINE = re.compile(r"^\s{2,}(\w+):\s*(.+)$")


class ToolInputError(ValueError):
    """A tool call's input does not fit the tool's schema; the message says what is wrong."""


@dataclass(frozen=True)
class Tool:
    """A tool the model may call: name, description, JSON schema, the function, and whether it only reads."""

    name: str
    description: str
    input_schema: dict[str, Any]
    fn: Callable[..., Any]
    read_only: bool = True

    def spec(self) -> dict[str, Any]:
        """The tool as the Messages API takes it."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def call(self, args: Any) -> Any:
        """Run the tool on `args` once they fit its schema (ToolInputError when they do not)."""
        return self.fn(**check_input(self.input_schema, args))


def _schema_of(annotation: Any) -> dict[str, Any]:
    origin = get_origin(annotation)
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if origin is Literal:
        return {"type": "string", "enum": [str(a) for a in get_args(annotation)]}
    if origin in (list, tuple, typing.Sequence) or annotation is list:
        inner = get_args(annotation)
        return {"type": "array", "items": _schema_of(inner[0]) if inner else {"type": "string"}}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return _schema_of(options[0])
    raise TypeError(f"no JSON schema for the annotation {annotation!r}")


def _doc(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The docstring's description (before `Args:`) and its per-argument lines."""
    doc = inspect.getdoc(fn) or ""
    head, _, args = doc.partition("Args:")
    described: dict[str, str] = {}
    for line in ("\n" + args).splitlines():
        m = _ARG_LINE.match("  " + line.strip()) if line.strip() else None
        if m:
            described[m.group(1)] = m.group(2).strip()
    return " ".join(head.split()), described


def tool(fn: Callable[..., Any], *, name: str | None = None, read_only: bool = True) -> Tool:
    """The tool for `fn`: every parameter typed (str, int, float, bool, Literal, list[...], X | None)."""
    hints = typing.get_type_hints(fn)
    description, arg_docs = _doc(fn)
    if not description:
        raise TypeError(f"{fn.__name__} has no docstring to describe it to the model")
    props: dict[str, Any] = {}
    required: list[str] = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self":
            continue
        prop = _schema_of(hints[p.name])
        if p.name in arg_docs:
            prop["description"] = arg_docs[p.name]
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
        elif p.default is not None:
            prop["default"] = p.default if not isinstance(p.default, tuple) else list(p.default)
        props[p.name] = prop
    schema = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    return Tool(name or fn.__name__, description, schema, fn, read_only)


def _fits(value: Any, schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "string":
        return isinstance(value, str) and ("enum" not in schema or value in schema["enum"])
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list) and all(_fits(v, schema.get("items", {})) for v in value)
    return True


def check_input(schema: Mapping[str, Any], args: Any) -> dict[str, Any]:
    """`args` when it fits `schema`; ToolInputError naming each problem otherwise."""
    if not isinstance(args, dict):
        raise ToolInputError("the input must be a JSON object")
    props: Mapping[str, Any] = schema.get("properties", {})
    problems = [f"`{k}` is required" for k in schema.get("required", []) if k not in args]
    problems += [
        f"`{k}` is not a parameter (there are: {', '.join(props) or 'none'})" for k in args if k not in props
    ]
    problems += [
        f"`{k}` must be {_what(props[k])}, not {type(v).__name__}"
        for k, v in args.items()
        if k in props and v is not None and not _fits(v, props[k])
    ]
    if problems:
        raise ToolInputError("; ".join(problems))
    return dict(args)


def _what(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(schema["enum"])
    if schema.get("type") == "array":
        return f"an array of {_what(schema.get('items', {}))}"
    return f"a {schema.get('type', 'value')}"
