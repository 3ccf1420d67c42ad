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
``change set <name>`` mention.

Text written freely, as a sentence or a summary, is read for the properties it names with their values
(``ReservedConcurrentExecutions lowered from 100 to 10``, ``DYNAMODB_ENDPOINT: a -> b``, ``set MemorySize to
512``); each is put on the resource that holds it in a stack of the service's kind (:func:`holder`). Text that
names no property says nothing about what changed: it is read as a code release (a new value of the stack's
``Version`` parameter), which is what such an update usually is.
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
_ARROW = r"\s*(?:->|→|=>)\s*"
_PROPERTY = re.compile(rf"^(\s*)([A-Za-z][\w.\[\]/]*)\s*:\s*(.*?){_ARROW}(.*?)\s*$")
_VALUE = re.compile(r"^(\s*)([A-Za-z][\w.\[\]/]*)\s*:\s*(.+?)\s*$")
_PARAMETER = re.compile(
    rf"^\s*Parameters?(?:\s+|\.)([A-Za-z][\w]*)\s*:\s*(.*?){_ARROW}(.*?)\s*$", re.IGNORECASE
)
_CHANGE_SET = re.compile(r"change[- ]set\s+([A-Za-z][-A-Za-z0-9]*)", re.IGNORECASE)
_REPLACEMENT = re.compile(
    r"replace(?:ment)?\s*[:=]?\s*(true|yes)|\breplace\b|requires\s+replacement", re.IGNORECASE
)


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
    #: A property written as ``Name:`` whose values follow: on the next line, or as ``-``/``+`` diff lines.
    pending: str | None = None
    diff: dict[str, list[list[str]]] = field(default_factory=dict)  # property -> [old lines, new lines]

    def settle(self) -> None:
        """Turn the diff lines read under the pending property into property edits."""
        for name, (old, new) in self.diff.items():
            self.props.append(PropertyEdit(name, _value(" ".join(old)), _value(" ".join(new))))
        self.pending, self.diff = None, {}

    def close(self) -> None:
        self.settle()
        if self.current is not None:
            rtype, logical, action, replace = self.current
            self.resources.append(ResourceEdit(rtype, logical, action, tuple(self.props), replace))
        self.current, self.props = None, []


def parse_stack_change(text: str, kind: str | None = None) -> StackChange:
    """The resources, properties, parameters and description a ``stack_change`` text names, for a service of
    `kind` (which resource holds a property written freely)."""
    r = _Reading()
    for raw in text.splitlines():
        if not raw.strip():
            continue
        _read_line(r, raw)
    r.close()
    freely = not r.resources
    if freely:
        r.resources.extend(read_freely(text, kind))
    found = _CHANGE_SET.search(text)
    description = " ".join(r.description).strip().strip('"').strip()
    explicit = bool(r.resources)
    return StackChange(
        resources=tuple(r.resources),
        parameters=tuple(r.parameters),
        description=description if explicit and not freely else (description or text.strip()),
        change_set_name=found.group(1) if found else None,
        text=text,
        explicit=explicit,
    )


def _read_line(r: _Reading, raw: str) -> None:
    value = _VALUE.match(raw)
    if value and not value.group(1) and value.group(2).lower() == "description":
        r.close()
        r.description.append(value.group(3))
        return
    heads = _resources_on(raw)
    if heads:
        r.close()
        for head in heads[:-1]:
            r.resources.append(ResourceEdit(head[0], head[1], head[2], (), head[3]))
        r.current = heads[-1]
        return
    par = _PARAMETER.match(raw)
    if par:
        r.parameters.append(PropertyEdit(par.group(1), _value(par.group(2)), _value(par.group(3))))
        return
    if r.current is not None:
        _read_property(r, raw)


def _read_property(r: _Reading, raw: str) -> None:
    """A line inside a resource's block: ``Name: old -> new``, ``Name:`` with its values on the lines after,
    ``old -> new`` under it, ``-``/``+`` diff lines under it, or ``Name: value`` for a value being set."""
    prop = _PROPERTY.match(raw)
    if prop and r.pending is not None and prop.group(2)[0].islower():
        prop = None  # ``name:1 -> name:2`` under ``Property:`` is its values
    if prop:
        r.settle()
        r.props.append(PropertyEdit(prop.group(2), _value(prop.group(3)), _value(prop.group(4))))
        return
    opened = re.match(r"^\s*([A-Za-z][\w.\[\]/]*)\s*:\s*$", raw)
    if opened:
        r.settle()
        r.pending = opened.group(1)
        return
    if r.pending is not None:
        _read_pending(r, raw)
        return
    value = _VALUE.match(raw)
    if value and value.group(1):
        r.props.append(PropertyEdit(value.group(2), None, _value(value.group(3))))


