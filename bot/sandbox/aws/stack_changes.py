"""What a scenario's ``stack_change`` text says a stack update changed, resource by resource.

Scenario authors write a stack update the way CloudFormation's console or ``aws cloudformation describe-change-set``
would show it::

    Stack media-resize-prod UPDATE_COMPLETE (change set cap-lambda-concurrency-2291, by ci-deployer)
    AWS::Lambda::Function ImageResizeFunction: Modify
      ReservedConcurrentExecutions: 200 -> 20
    Description: "cap concurrency so a runaway batch resize cannot starve the account's Lambda pool"

:func:`parse_stack_change` reads that generally: a resource line (``AWS::Type LogicalId: Modify|Add|Remove``, or
``Modify AWS::Type LogicalId``) followed by its property lines (``Property: old -> new``, or ``Property: value``
for a resource being added), ``Parameter Name: old -> new`` lines, an unindented ``Description: ...`` and a
``change set <name>`` mention. Text that names no resource says nothing about which properties changed: it is
read as a code release (a new value of the stack's ``Version`` parameter), which is what such an update usually is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The words authors use for a resource's fate, as CloudFormation's change-set actions.
_ACTIONS = {
    "modify": "Modify",
    "update": "Modify",
    "replace": "Modify",
    "add": "Add",
    "create": "Add",
    "remove": "Remove",
    "delete": "Remove",
}
_TYPE = r"(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+(?:::[A-Za-z0-9]+)?)"
_LOGICAL = r"([A-Za-z][A-Za-z0-9]*)"
_ACTION = r"(modify|update|replace|add|create|remove|delete)"
_RESOURCE_FIRST = re.compile(rf"^\s*{_TYPE}\s+{_LOGICAL}\s*[:(\-]?\s*{_ACTION}\b\W*(.*)$", re.IGNORECASE)
_ACTION_FIRST = re.compile(rf"^\s*{_ACTION}\s+{_TYPE}\s+{_LOGICAL}\b\W*(.*)$", re.IGNORECASE)
_ARROW = r"\s*(?:->|→|=>)\s*"
_PROPERTY = re.compile(rf"^(\s*)([A-Za-z][\w.\[\]/]*)\s*:\s*(.*?){_ARROW}(.*?)\s*$")
_VALUE = re.compile(r"^(\s*)([A-Za-z][\w.\[\]/]*)\s*:\s*(.+?)\s*$")
_PARAMETER = re.compile(rf"^\s*Parameters?\s+([A-Za-z][\w]*)\s*:\s*(.*?){_ARROW}(.*?)\s*$", re.IGNORECASE)
_CHANGE_SET = re.compile(r"change[- ]set\s+([A-Za-z][-A-Za-z0-9]*)", re.IGNORECASE)
_REPLACEMENT = re.compile(r"replace(?:ment)?\s*[:=]?\s*(true|yes)|\breplace\b", re.IGNORECASE)


@dataclass(frozen=True)
class PropertyEdit:
    """One property of one resource: its value before (None: not set) and after (None: removed)."""

    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class ResourceEdit:
    """One resource a stack update touched, with CloudFormation's action for it."""

    type: str
    logical_id: str
    action: str  # Modify | Add | Remove
    properties: tuple[PropertyEdit, ...] = ()
    replacement: bool = False


@dataclass(frozen=True)
class StackChange:
    """A stack update as a change set would list it."""

    resources: tuple[ResourceEdit, ...]
    parameters: tuple[PropertyEdit, ...] = ()
    description: str = ""
    change_set_name: str | None = None
    text: str = ""
    #: False when the text named no resource (the update is then read as a new version of the code).
    explicit: bool = True


@dataclass
class _Reading:
    resources: list[ResourceEdit] = field(default_factory=list)
    props: list[PropertyEdit] = field(default_factory=list)
    parameters: list[PropertyEdit] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    current: tuple[str, str, str, bool] | None = None  # type, logical id, action, replacement

    def close(self) -> None:
        if self.current is not None:
            rtype, logical, action, replace = self.current
            self.resources.append(ResourceEdit(rtype, logical, action, tuple(self.props), replace))
        self.current, self.props = None, []


def parse_stack_change(text: str) -> StackChange:
    """The resources, properties, parameters and description a ``stack_change`` text names."""
    r = _Reading()
    for raw in text.splitlines():
        if not raw.strip():
            continue
        _read_line(r, raw)
    r.close()
    found = _CHANGE_SET.search(text)
    description = " ".join(r.description).strip().strip('"').strip()
    explicit = bool(r.resources)
    return StackChange(
        resources=tuple(r.resources),
        parameters=tuple(r.parameters),
        description=description if explicit else (description or text.strip()),
        change_set_name=found.group(1) if found else None,
        text=text,
        explicit=explicit,
    )


def _read_line(r: _Reading, raw: str) -> None:
    head = _RESOURCE_FIRST.match(raw)
    if head:
        r.close()
        rtype, logical, verb, rest = head.groups()
        r.current = (rtype, logical, _ACTIONS[verb.lower()], _replaces(verb, rest))
        return
    head = _ACTION_FIRST.match(raw)
    if head:
        r.close()
        verb, rtype, logical, rest = head.groups()
        r.current = (rtype, logical, _ACTIONS[verb.lower()], _replaces(verb, rest))
        return
    par = _PARAMETER.match(raw)
    if par:
        r.parameters.append(PropertyEdit(par.group(1), _value(par.group(2)), _value(par.group(3))))
        return
    prop = _PROPERTY.match(raw)
    if prop and r.current is not None:
        r.props.append(PropertyEdit(prop.group(2), _value(prop.group(3)), _value(prop.group(4))))
        return
    value = _VALUE.match(raw)
    if value and r.current is not None and value.group(1):
        r.props.append(PropertyEdit(value.group(2), None, _value(value.group(3))))
        return
    if value and value.group(2).lower() == "description":
        r.close()
        r.description.append(value.group(3))


def _replaces(verb: str, rest: str) -> bool:
    return verb.lower() == "replace" or bool(_REPLACEMENT.search(rest))


def _value(text: str) -> str | None:
    """A value as written, unquoted; ``none``/``unset``/``-`` mean not set."""
    v = text.strip().strip('"').strip("'").strip()
    return None if v.lower() in ("", "none", "unset", "(none)", "-", "null") else v


def typed(value: str | None) -> object:
    """A written value as a template would hold it: integers and booleans as such, else the text."""
    if value is None:
        return None
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
