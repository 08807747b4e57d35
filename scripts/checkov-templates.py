#!/usr/bin/env python3
"""Runs checkov on CloudFormation templates and holds its suppressions to account.

Usage: checkov-templates.py TEMPLATE...

Fails when checkov finds anything, when a suppression (a `checkov: skip:` entry in a resource's
Metadata) has no written reason, or when a suppression is stale: the check it silences would
pass anyway (found by scanning a copy of each template with its suppressions switched off).
Offline: `--skip-download` keeps checkov from calling its platform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOV = [
    "checkov",
    "--framework",
    "cloudformation",
    "--skip-download",
    "--output",
    "json",
]


def scan(files: list[Path], cwd: Path) -> list[dict]:
    """checkov's per-check results for these files: one dict per check and resource."""
    args = CHECKOV + [arg for f in files for arg in ("-f", str(f))]
    run = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    try:
        reports = json.loads(run.stdout or "null")
    except json.JSONDecodeError:
        sys.exit(f"checkov did not answer in JSON (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    if reports is None:
        sys.exit(f"checkov produced no report (exit {run.returncode}):\n{run.stderr}")
    reports = reports if isinstance(reports, list) else [reports]
    results = []
    for report in reports:
        if report.get("summary", {}).get("parsing_errors"):
            sys.exit(f"checkov could not parse: {report['results'].get('parsing_errors')}")
        for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
            for check in report.get("results", {}).get(outcome, []):
                results.append({**check, "outcome": outcome})
    return results


def key(check: dict) -> tuple[str, str, str]:
    return (Path(check["file_path"]).name, check["resource"], check["check_id"])


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.exit(__doc__)
    files = [Path(a).resolve() for a in argv[1:]]
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        sys.exit("checkov-templates: give templates with distinct file names")

    results = scan(files, Path.cwd())
    failed = [c for c in results if c["outcome"] == "failed_checks"]
    skipped = [c for c in results if c["outcome"] == "skipped_checks"]
    problems: list[str] = []
    for c in failed:
        problems.append(
            f"{Path(c['file_path']).name}: {c['resource']}: {c['check_id']} {c['check_name']}"
        )
    for c in skipped:
        reason = (c.get("check_result", {}) or {}).get("suppress_comment", "") or ""
        if not reason.strip() or reason.strip() == "No comment provided":
            problems.append(
                f"{Path(c['file_path']).name}: {c['resource']}: suppression of {c['check_id']} has no written reason"
            )

    # Stale suppressions: scan copies with every `checkov:` Metadata key renamed.
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for f in files:
            copy = Path(tmp) / f.name
            copy.write_text(f.read_text().replace("checkov:", "checkov-suppressions-off:"))
            copies.append(copy)
        unsuppressed = {key(c) for c in scan(copies, Path(tmp)) if c["outcome"] == "failed_checks"}
    for c in skipped:
        if key(c) not in unsuppressed:
            problems.append(
                f"{Path(c['file_path']).name}: {c['resource']}: suppression of {c['check_id']} is stale "
                f"(the check passes without it): remove it"
            )

    for f in files:
        mine = [c for c in results if Path(c["file_path"]).name == f.name]
        counts = {o: sum(1 for c in mine if c["outcome"] == o) for o in ("passed_checks", "failed_checks", "skipped_checks")}
        shown = f.name if f.is_relative_to(Path(tempfile.gettempdir())) else os.path.relpath(f)
        print(
            f"checkov {shown}: {counts['passed_checks']} passed, {counts['failed_checks']} failed, "
            f"{counts['skipped_checks']} suppressed with a reason"
        )
    if problems:
        print("checkov-templates: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
