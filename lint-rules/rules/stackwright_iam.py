"""stackwright's own cfn-lint rules: the trust boundaries of issue 14, written as checks.

Loaded by `cfn-lint --append-rules lint-rules/rules` (scripts/lint-templates.sh, `make lint`).
lint-rules/test-rules.py shows each rule firing on its bad fixture (lint-rules/fixtures/).

  E9101  I1  a stage's deploy role writes a role only with the stage's permissions boundary
  E9102  I2  iam:PassRole never on "*"; a deploy role passes only its own stage's roles
  E9103  I3  Secrets Manager and RDS only on a stage's names (or its stackwright-stage tag)
  E9104  I4  the boundary is protected, and the boundary denies IAM, other stages and the
         I7  pipeline itself
  E9105  I5  every role an application (SAM) template makes carries the PermissionsBoundary
  E9106  I6  no deploy role and no boundary lets the stackwright-stage tag be written

A "deploy role" is an AWS::IAM::Role that CloudFormation (cloudformation.amazonaws.com) may
assume: the service role a stage is deployed with. A "boundary" is an AWS::IAM::ManagedPolicy
whose logical id or ManagedPolicyName says boundary. The rules read policies as written: an
intrinsic they cannot read (a Ref to a parameter, a GetAtt) names one resource, never many.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# The six actions that give a role permissions (I1).
ROLE_WRITES = (
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
)
BOUNDARY_POLICY_WRITES = ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy")
STAGE_TAG = "stackwright-stage"
# A stage in a name: a literal stage, the deploy role's tag, or the template's Stage parameter.
STAGE = r"(?:dev|test|stage|prod|\$\{!?aws:PrincipalTag/stackwright-stage\}|\$\{Stage\})"
# Actions of these services that take no resource at all, so "*" is their only Resource.
NO_RESOURCE_ACTIONS = {
    "secretsmanager:getrandompassword",
    "secretsmanager:listsecrets",
    "rds:describedbengineversions",
    "rds:describeorderabledbinstanceoptions",
    "rds:describeaccountattributes",
    "rds:describeenginedefaultparameters",
    "rds:describeeventcategories",
    "rds:describecertificates",
}
# RDS resource types that hold no stage's data: the default option groups AWS owns.
RDS_SHARED = re.compile(r"^og:default:")
POLICY_TYPES = ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::RolePolicy")


# ---------------------------------------------------------------------------------------------
# Reading policies
# ---------------------------------------------------------------------------------------------
def strings(value: Any) -> list[str]:
    """Every string a policy value may be: Sub templates as written (`${!x}` read as `${x}`),
    both branches of an If; a Ref or GetAtt becomes one opaque token ("REF:Name")."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::Sub":
            template = arg[0] if isinstance(arg, list) else arg
            return [template.replace("${!", "${")] if isinstance(template, str) else []
        if key == "Ref":
            return [] if arg == "AWS::NoValue" else [f"REF:{arg}"]
        if key == "Fn::GetAtt":
            return [f"GETATT:{arg if isinstance(arg, str) else '.'.join(map(str, arg))}"]
        if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            return strings(arg[1]) + strings(arg[2])
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = [strings(p) for p in (arg[1] if isinstance(arg[1], list) else [])]
            if all(len(p) == 1 for p in parts):
                return [str(arg[0]).join(p[0] for p in parts)]
        return [f"INTRINSIC:{key}"]
    return []


def statements(document: Any, path: list) -> Iterator[tuple[dict, list]]:
    """The statements of a policy document, with their paths; an If yields both branches."""
    if not isinstance(document, dict):
        return
    body = document.get("Statement", [])
    items = body if isinstance(body, list) else [body]
    for i, item in enumerate(items):
        yield from _unwrap(item, path + ["Statement", i])


def _unwrap(item: Any, path: list) -> Iterator[tuple[dict, list]]:
    if isinstance(item, dict) and list(item) == ["Fn::If"] and isinstance(item["Fn::If"], list):
        for branch in (1, 2):
            if len(item["Fn::If"]) > branch:
                yield from _unwrap(item["Fn::If"][branch], path + ["Fn::If", branch])
    elif isinstance(item, dict) and item.get("Ref") == "AWS::NoValue":
        return
    elif isinstance(item, dict):
        yield item, path


