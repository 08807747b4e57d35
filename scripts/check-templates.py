#!/usr/bin/env python3
"""Checks the promises template.yaml, samconfig.toml and pipeline.yaml make, which no linter knows.

Run by scripts/lint-templates.sh (so by `make lint` and `make validate`). Exits 1 listing every
broken promise. Checked:

- every Custom:: resource has a ServiceToken that is a function's `live` alias, and DependsOn
  that function's log group and EventInvokeConfig (and NetworkReady when the function runs in
  the VPC); its function's retries are bounded and its event age is at least Lambda's minimum.
  (ServiceTimeout, ServiceTimeout >= Timeout + MaximumEventAgeInSeconds and the failure
  destination are cfn-lint rules of ours, E9107 to E9109 in lint-rules/rules/, which users can
  run on their own templates too);
- every function is built by cargo-lambda from a package of this workspace, logs to an
  explicit log group named /aws/lambda/<FunctionName> with a retention;
- per stage, with samconfig.toml's parameters applied: what each stage keeps on delete
  (snapshots, retained secrets and migrations in stage and prod, force-delete only in dev,
  seeds never in prod, deletion protection and Multi-AZ in prod). The stages' values come
  from the project's one intrinsic resolver, the stage runner's (`stackwright template
  resolve`, run with `cargo run -p stage-runner`): this script evaluates no intrinsic itself;
- samconfig.toml and pipeline/config/<stage>.json hold the same parameters and tags for every
  stage, the parameters exist in template.yaml, and pipeline.yaml deploys each stage with its
  own file.

To see what the stage checks read: `cargo run -q -p stage-runner --bin stackwright -- template
resolve --stage dev` (each function's own property parser checks the same resolved properties
in tests/template.rs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["dev", "test", "stage", "prod"]
problems: list[str] = []


def problem(message: str) -> None:
    problems.append(message)


def load(path: Path) -> dict:
    # cfn-lint's loader understands the short-form intrinsics (!Ref, !If, ...).
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


# ---------------------------------------------------------------------------------------------
# The stages' values, from the stage runner's intrinsic resolver (the project has only that one).
# ---------------------------------------------------------------------------------------------
def resolve(stages: list[str], parameters: dict[str, str] | None = None) -> dict | None:
    """Each stage's template with its intrinsics resolved, keyed by stage: samconfig.toml's
    parameter overrides (then `parameters`), conditions and mappings applied; what only a
    deployed stack knows stands in as placeholders such as `<Ref Database>`. Per resource:
    Type, Exists, Properties, and DeletionPolicy/UpdateReplacePolicy when set. None (with a
    problem recorded) when the resolver refuses the template."""
    command = ["cargo", "run", "--quiet", "--package", "stage-runner", "--bin", "stackwright", "--"]
    command += ["template", "resolve", "--root", str(ROOT)]
    for stage in stages:
        command += ["--stage", stage]
    for key, value in (parameters or {}).items():
        command += ["--parameter", f"{key}={value}"]
    # cargo's errors and the resolver's own go straight to stderr.
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        problem(f"`{' '.join(command)}` failed (exit {done.returncode}): see its error above")
        return None
    return json.loads(done.stdout)


def as_bool(value) -> bool:
    return str(value).lower() == "true"


def as_int(value) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# template.yaml: functions and custom resources
# ---------------------------------------------------------------------------------------------
def function_of(token) -> str | None:
    """The function a ServiceToken names, when it is `!Ref <Function>.Alias`."""
    if isinstance(token, dict) and isinstance(token.get("Ref"), str):
        ref = token["Ref"]
        if ref.endswith(".Alias"):
            return ref[: -len(".Alias")]
    return None


def check_functions(template: dict) -> dict[str, dict]:
    resources = template["Resources"]
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = {
        name: res for name, res in resources.items() if res.get("Type") == "AWS::Serverless::Function"
    }
    log_groups = {
        name: res for name, res in resources.items() if res.get("Type") == "AWS::Logs::LogGroup"
    }
    for name, res in functions.items():
        props = {**globals_, **res.get("Properties", {})}
        meta = res.get("Metadata", {})
        if meta.get("BuildMethod") != "rust-cargolambda":
            problem(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        binary = meta.get("BuildProperties", {}).get("Binary")
        if not binary or not (ROOT / "functions" / binary / "Cargo.toml").is_file():
            problem(f"{name}: BuildProperties.Binary `{binary}` is not a package under functions/")
        for key, want in [("Runtime", "provided.al2023"), ("Handler", "bootstrap"), ("CodeUri", ".")]:
            # CodeUri on the function itself: from Globals, `sam package` leaves `.` behind.
            if key == "CodeUri" and "CodeUri" not in res.get("Properties", {}):
                problem(f"{name}: CodeUri must be set on the function, not in Globals")
            if props.get(key) != want:
                problem(f"{name}: {key} must be `{want}`, got `{props.get(key)}`")
        if props.get("Architectures") != ["arm64"]:
            problem(f"{name}: Architectures must be [arm64]")
        if not props.get("AutoPublishAlias"):
            problem(f"{name}: needs AutoPublishAlias (custom resources use the alias and its Version)")
        fname = props.get("FunctionName", {})
        if not (isinstance(fname, dict) and "Fn::Sub" in fname):
            problem(f"{name}: FunctionName must be an explicit !Sub so its log group name is known")
            continue
        log_ref = props.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        group = log_groups.get(log_ref)
        if group is None:
            problem(f"{name}: LoggingConfig.LogGroup must !Ref the function's explicit log group")
            continue
        want = "/aws/lambda/" + fname["Fn::Sub"]
        got = group["Properties"].get("LogGroupName", {}).get("Fn::Sub")
        if got != want:
            problem(f"{log_ref}: LogGroupName must be `!Sub {want}` (the function's name), got `{got}`")
        if "RetentionInDays" not in group["Properties"]:
            problem(f"{log_ref}: needs RetentionInDays (per stage)")
        # CloudFormation invokes a custom resource's function asynchronously: Lambda's retries
        # and event age decide when a lost answer is given up on. Others (Secrets Manager's
        # rotation function) are invoked synchronously, and the setting does not apply.
        serves_custom_resource = any(
            str(r.get("Type", "")).startswith("Custom::")
            and function_of(r.get("Properties", {}).get("ServiceToken")) == name
            for r in resources.values()
        )
        eic = props.get("EventInvokeConfig", {})
        if serves_custom_resource and (
            "MaximumEventAgeInSeconds" not in eic or "MaximumRetryAttempts" not in eic
        ):
            problem(f"{name}: EventInvokeConfig needs MaximumEventAgeInSeconds and MaximumRetryAttempts")
    return functions


def check_custom_resources(template: dict, functions: dict[str, dict]) -> None:
    resources = template["Resources"]
    customs = {n: r for n, r in resources.items() if str(r.get("Type", "")).startswith("Custom::")}
    if not customs:
        problem("template.yaml declares no Custom:: resource")
    for name, res in customs.items():
        props = res.get("Properties", {})
        depends = res.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        fn = function_of(props.get("ServiceToken"))
        if fn not in functions:
            problem(f"{name}: ServiceToken must be `!Ref <Function>.Alias` of a function in this template")
            continue
        fprops = functions[fn]["Properties"]
        eic = fprops.get("EventInvokeConfig", {})
        age = as_int(eic.get("MaximumEventAgeInSeconds", 21600)) or 21600
        if age < 60:
            problem(f"{fn}: MaximumEventAgeInSeconds must be at least 60 (Lambda's minimum)")
        retries = as_int(eic.get("MaximumRetryAttempts", -1))
        if retries is None or not 0 <= retries <= 2:
            problem(f"{fn}: MaximumRetryAttempts must be 0 to 2")
        log_group = fprops.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        for needed in [log_group, f"{fn}EventInvokeConfig"]:
            if needed not in depends:
                problem(f"{name}: must DependsOn {needed}, which {fn} needs to run and answer")
        if "VpcConfig" in fprops and "NetworkReady" not in depends:
            problem(f"{name}: {fn} runs in the VPC, so {name} must DependsOn NetworkReady (endpoints, routes)")


def check_stage(stage: str, s: dict, with_url: dict) -> None:
    """`s`: the stage resolved; `with_url`: resolved again with WebhookBaseUrl set."""
    res = s["Resources"]
    protected = stage in ("stage", "prod")

    db = res["Database"]
    want = "Snapshot" if protected else "Delete"
    for attr in ("DeletionPolicy", "UpdateReplacePolicy"):
        got = db.get(attr, "Delete")
        if got != want:
            problem(f"[{stage}] Database {attr} is {got}, want {want}")
    dbp = db["Properties"]
    if as_bool(dbp.get("DeletionProtection")) != (stage == "prod"):
        problem(f"[{stage}] Database DeletionProtection must be on in prod only")
    if as_bool(dbp.get("MultiAZ")) != (stage == "prod"):
        problem(f"[{stage}] Database MultiAZ must be on in prod only")
    if not as_bool(dbp.get("StorageEncrypted")):
        problem(f"[{stage}] Database must be encrypted")
    if as_bool(dbp.get("PubliclyAccessible")):
        problem(f"[{stage}] Database must not be publicly accessible")
    pg = res["DatabaseParameterGroup"]["Properties"]
    if str(pg.get("Parameters", {}).get("rds.force_ssl")) != "1":
        problem(f"[{stage}] DatabaseParameterGroup must set rds.force_ssl = 1 (TLS required)")

    secret_policy = res["DatabaseSecret"].get("DeletionPolicy", "Delete")
    if secret_policy != ("Retain" if protected else "Delete"):
        problem(f"[{stage}] DatabaseSecret DeletionPolicy is {secret_policy}")

    for name, r in res.items():
        if not r["Exists"]:
            continue
        rtype = r["Type"]
        props = r["Properties"]
        if rtype == "Custom::DatabaseMigration":
            on_delete = props.get("OnDelete", "Retain")
            if protected and on_delete != "Retain":
                problem(f"[{stage}] {name}: OnDelete must be Retain in stage and prod, got {on_delete}")
            if on_delete == "DropDatabase" and not as_bool(props.get("CreateDatabase")):
                problem(f"[{stage}] {name}: OnDelete DropDatabase needs CreateDatabase: true")
            if stage == "prod" and "Seeds" in props:
                problem(f"[{stage}] {name}: no seed data in prod")
            if stage != "prod" and not props.get("Seeds"):
                problem(f"[{stage}] {name}: seed data is expected outside prod")
            if stage == "prod" and as_bool(props.get("AllowDown")):
                problem(f"[{stage}] {name}: AllowDown must be off in prod (down migrations drop data)")
        if rtype == "Custom::SeededSecret":
            on_delete = props.get("OnDelete", "Retain")
            if on_delete == "ForceDelete" and stage != "dev":
                problem(f"[{stage}] {name}: ForceDelete only in dev")
            if protected and on_delete != "Retain":
                problem(f"[{stage}] {name}: OnDelete must be Retain in stage and prod, got {on_delete}")
        if rtype == "AWS::IAM::Role" and name == "SecretSeederRole" and protected:
            text = json.dumps(props)
            if "secretsmanager:DeleteSecret" in text:
                problem(f"[{stage}] SecretSeederRole may not delete secrets in stage and prod")

    if res["DeployWebhook"]["Exists"] != bool(s["Parameters"].get("WebhookBaseUrl")):
        problem(f"[{stage}] DeployWebhook must exist exactly when WebhookBaseUrl is set")
    if not with_url["Resources"]["DeployWebhook"]["Exists"]:
        problem(f"[{stage}] DeployWebhook must exist when WebhookBaseUrl is set")


# ---------------------------------------------------------------------------------------------
# samconfig.toml <-> pipeline/config/<stage>.json <-> pipeline.yaml
# ---------------------------------------------------------------------------------------------
def pairs(value) -> dict[str, str]:
    items = value if isinstance(value, list) else str(value).split()
    out = {}
    for item in items:
        key, _, val = item.partition("=")
        out[key] = val.strip('"')
    return out


def check_stage_configs(template: dict) -> dict[str, dict[str, str]]:
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text())
    declared = set(template.get("Parameters", {}))
    stage_params: dict[str, dict[str, str]] = {}
    for stage in STAGES:
        deploy = samconfig.get(stage, {}).get("deploy", {}).get("parameters")
        if deploy is None:
            problem(f"samconfig.toml: no [{stage}.deploy.parameters]")
            continue
        if deploy.get("stack_name") != f"stackwright-{stage}":
            problem(f"samconfig.toml [{stage}]: stack_name must be stackwright-{stage}")
        caps = set(str(deploy.get("capabilities", "")).split())
        if not {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"} <= caps:
            problem(f"samconfig.toml [{stage}]: capabilities need CAPABILITY_IAM CAPABILITY_AUTO_EXPAND")
        if stage == "prod" and deploy.get("confirm_changeset") is not True:
            problem("samconfig.toml [prod]: confirm_changeset must be true")
        params = pairs(deploy.get("parameter_overrides", []))
        tags = pairs(deploy.get("tags", []))
        stage_params[stage] = params
        if params.get("Stage") != stage:
            problem(f"samconfig.toml [{stage}]: parameter_overrides must set Stage={stage}")
        for key in set(params) - declared:
            problem(f"samconfig.toml [{stage}]: parameter {key} is not in template.yaml")
        path = ROOT / "pipeline" / "config" / f"{stage}.json"
        if not path.is_file():
            problem(f"{path.relative_to(ROOT)} is missing")
            continue
        config = json.loads(path.read_text())
        if config.get("Parameters", {}) != params:
            problem(
                f"{path.relative_to(ROOT)}: Parameters {config.get('Parameters')} differ from "
                f"samconfig.toml [{stage}] parameter_overrides {params}"
            )
        if config.get("Tags", {}) != tags:
            problem(f"{path.relative_to(ROOT)}: Tags {config.get('Tags')} differ from samconfig.toml [{stage}] tags {tags}")
    return stage_params


def check_pipeline() -> None:
    path = ROOT / "pipeline.yaml"
    if not path.is_file():
        problem("pipeline.yaml is missing")
        return
    pipeline = load(path)
    text = json.dumps(pipeline)
    for stage in STAGES:
        if f"pipeline/config/{stage}.json" not in text:
            problem(f"pipeline.yaml: no deploy of stage {stage} with pipeline/config/{stage}.json")


def main() -> int:
    template = load(ROOT / "template.yaml")
    functions = check_functions(template)
    check_custom_resources(template, functions)
    stage_params = check_stage_configs(template)
    stages = list(stage_params)
    resolved = resolve(stages)
    with_url = resolve(stages, {"WebhookBaseUrl": "https://hooks.example.com"})
    if resolved is not None and with_url is not None:
        for stage in stages:
            check_stage(stage, resolved[stage], with_url[stage])
    check_pipeline()
    if problems:
        print("check-templates: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    customs = sum(1 for r in template["Resources"].values() if str(r.get("Type", "")).startswith("Custom::"))
    print(
        f"check-templates: ok ({len(functions)} functions, {customs} custom resources, "
        f"{len(stage_params)} stages, samconfig.toml = pipeline/config/*.json)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
