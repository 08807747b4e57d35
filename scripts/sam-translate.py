#!/usr/bin/env python3
"""Writes the CloudFormation that the SAM transform makes of a SAM template, offline.

Usage: sam-translate.py TEMPLATE OUTPUT [Key=Value ...]

The same translator `sam validate` runs (SAM CLI's own), with no AWS account: the template
uses no managed policy by name, so the translator never needs to look one up. The
AWS::LanguageExtensions intrinsics (the `!If` in DeletionPolicy) are left for CloudFormation,
as they would be by `sam deploy`. scripts/lint-templates.sh runs checkov on the result, so
the resources SAM generates (functions, versions, aliases, EventInvokeConfig) are checked too.
"""

import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")

from samcli.lib.translate.sam_template_validator import SamTemplateValidator  # noqa: E402
from samcli.yamlhelper import yaml_parse  # noqa: E402


class NoManagedPolicies:
    """Stands in for the loader that lists IAM's managed policies (an AWS call)."""

    def load(self):
        return {}


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    source, target, overrides = argv[1], argv[2], argv[3:]
    parameters = dict(pair.split("=", 1) for pair in overrides)
    with open(source, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    validator = SamTemplateValidator(
        template,
        NoManagedPolicies(),
        region=os.environ["AWS_DEFAULT_REGION"],
        parameter_overrides=parameters,
    )
    translated = validator.get_translated_template_if_valid()
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write(translated)


if __name__ == "__main__":
    main(sys.argv)