def glob(pattern: str) -> re.Pattern:
    """An IAM wildcard pattern (`*`, `?`), case-insensitive for actions."""
    return re.compile("^" + ".*".join(".".join(map(re.escape, p.split("?"))) for p in pattern.split("*")) + "$", re.I)


def grants(statement: dict, action: str) -> bool:
    """Whether the statement's Action (or NotAction) covers this action."""
    if "NotAction" in statement:
        return not any(glob(a).match(action) for a in strings(statement["NotAction"]))
    return any(glob(a).match(action) for a in strings(statement.get("Action")))


def actions(statement: dict) -> list[str]:
    return [a.lower() for a in strings(statement.get("Action")) + strings(statement.get("NotAction"))]


def effect(statement: dict) -> str:
    return str(statement.get("Effect", "")).capitalize()


def condition_values(statement: dict, key: str, operators: tuple[str, ...]) -> list[str]:
    """Values the statement's Condition compares `key` with under these operators."""
    out: list[str] = []
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return out
    for operator, tests in condition.items():
        if operator not in operators or not isinstance(tests, dict):
            continue
        for k, v in tests.items():
            if k.lower() == key.lower():
                out += strings(v)
    return out


def covers(resources: list[str], target: str) -> bool:
    """Whether a resource list (IAM wildcards) covers the target ARN as written in the template."""
    return any(r == target or ("*" in r and glob(r).match(target)) for r in resources)


class Policies:
    """The template's IAM policies: who has which statements."""

    def __init__(self, cfn):
        self.resources = cfn.template.get("Resources", {}) or {}
        self.inline: dict[str, list[tuple[dict, list]]] = {}  # role -> statements
        self.attached: dict[str, list[str]] = {}  # role -> policy logical ids
        self.foreign: dict[str, list[tuple[str, list]]] = {}  # role -> ARNs not in the template
        self.documents: dict[str, list[tuple[dict, list]]] = {}  # every policy resource
        for name, res in self.resources.items():
            if not isinstance(res, dict):
                continue
            props = res.get("Properties", {}) or {}
            kind = res.get("Type")
            if kind == "AWS::IAM::Role":
                found = []
                for i, pol in enumerate(props.get("Policies", []) or []):
                    for stmt in _unwrap(pol, ["Resources", name, "Properties", "Policies", i]):
                        stmt_doc, stmt_path = stmt
                        found += statements(stmt_doc.get("PolicyDocument"), stmt_path + ["PolicyDocument"])
                self.inline[name] = found
                self.documents.setdefault(name, []).extend(found)
                arns = props.get("ManagedPolicyArns", []) or []
                for i, arn in enumerate(arns if isinstance(arns, list) else [arns]):
                    for s in strings(arn):
                        if s.startswith("REF:") and s[4:] in self.resources:
                            self.attached.setdefault(name, []).append(s[4:])
                        else:
                            path = ["Resources", name, "Properties", "ManagedPolicyArns", i]
                            self.foreign.setdefault(name, []).append((s, path))
            elif kind in POLICY_TYPES:
                doc_path = ["Resources", name, "Properties", "PolicyDocument"]
                self.documents[name] = list(statements(props.get("PolicyDocument"), doc_path))
                roles = props.get("Roles", []) or []
                roles = roles if isinstance(roles, list) else [roles]
                if kind == "AWS::IAM::RolePolicy":
                    roles = [props.get("RoleName")]
                for role in roles:
                    for s in strings(role):
                        if s.startswith("REF:"):
                            self.attached.setdefault(s[4:], []).append(name)

    def of_role(self, role: str) -> list[tuple[dict, list]]:
        out = list(self.inline.get(role, []))
        for pol in self.attached.get(role, []):
            out += self.documents.get(pol, [])
        return out

    def deploy_roles(self) -> list[str]:
        """Roles CloudFormation may assume: the roles stages are deployed with."""
        out = []
        for name, res in self.resources.items():
            if not isinstance(res, dict) or res.get("Type") != "AWS::IAM::Role":
                continue
            trust = (res.get("Properties", {}) or {}).get("AssumeRolePolicyDocument")
            for stmt, _ in statements(trust, []):
                principal = stmt.get("Principal", {})
                services = strings(principal.get("Service")) if isinstance(principal, dict) else []
                if effect(stmt) == "Allow" and any(s.startswith("cloudformation.") for s in services):
                    out.append(name)
                    break
        return out

    def boundaries(self) -> dict[str, str]:
        """Boundary policies: logical id -> the ARN as written (Sub template)."""
        out = {}
        for name, res in self.resources.items():
            if not isinstance(res, dict) or res.get("Type") != "AWS::IAM::ManagedPolicy":
                continue
            props = res.get("Properties", {}) or {}
            names = strings(props.get("ManagedPolicyName"))
            if "boundary" in name.lower() or any("boundary" in n.lower() for n in names):
                path = str(props.get("Path", "/")).lstrip("/")
                policy_name = names[0] if names else f"{{{name}}}"
                out[name] = f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{path}{policy_name}"
        return out