def _read_pending(r: _Reading, raw: str) -> None:
    """A line under ``Name:``: its values as ``old -> new``, or one side of a diff (``- old`` / ``+ new``),
    a single ``KEY: value`` in it being that key of the property (an environment variable, say)."""
    pending = r.pending or ""
    moved = re.match(rf"^\s*(.*?){_ARROW}(.*?)\s*$", raw)
    if moved and not re.match(r"^\s*[-+]\s", raw):
        r.props.append(PropertyEdit(pending, _value(moved.group(1)), _value(moved.group(2))))
        r.pending = None
        return
    side = re.match(r"^\s*([-+])\s*(.*?)\s*$", raw)
    if side is None:
        return  # an unchanged line of context
    text = _resolved(side.group(2))
    keyed = re.fullmatch(r"([A-Za-z_][\w]*)\s*:\s*(.*)", text)
    if keyed and ": " not in keyed.group(2):  # one key of the property (a variable), not a whole rule
        name, written = f"{pending}.{keyed.group(1)}", keyed.group(2)
    else:
        name, written = pending, text
    r.diff.setdefault(name, [[], []])[0 if side.group(1) == "-" else 1].append(written)


def _resolved(text: str) -> str:
    """A diff line's value: what a comment says it resolves to, else the text without its comment."""
    said = re.search(r"#.*?\bresolved(?: to)?\s*:?\s*(\S+)", text)
    bare = text.split("  #", 1)[0].split(" # ", 1)[0].strip()
    if said is None:
        return bare
    keyed = re.fullmatch(r"([A-Za-z_][\w]*)\s*:\s*.*", bare)
    return f"{keyed.group(1)}: {said.group(1)}" if keyed else said.group(1)


#: Words that are not a resource's logical id though they stand beside its type.
_NOT_LOGICAL = re.compile(r"(?i)^(?:modif|updat|add|creat|remov|delet|replac|chang|type|resource|stack)\w*$")


def _resources_on(raw: str) -> list[tuple[str, str, str, bool]]:
    """The resources a line names as CloudFormation lists them, each with its logical id beside its type
    (``AWS::Type LogicalId: Modify``, ``Modify AWS::Type LogicalId``, ``LogicalId (AWS::Type)``,
    ``~ LogicalId AWS::Type Modify Replacement: True``); none for a property line."""
    if _PROPERTY.match(raw) and not re.search(_TYPE, raw.split(":", 1)[0]):
        return []
    out: list[tuple[str, str, str, bool]] = []
    action = _action_of(raw)
    replace = _replaces(action, raw)
    for m in re.finditer(_TYPE, raw):
        before = re.search(r"([A-Za-z][A-Za-z0-9]*)[\s(,]*$", raw[: m.start()])
        after = re.match(r"[)\s,:]*([A-Za-z][A-Za-z0-9]*)", raw[m.end() :])
        logical = next(
            (x.group(1) for x in (before, after) if x and not _NOT_LOGICAL.match(x.group(1))), None
        )
        if logical is not None and logical[0].isupper():
            out.append((m.group(1), logical, _ACTIONS[action], replace))
    return out


def _action_of(raw: str) -> str:
    """The change-set action a resource line says, by its sign (``~ + -``) or its verb; Modify when silent."""
    sign = re.match(r"^\s*([~+\-])\s", raw)
    if sign:
        return {"~": "modify", "+": "add", "-": "remove"}[sign.group(1)]
    said = re.search(rf"(?<!::)\b{_ACTION}\b", re.sub(_TYPE, " ", raw), re.IGNORECASE)
    return said.group(1).lower() if said else "modify"


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


