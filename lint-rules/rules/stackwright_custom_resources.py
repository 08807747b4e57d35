"""stackwright's own cfn-lint rules for custom resources: what keeps a stack from hanging.

Loaded by `cfn-lint --append-rules lint-rules/rules` (scripts/lint-templates.sh, `make lint`,
which runs them on template.yaml and on the CloudFormation the SAM transform makes of it).
lint-rules/test-rules.py shows each rule firing on its bad fixture (lint-rules/fixtures/).

  E9107  every stackwright custom resource sets ServiceTimeout (1 to 3600 seconds)
  E9108  ServiceTimeout covers the serving function's Timeout plus its MaximumEventAgeInSeconds
  E9109  every function serving one has the failure destination (EventInvokeConfig OnFailure)

A "stackwright custom resource" is a resource of one of stackwright's types
(Custom::DatabaseMigration, Custom::SeededSecret, Custom::HttpResource), or any custom resource
whose ServiceToken is a function of the template configured for the protocol library (its
environment sets STACKWRIGHT_STACKS). The rules read both shapes a template may have: SAM's
AWS::Serverless::Function (cfn-lint merges Globals into it; its EventInvokeConfig property;
ServiceToken `!Ref Fn.Alias` or `!GetAtt Fn.Arn`), and plain CloudFormation
(AWS::Lambda::Function, ::Alias, ::Version and ::EventInvokeConfig), which is what the SAM
transform hands CloudFormation. A value they cannot read (a Ref to a parameter, a FindInMap, a
ServiceToken imported from another stack) is not judged: E9108 and E9109 need the function in
the same template.
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# The resource types stackwright's functions serve.
TYPES = ("Custom::DatabaseMigration", "Custom::SeededSecret", "Custom::HttpResource")
# The variable every function built on the protocol library needs to act at all.
LIBRARY_VARIABLE = "STACKWRIGHT_STACKS"
FUNCTION_TYPES = ("AWS::Lambda::Function", "AWS::Serverless::Function")
# Lambda's defaults when a function has no EventInvokeConfig.
DEFAULT_TIMEOUT = 3
DEFAULT_EVENT_AGE = 21600
# CloudFormation's longest ServiceTimeout.
MAX_SERVICE_TIMEOUT = 3600


def as_int(value: Any) -> int | None:
    """A whole number written as a number or a string; None for an intrinsic."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def ref_target(value: Any) -> str | None:
    """The logical id a `Ref` or `GetAtt …Arn` names (SAM's `Fn.Alias` as written)."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            if isinstance(parts, list) and len(parts) == 2 and parts[1] == "Arn":
                return str(parts[0])
    return None


class Template:
    """The template's functions, what invokes them, and the custom resources they serve."""

    def __init__(self, cfn):
        self.resources: dict[str, dict] = {
            name: res for name, res in (cfn.template.get("Resources", {}) or {}).items() if isinstance(res, dict)
        }

    def props(self, name: str) -> dict:
        props = self.resources.get(name, {}).get("Properties", {})
        return props if isinstance(props, dict) else {}

    def kind(self, name: str) -> str:
        return str(self.resources.get(name, {}).get("Type", ""))

    def served_by(self, token: Any) -> tuple[str, str | None] | None:
        """The function of this template a ServiceToken invokes, and the qualifier (an alias
        name, a version, or None for the unqualified ARN); None when it is not in the template."""
        target = ref_target(token)
        if target is None:
            return None
        if target.endswith(".Alias") and self.kind(target[: -len(".Alias")]) == "AWS::Serverless::Function":
            function = target[: -len(".Alias")]
            alias = self.props(function).get("AutoPublishAlias")
            return function, alias if isinstance(alias, str) else None
        kind = self.kind(target)
        if kind in FUNCTION_TYPES:
            # Only `GetAtt Fn.Arn` is an ARN; `Ref` of AWS::Lambda::Function is its name, which
            # CloudFormation also accepts as a ServiceToken in the same account and region.
            return target, None
        if kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            function = ref_target(self.props(target).get("FunctionName"))
            if function and self.kind(function) in FUNCTION_TYPES:
                name = self.props(target).get("Name") if kind == "AWS::Lambda::Alias" else None
                return function, name if isinstance(name, str) else None
        return None

    def uses_library(self, function: str) -> bool:
        env = self.props(function).get("Environment", {})
        variables = env.get("Variables", {}) if isinstance(env, dict) else {}
        return isinstance(variables, dict) and LIBRARY_VARIABLE in variables

    def ours(self) -> list[tuple[str, tuple[str, str | None] | None]]:
        """The stackwright custom resources, each with the function serving it when it is in
        the template."""
        out = []
        for name, res in self.resources.items():
            kind = self.kind(name)
            if not (kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource"):
                continue
            served = self.served_by(self.props(name).get("ServiceToken"))
            if kind in TYPES or (served and self.uses_library(served[0])):
                out.append((name, served))
        return out

    def invoke_configs(self, function: str, qualifier: str | None) -> list[tuple[dict, list]]:
        """The asynchronous-invocation settings for `function` invoked with `qualifier`, with
        their paths: SAM's EventInvokeConfig property, and AWS::Lambda::EventInvokeConfig
        resources whose Qualifier matches (one that cannot be read is taken to match)."""
        out = []
        if self.kind(function) == "AWS::Serverless::Function":
            config = self.props(function).get("EventInvokeConfig")
            if isinstance(config, dict):
                out.append((config, ["Resources", function, "Properties", "EventInvokeConfig"]))
        for name in self.resources:
            if self.kind(name) != "AWS::Lambda::EventInvokeConfig":
                continue
            props = self.props(name)
            if ref_target(props.get("FunctionName")) != function:
                continue
            written = props.get("Qualifier")
            if isinstance(written, str) and written != (qualifier or "$LATEST"):
                continue
            out.append((props, ["Resources", name, "Properties"]))
        return out


class _Rule(CloudFormationLintRule):
    source_url = "https://github.com/stackwright/stackwright/issues/15"
    tags = ["custom-resource", "stackwright"]


class ServiceTimeoutIsSet(_Rule):
    id = "E9107"
    shortdesc = "Every stackwright custom resource sets ServiceTimeout"
    description = (
        "A stackwright custom resource sets ServiceTimeout, a whole number of seconds from 1 to "
        "3600: without it CloudFormation waits an hour for an answer that may never come"
    )

    def match(self, cfn):
        matches = []
        template = Template(cfn)
        for name, _ in template.ours():
            props = template.props(name)
            if "ServiceTimeout" not in props:
                matches.append(RuleMatch(
                    ["Resources", name, "Properties"],
                    f"{name}: no ServiceTimeout: CloudFormation would wait an hour for an answer that "
                    "may never come; set it to the function's Timeout plus its MaximumEventAgeInSeconds, or more",
                ))
                continue
            written = props["ServiceTimeout"]
            seconds = as_int(written)
            if seconds is None and isinstance(written, dict):
                continue  # an intrinsic: not judged
            if seconds is None or not 1 <= seconds <= MAX_SERVICE_TIMEOUT:
                matches.append(RuleMatch(
                    ["Resources", name, "Properties", "ServiceTimeout"],
                    f"{name}: ServiceTimeout must be a whole number of seconds from 1 to {MAX_SERVICE_TIMEOUT}, got `{written}`",
                ))
        return matches


class ServiceTimeoutCoversRetries(_Rule):
    id = "E9108"
    shortdesc = "ServiceTimeout covers the function's Timeout plus MaximumEventAgeInSeconds"
    description = (
        "For a stackwright custom resource served by a function of the template, the function's "
        "Timeout plus its MaximumEventAgeInSeconds (Lambda's default: 21600) fit in the "
        "resource's ServiceTimeout, so a retried event can never act after CloudFormation gave up"
    )

    def match(self, cfn):
        matches = []
        template = Template(cfn)
        for name, served in template.ours():
            service_timeout = as_int(template.props(name).get("ServiceTimeout"))
            if served is None or service_timeout is None:
                continue
            function, qualifier = served
            timeout = as_int(template.props(function).get("Timeout", DEFAULT_TIMEOUT))
            if timeout is None:
                continue
            configs = template.invoke_configs(function, qualifier) or [({}, ["Resources", function, "Properties"])]
            for config, _ in configs:
                age = as_int(config.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE))
                if age is None:
                    continue
                if timeout + age > service_timeout:
                    default = "" if "MaximumEventAgeInSeconds" in config else ", Lambda's default"
                    matches.append(RuleMatch(
                        ["Resources", name, "Properties", "ServiceTimeout"],
                        f"{name}: {function}'s Timeout ({timeout} s) + MaximumEventAgeInSeconds ({age} s{default}) "
                        f"exceed ServiceTimeout ({service_timeout} s): a retried event could act after "
                        "CloudFormation gave up",
                    ))
        return matches