def denies(stmts: list[tuple[dict, list]], action: str, target: str, ref: str | None = None) -> bool:
    """Whether an unconditional Deny covers the action on the target ARN (or on Ref `ref`)."""
    for stmt, _ in stmts:
        if effect(stmt) != "Deny" or stmt.get("Condition") or not grants(stmt, action):
            continue
        if "NotResource" in stmt:
            continue
        resources = strings(stmt.get("Resource"))
        if covers(resources, target) or (ref and f"REF:{ref}" in resources):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------------
class _Rule(CloudFormationLintRule):
    source_url = "https://github.com/stackwright/stackwright/issues/14"
    tags = ["iam", "stackwright"]


class DeployRoleWritesRolesOnlyWithTheBoundary(_Rule):
    id = "E9101"
    shortdesc = "I1: a deploy role writes roles only with its stage's permissions boundary"
    description = (
        "Every Allow of a stage deploy role (a role CloudFormation assumes) that covers "
        + ", ".join(ROLE_WRITES)
        + " has StringEquals/ArnEquals iam:PermissionsBoundary naming a boundary policy of the "
        "template (its Ref or ARN); no policy "
        "from outside the template is attached to it"
    )

    @staticmethod
    def names_a_boundary(value: str, boundaries: dict[str, str]) -> bool:
        """A boundary's Ref, or its ARN, the stage possibly the deploy role's tag (one stage)."""
        if value.startswith("REF:"):
            return value[4:] in boundaries
        if "*" in value or "?" in value:
            return False
        pattern = glob(value.replace(f"${{aws:PrincipalTag/{STAGE_TAG}}}", "*"))
        return any(pattern.match(arn) for arn in boundaries.values())

    def match(self, cfn):
        matches = []
        policies = Policies(cfn)
        boundaries = policies.boundaries()
        for role in policies.deploy_roles():
            for arn, path in policies.foreign.get(role, []):
                matches.append(RuleMatch(path, f"I1: deploy role {role} has a policy this template does not show ({arn}): its role writes cannot be checked"))
            for stmt, path in policies.of_role(role):
                if effect(stmt) != "Allow":
                    continue
                covered = [a for a in ROLE_WRITES if grants(stmt, a)]
                if not covered:
                    continue
                values = condition_values(stmt, "iam:PermissionsBoundary", ("StringEquals", "ArnEquals"))
                good = values and all(self.names_a_boundary(v, boundaries) for v in values)
                if not good:
                    matches.append(RuleMatch(path, f"I1: deploy role {role} may {', '.join(covered)} without the iam:PermissionsBoundary condition (StringEquals <stage boundary ARN>)"))
        return matches


