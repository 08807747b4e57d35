#!/usr/bin/env python3
"""Writes a copy of a stage's template whose deploy fails mid-update, to watch the rollback.

    scripts/failing-update.py template.yaml .local/failing-update.yaml

The copy replaces the app secret (a new `Name`) and the webhook (a new collection), narrows
the app user's grants in place, and adds `Broken`, a migration resource with a secret ARN
that is not one, after all of them: its Create fails, and the stack rolls back. Used by
`make rollback-demo` and by local/stage-runner/tests/lifecycle.rs.
"""

import sys

EDITS = [
    (
        "the app secret's name",
        "# Name: default <stack name>/AppSecret, under the prefix the seeder's policy allows.",
        "Name: !Sub '${AWS::StackName}/AppSecretMoved'",
    ),
    ("the webhook's create path", "Path: /hooks\n", "Path: /hooks2\n"),
    ("the webhook's object path", "Path: /hooks/{id}\n", "Path: /hooks2/{id}\n"),
    (
        "the app user's grant",
        "        - Privileges: ReadWrite\n          Schema: public",
        "        - Privileges: ReadOnly\n          Schema: public",
    ),
    (
        "a failing resource after the others",
        "\nOutputs:\n",
        "  Broken:\n"
        "    Type: Custom::DatabaseMigration\n"
        "    DependsOn: [DeployWebhook, AppDatabaseUser, AppSecret]\n"
        "    Properties:\n"
        "      ServiceToken: !Ref DbMigrationFunction.Alias\n"
        "      SecretArn: not-a-secret\n"
        "\nOutputs:\n",
    ),
]


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        text = f.read()
    for what, old, new in EDITS:
        if old not in text:
            print(f"{source}: cannot change {what}: `{old.strip()}` is not in it", file=sys.stderr)
            return 1
        text = text.replace(old, new)
    with open(target, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