# ---- free text -----------------------------------------------------------------------------------------
#: A property as free text names it: CamelCase (``MemorySize``), a dotted path, or an environment variable.
_NAME = (
    r"(?<![\w.\-/])((?:[A-Z][a-z0-9]+){2,}(?:\.[\w\[\]]+)*|[A-Z][A-Za-z0-9]*(?:\.[\w\[\]]+)+"
    r"|[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]|[A-Z][a-z]+)"
)
_WORD = r"([^\s,;()]+?)"
_END = r"[.,;:)]?(?=\s|$)"
#: (pattern, which group holds the old value, which the new); 0: not written.
_LOOSE: tuple[tuple[re.Pattern[str], int, int], ...] = (
    (re.compile(rf"{_NAME}\s*[:=]?\s*(?:(?i:from)\s+)?{_WORD}{_ARROW}{_WORD}{_END}"), 2, 3),
    (re.compile(rf"{_NAME}[^.;\n]{{0,60}}?\b(?i:from)\s+{_WORD}\s+(?i:to)\s+{_WORD}{_END}"), 2, 3),
    (re.compile(rf"{_NAME}[^.;\n]{{0,60}}?\b(?i:to|=)\s*{_WORD}\s*\((?i:was|from)\s+{_WORD}\)"), 3, 2),
    (re.compile(rf"{_NAME}\s+(?i:to|=)\s*{_WORD}{_END}"), 0, 2),
    (re.compile(rf"{_NAME}\s*[:=]\s*{_WORD}\s*$"), 0, 2),
)
#: Names that say a new version of the code, not a setting.
_RELEASE = re.compile(
    r"^(?:version|image|imagetag|imageid|imageuri|code|codeuri|s3key|s3objectversion|launchtemplate(?:version)?"
    r"|tag|release|build|commit|sha|git_?sha|app_?version|image_?tag|build_?id|release_?version)$",
    re.IGNORECASE,
)
#: The resource type that holds a property, by its first segment.
_HOLDERS = {
    "AWS::Lambda::Function": (
        "ReservedConcurrentExecutions MemorySize Timeout Runtime Handler Environment KmsKeyArn EphemeralStorage"
        " Architectures Layers ProvisionedConcurrencyConfig"
    ),
    "AWS::ECS::Service": "DesiredCount DeploymentConfiguration NetworkConfiguration LoadBalancers",
    "AWS::ECS::TaskDefinition": "Cpu Memory ContainerDefinitions TaskRoleArn ExecutionRoleArn",
    "AWS::AutoScaling::AutoScalingGroup": "MinSize MaxSize DesiredCapacity",
    "AWS::EC2::LaunchTemplate": "LaunchTemplateData InstanceType",
    "AWS::DynamoDB::Table": "BillingMode ProvisionedThroughput ReadCapacityUnits WriteCapacityUnits",
    "AWS::RDS::DBInstance": "DBInstanceClass AllocatedStorage MaxAllocatedStorage MultiAZ DBParameterGroupName",
    "AWS::SQS::Queue": "VisibilityTimeout MessageRetentionPeriod RedrivePolicy KmsMasterKeyId DelaySeconds",
    "AWS::EC2::SecurityGroup": "SecurityGroupIngress SecurityGroupEgress",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "HealthCheckPath HealthCheckIntervalSeconds HealthCheckPort",
    "AWS::CloudWatch::Alarm": "Threshold EvaluationPeriods DatapointsToAlarm ComparisonOperator Period MetricName",
    "AWS::Logs::LogGroup": "RetentionInDays",
}
_HOLDER_OF = {name: rtype for rtype, names in _HOLDERS.items() for name in names.split()}
#: A service's own resource for a property nothing else claims, and where its environment variables live.
_OWN = {
    "lambda": ("AWS::Lambda::Function", "Environment.Variables."),
    "ecs": ("AWS::ECS::TaskDefinition", "ContainerDefinitions[0].Environment."),
    "asg": ("AWS::AutoScaling::AutoScalingGroup", None),
    "dynamodb": ("AWS::DynamoDB::Table", None),
    "rds": ("AWS::RDS::DBInstance", None),
    "sqs": ("AWS::SQS::Queue", None),
}
#: The logical id a service's stack gives each resource type.
_LOGICAL_OF = {
    "AWS::Lambda::Function": "Function",
    "AWS::ECS::Service": "Service",
    "AWS::ECS::TaskDefinition": "TaskDefinition",
    "AWS::AutoScaling::AutoScalingGroup": "AutoScalingGroup",
    "AWS::EC2::LaunchTemplate": "LaunchTemplate",
    "AWS::DynamoDB::Table": "Table",
    "AWS::RDS::DBInstance": "Database",
    "AWS::SQS::Queue": "Queue",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "TargetGroup",
}


def holder(name: str, kind: str | None) -> tuple[str, str] | None:
    """The resource type that holds a freely written property in a stack of a service of `kind`, and the
    property's path on it; None when no resource of such a stack would hold it."""
    first = re.split(r"[.\[]", name, maxsplit=1)[0]
    if first in _HOLDER_OF:
        return _HOLDER_OF[first], name
    own = _OWN.get(kind or "")
    if own is None:
        return None
    rtype, env = own
    if env and re.fullmatch(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+", name):
        return rtype, env + name
    return None


def read_freely(text: str, kind: str | None) -> tuple[ResourceEdit, ...]:
    """The resources a stack update written as free text modifies, from the properties it names with values."""
    found: dict[str, dict[str, PropertyEdit]] = {}
    for line in text.splitlines():
        for name, old, new in _named_values(line):
            held = holder(name, kind)
            if held is None or _RELEASE.match(name.rsplit(".", 1)[-1]):
                continue
            rtype, path = held
            found.setdefault(rtype, {}).setdefault(path, PropertyEdit(path, _value(old or ""), _value(new)))
    return tuple(
        ResourceEdit(
            rtype, _LOGICAL_OF.get(rtype, rtype.rsplit("::", 1)[-1]), "Modify", tuple(props.values())
        )
        for rtype, props in found.items()
    )


def _named_values(line: str) -> list[tuple[str, str | None, str]]:
    """(property, old value or None, new value) for each property the line names with a value; a property
    written with its new value alone counts only when it is one a resource is known to hold."""
    out: list[tuple[str, str | None, str]] = []
    for token in re.finditer(_NAME, line):
        name = token.group(1)
        if name.lower() == "description" or any(name == seen for seen, _, _ in out):
            continue
        before = line[: token.start()]
        known = re.split(r"[.\[]", name, maxsplit=1)[0] in _HOLDER_OF or "_" in name
        for i, (pattern, old_at, new_at) in enumerate(_LOOSE):
            if not old_at and not (
                known and (re.search(r"(?i)\bset\s+$", before) if i == 3 else not before.strip())
            ):
                continue
            m = pattern.match(line, token.start())
            if m is not None:
                out.append((name, m.group(old_at) if old_at else None, m.group(new_at)))
                break
    return out