class NoPassRoleOnEverything(_Rule):
    id = "E9102"
    shortdesc = "I2: iam:PassRole never on '*'; a deploy role passes only its stage's roles"
    description = (
        "No Allow of iam:PassRole has Resource '*', a role/* wildcard or NotResource; a deploy "
        "role's PassRole names only role/stackwright-<stage>-…"
    )

    def match(self, cfn):
        matches = []
        policies = Policies(cfn)
        deploy = set(policies.deploy_roles())
        deploy_statements = {id(s) for r in deploy for s, _ in policies.of_role(r)}
        for _, stmts in policies.documents.items():
            for stmt, path in stmts:
                if effect(stmt) != "Allow" or not grants(stmt, "iam:PassRole"):
                    continue
                if "NotResource" in stmt:
                    matches.append(RuleMatch(path, "I2: iam:PassRole with NotResource passes almost every role"))
                    continue
                for r in strings(stmt.get("Resource")):
                    if r.startswith(("REF:", "GETATT:")):
                        continue
                    role_part = r.split(":role/", 1)[1] if ":role/" in r else None
                    if r == "*" or role_part is None or role_part.lstrip("*") != role_part or role_part in ("", "*"):
                        matches.append(RuleMatch(path, f"I2: iam:PassRole on {r!r} passes any role"))
                    elif id(stmt) in deploy_statements and not re.match(rf"^stackwright-{STAGE}-", role_part):
                        matches.append(RuleMatch(path, f"I2: a deploy role passes {r!r}, not only its stage's roles (role/stackwright-<stage>-…)"))
        return matches


class SecretsAndDatabasesByStage(_Rule):
    id = "E9103"
    shortdesc = "I3: Secrets Manager and RDS only on a stage's names or its stackwright-stage tag"
    description = (
        "Every Allow of secretsmanager or rds actions names secret:stackwright-<stage>/… (the "
        "'/' included) or rds …:stackwright-<stage>-…, or is conditioned on the stackwright-stage "
        "tag; '*' only for actions that take no resource"
    )

    def match(self, cfn):
        matches = []
        for _, stmts in Policies(cfn).documents.items():
            for stmt, path in stmts:
                if effect(stmt) != "Allow":
                    continue
                acts = actions(stmt)
                touched = [a for a in acts if a.split(":")[0] in ("secretsmanager", "rds", "*") or a == "*"]
                if "NotAction" in stmt:
                    touched = ["*"]
                if not touched:
                    continue
                tagged = any(
                    re.fullmatch(STAGE, v)
                    for k in (f"secretsmanager:ResourceTag/{STAGE_TAG}", f"aws:ResourceTag/{STAGE_TAG}", f"rds:db-tag/{STAGE_TAG}")
                    for v in condition_values(stmt, k, ("StringEquals",))
                )
                if "NotResource" in stmt:
                    matches.append(RuleMatch(path, "I3: secretsmanager/rds with NotResource reaches every stage"))
                    continue
                for r in strings(stmt.get("Resource")):
                    problem = self.wide(r, touched, tagged)
                    if problem:
                        matches.append(RuleMatch(path, f"I3: {problem}"))
        return matches

    @staticmethod
    def wide(resource: str, touched: list[str], tagged: bool) -> str | None:
        if resource.startswith(("REF:", "GETATT:", "INTRINSIC:")):
            return None  # one named resource
        if resource == "*":
            if all(a in NO_RESOURCE_ACTIONS for a in touched):
                return None
            return f"{', '.join(a for a in touched if a not in NO_RESOURCE_ACTIONS)} on '*' reaches every stage's secrets and databases"
        # `${AWS::Partition}` and friends hold colons: split the ARN with them masked.
        masked = re.sub(r"\$\{[^}]*\}", lambda m: m.group(0).replace(":", "\0"), resource)
        parts = [p.replace("\0", ":") for p in masked.split(":", 5)]
        if len(parts) < 6:
            return f"resource {resource!r} is not an ARN"
        service = parts[2]
        if service == "secretsmanager" or (service == "*" and any(a.startswith(("secretsmanager", "*")) for a in touched)):
            name = parts[5].split(":", 1)[1] if ":" in parts[5] else parts[5]
            if re.match(rf"^(?:stackwright-{STAGE}|\$\{{AWS::StackName\}})/", name) or tagged:
                return None
            return f"secret resource {resource!r} is wider than one stage's secret:stackwright-<stage>/… (the '/' included)"
        if service == "rds" or (service == "*" and any(a.startswith(("rds", "*")) for a in touched)):
            rest = parts[5]
            kind, _, name = rest.partition(":")
            if RDS_SHARED.match(rest) or tagged:
                return None
            if kind and "*" not in kind and re.match(rf"^(?:stackwright-{STAGE}|\$\{{AWS::StackName\}})-", name):
                return None
            return f"RDS resource {resource!r} is wider than one stage's <type>:stackwright-<stage>-…"
        return None