class FailureDestinationIsSet(_Rule):
    id = "E9109"
    shortdesc = "Every function serving a stackwright custom resource has the failure destination"
    description = (
        "A function of the template that serves a stackwright custom resource has an "
        "EventInvokeConfig (for the qualifier the ServiceToken names) with "
        "DestinationConfig.OnFailure.Destination: the responder that answers FAILED when Lambda "
        "gives up on an event, instead of leaving the stack waiting for ServiceTimeout"
    )

    def match(self, cfn):
        matches = []
        template = Template(cfn)
        seen: set[tuple[str, str | None]] = set()
        for name, served in template.ours():
            if served is None or served in seen:
                continue
            seen.add(served)
            function, qualifier = served
            configs = template.invoke_configs(function, qualifier)
            def has_destination(config: dict) -> bool:
                destination = config.get("DestinationConfig")
                on_failure = destination.get("OnFailure") if isinstance(destination, dict) else None
                return isinstance(on_failure, dict) and bool(on_failure.get("Destination"))
            if not any(has_destination(c) for c, _ in configs):
                invoked = f"{function}:{qualifier}" if qualifier else function
                where = (
                    "its EventInvokeConfig has" if configs
                    else f"there is no EventInvokeConfig for {invoked if qualifier else function + ' unqualified ($LATEST)'}, so"
                )
                path = configs[0][1] if configs else ["Resources", function]
                matches.append(RuleMatch(
                    path,
                    f"{invoked} serves {name} but {where} no DestinationConfig.OnFailure: when Lambda "
                    "gives up on an event (the process killed on every attempt) nothing answers "
                    "CloudFormation; send failures to the failure-responder function",
                ))
        return matches
