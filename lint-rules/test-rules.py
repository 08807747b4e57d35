#!/usr/bin/env python3
"""Shows that stackwright's cfn-lint rules (lint-rules/rules/) can fail, and that they pass on
the project's own templates. Run by scripts/lint-templates.sh (`make lint`, `make validate`).

Each fixture in lint-rules/fixtures/ says in its Metadata how often each of our rules must fire:

    Metadata:
      lint-rules-test:
        expect: { E9103: 6 }

and every rule of ours it does not name must stay silent. pipeline.yaml and template.yaml must
draw none. Every rule in lint-rules/rules/ needs a fixture on which it fires. cfn-lint's own
findings in the fixtures are not ours and are ignored.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml  # cfn-lint's dependency, in .venv

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "lint-rules" / "rules"
FIXTURES = ROOT / "lint-rules" / "fixtures"
PROJECT_TEMPLATES = [ROOT / "pipeline.yaml", ROOT / "template.yaml"]


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as plain values."""


Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def our_ids() -> set[str]:
    ids = set()
    for path in RULES.glob("*.py"):
        ids |= set(re.findall(r'^\s+id = "(E9\d{3})"', path.read_text(), re.M))
    return ids


def main() -> int:
    ids = our_ids()
    if not ids:
        sys.exit(f"test-rules: no rule found in {RULES}")
    expected: dict[Path, Counter] = {}
    for fixture in sorted(FIXTURES.glob("*.yaml")):
        meta = (yaml.load(fixture.read_text(), Loader=Loader) or {}).get("Metadata", {})
        expect = (meta.get("lint-rules-test") or {}).get("expect")
        if expect is None:
            sys.exit(f"test-rules: {fixture.name} has no Metadata: lint-rules-test: expect:")
        expected[fixture] = Counter(expect)
    for template in PROJECT_TEMPLATES:
        expected[template] = Counter()

    run = subprocess.run(
        ["cfn-lint", *map(str, expected), "--append-rules", str(RULES), "--format", "parseable"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if run.returncode not in (0, 2, 4, 6, 8, 10, 12, 14) or "Traceback" in run.stderr:
        sys.exit(f"test-rules: cfn-lint failed (exit {run.returncode}):\n{run.stderr}")
    found: dict[Path, Counter] = {path: Counter() for path in expected}
    messages: dict[Path, list[str]] = {path: [] for path in expected}
    for line in run.stdout.splitlines():
        parts = line.split(":", 6)
        if len(parts) < 7 or parts[5] not in ids:
            continue
        path = (ROOT / parts[0]).resolve()
        found.setdefault(path, Counter())[parts[5]] += 1
        messages.setdefault(path, []).append(f"{parts[1]}: {parts[5]} {parts[6]}")

    problems = []
    for path, want in expected.items():
        got = found.get(path, Counter())
        for rule in sorted(ids | set(want) | set(got)):
            if got[rule] != want[rule]:
                problems.append(f"{path.relative_to(ROOT)}: {rule} fired {got[rule]} times, expected {want[rule]}")
        if got != want:
            problems += [f"    {m}" for m in messages.get(path, [])]
    for rule in sorted(ids):
        if not any(want[rule] for path, want in expected.items() if path.parent == FIXTURES):
            problems.append(f"{rule}: no fixture in {FIXTURES.relative_to(ROOT)} on which it fires")

    if problems:
        print("test-rules: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    fixtures = [p for p in expected if p.parent == FIXTURES]
    print(
        f"test-rules: ok ({len(ids)} rules, each firing as expected on {len(fixtures)} fixtures; "
        "none on pipeline.yaml or template.yaml)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