class BoundaryIsProtected(_Rule):
    id = "E9104"
    shortdesc = "I4/I7: the boundary cannot be removed or rewritten, and it walls off IAM, other stages and the pipeline"
    description = (
        "A template with deploy roles defines boundary policies; every deploy role and every "
        "boundary denies iam:DeleteRolePermissionsBoundary and iam:CreatePolicyVersion/"
        "SetDefaultPolicyVersion/DeletePolicy on each boundary; a boundary also denies all IAM, "
        "Secrets Manager and RDS of other stages, and the pipeline's stack and buckets"
    )

    def match(self, cfn):
        matches = []
        policies = Policies(cfn)
        roles = policies.deploy_roles()
        if not roles:
            return matches
        boundaries = policies.boundaries()
        if not boundaries:
            return [RuleMatch(["Resources"], "I4: deploy roles but no permissions boundary policy (an AWS::IAM::ManagedPolicy named …boundary)")]
        holders = [(f"deploy role {r}", ["Resources", r], policies.of_role(r)) for r in roles]
        holders += [(f"boundary {b}", ["Resources", b], policies.documents.get(b, [])) for b in boundaries]
        for who, path, stmts in holders:
            if not denies(stmts, "iam:DeleteRolePermissionsBoundary", "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/x"):
                matches.append(RuleMatch(path, f"I4: {who} does not deny iam:DeleteRolePermissionsBoundary on every role"))
            for b, arn in boundaries.items():
                for action in BOUNDARY_POLICY_WRITES:
                    if not denies(stmts, action, arn, ref=b):
                        matches.append(RuleMatch(path, f"I4: {who} does not deny {action} on boundary {b} ({arn})"))
        buckets = [n for n, r in policies.resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::S3::Bucket"]
        for b in boundaries:
            stmts = policies.documents.get(b, [])
            path = ["Resources", b]
            if not denies(stmts, "iam:CreateRole", "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/x"):
                matches.append(RuleMatch(path, f"I4: boundary {b} does not deny IAM (iam:CreateRole on any role)"))
            for action in ("secretsmanager:GetSecretValue", "rds:DeleteDBInstance"):
                if not any(effect(s) == "Deny" and grants(s, action) for s, _ in stmts):
                    matches.append(RuleMatch(path, f"I4: boundary {b} has no Deny of {action} (other stages' secrets and databases)"))
            stack = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/x"
            if not denies(stmts, "cloudformation:UpdateStack", stack):
                matches.append(RuleMatch(path, f"I7: boundary {b} does not deny the pipeline's own stack (stack/${{AWS::StackName}}/*)"))
            for bucket in buckets:
                if not any(
                    effect(s) == "Deny" and grants(s, "s3:PutObject")
                    and any(r in (f"GETATT:{bucket}.Arn", f"REF:{bucket}") or r.startswith(f"${{{bucket}.Arn}}") for r in strings(s.get("Resource")))
                    for s, _ in stmts
                ):
                    matches.append(RuleMatch(path, f"I7: boundary {b} does not deny writes to the pipeline's bucket {bucket}"))
        return matches


class ApplicationRolesCarryTheBoundary(_Rule):
    id = "E9105"
    shortdesc = "I5: every role of an application template carries the PermissionsBoundary parameter"
    description = (
        "A SAM template has a PermissionsBoundary parameter, Globals: Function: "
        "PermissionsBoundary, every AWS::IAM::Role and every AWS::Serverless::Function without a "
        "Role (SAM makes its role) has "
        "PermissionsBoundary: !Ref PermissionsBoundary or !If [<cond>, !Ref PermissionsBoundary, "
        "!Ref AWS::NoValue]"
    )

    @staticmethod
    def bounded(value: Any) -> bool:
        if value == {"Ref": "PermissionsBoundary"}:
            return True
        if isinstance(value, dict) and list(value) == ["Fn::If"] and isinstance(value["Fn::If"], list) and len(value["Fn::If"]) == 3:
            branches = value["Fn::If"][1:]
            return {"Ref": "PermissionsBoundary"} in branches and all(
                b in ({"Ref": "PermissionsBoundary"}, {"Ref": "AWS::NoValue"}) for b in branches
            )
        return False

    def match(self, cfn):
        transforms = [str(t) for t in cfn.transform_pre.get("Transform", [])]
        if "AWS::Serverless-2016-10-31" not in transforms:
            return []
        matches = []
        params = cfn.template.get("Parameters", {}) or {}
        if "PermissionsBoundary" not in params:
            matches.append(RuleMatch(["Parameters"], "I5: no PermissionsBoundary parameter (Type String, Default \"\") for the pipeline to pass the stage's boundary"))
        globals_fn = ((cfn.transform_pre.get("Globals") or {}).get("Function") or {})
        if not self.bounded(globals_fn.get("PermissionsBoundary")):
            matches.append(RuleMatch(["Globals", "Function"], "I5: Globals: Function: has no PermissionsBoundary (!If [<cond>, !Ref PermissionsBoundary, !Ref AWS::NoValue])"))
        # cfn-lint merges Globals into the SAM resources; a function without Role gets the role
        # SAM makes, with the function's PermissionsBoundary.
        for name, res in (cfn.template.get("Resources", {}) or {}).items():
            if not isinstance(res, dict):
                continue
            props = res.get("Properties", {}) or {}
            if res.get("Type") == "AWS::IAM::Role" and not self.bounded(props.get("PermissionsBoundary")):
                matches.append(RuleMatch(["Resources", name, "Properties"], f"I5: role {name} has no PermissionsBoundary from the PermissionsBoundary parameter"))
            if res.get("Type") == "AWS::Serverless::Function" and "Role" not in props and not self.bounded(props.get("PermissionsBoundary")):
                matches.append(RuleMatch(["Resources", name, "Properties"], f"I5: function {name} gets a role from SAM without PermissionsBoundary from the PermissionsBoundary parameter"))
        return matches


class StageTagIsThePipelines(_Rule):
    id = "E9106"
    shortdesc = "I6: no deploy role and no boundary lets the stackwright-stage tag be written"
    description = (
        "Every deploy role and every boundary has a Deny of '*' (or of tagging actions) with "
        "ForAnyValue:StringEquals[IgnoreCase] aws:TagKeys containing stackwright-stage"
    )
    TAGGING = ("iam:TagRole", "secretsmanager:TagResource", "rds:AddTagsToResource", "secretsmanager:UntagResource", "iam:UntagRole")

    def match(self, cfn):
        matches = []
        policies = Policies(cfn)
        roles = policies.deploy_roles()
        holders = [(f"deploy role {r}", ["Resources", r], policies.of_role(r)) for r in roles]
        if roles:
            holders += [(f"boundary {b}", ["Resources", b], policies.documents.get(b, [])) for b in policies.boundaries()]
        for who, path, stmts in holders:
            ok = any(
                effect(s) == "Deny"
                and all(grants(s, a) for a in self.TAGGING)
                and "*" in strings(s.get("Resource"))
                and any(v.lower() == STAGE_TAG for v in condition_values(s, "aws:TagKeys", ("ForAnyValue:StringEquals", "ForAnyValue:StringEqualsIgnoreCase")))
                for s, _ in stmts
            )
            if not ok:
                matches.append(RuleMatch(path, f"I6: {who} does not deny writing the {STAGE_TAG} tag (Deny tagging on '*' with ForAnyValue aws:TagKeys [{STAGE_TAG}])"))
        return matches
