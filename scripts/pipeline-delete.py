#!/usr/bin/env python3
"""Deletes the pipeline stack (pipeline.yaml) after emptying its artifact bucket.

Usage: pipeline-delete.py [STACK_NAME]      (default: stackwright-pipeline)

CloudFormation cannot delete a bucket that holds objects, and the artifact bucket is
versioned, so every object version and delete marker goes first. The stage stacks
(stackwright-dev, -test, -stage, -prod) are not touched: they keep running, and are deployed
from a laptop (`make deploy STAGE=<stage>`) until a pipeline exists again.

Uses the standard AWS credential chain (AWS_PROFILE, AWS_REGION, ...).
"""

from __future__ import annotations

import sys

import boto3
from botocore.exceptions import ClientError


def stack_outputs(cfn, stack: str) -> dict[str, str] | None:
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def empty_bucket(s3, bucket: str) -> int:
    """Deletes every object version and delete marker; returns how many."""
    deleted = 0
    try:
        # Always the first page again: paging on while deleting can skip what moved.
        while True:
            page = s3.list_object_versions(Bucket=bucket, MaxKeys=1000)
            keys = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if not keys:
                return deleted
            # delete_objects takes at most 1000 keys.
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                errors = answer.get("Errors", [])
                if errors:
                    raise SystemExit(f"could not delete {len(errors)} objects from {bucket}: {errors[0]}")
                deleted += len(batch)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return deleted
        raise


def main(argv: list[str]) -> int:
    stack = argv[1] if len(argv) > 1 else "stackwright-pipeline"
    session = boto3.session.Session()
    cfn = session.client("cloudformation")
    s3 = session.client("s3")

    outputs = stack_outputs(cfn, stack)
    if outputs is None:
        print(f"{stack}: no such stack, nothing to delete")
        return 0
    bucket = outputs.get("ArtifactBucketName")

    # Twice at most: a pipeline run still writing can put objects back between the emptying
    # and the bucket's deletion.
    for attempt in (1, 2):
        if bucket:
            print(f"emptying s3://{bucket} (every version): {empty_bucket(s3, bucket)} objects deleted")
        print(f"deleting stack {stack} (the stage stacks stay)")
        cfn.delete_stack(StackName=stack)
        try:
            cfn.get_waiter("stack_delete_complete").wait(
                StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 90}
            )
            print(f"{stack} deleted")
            return 0
        except Exception as err:  # a WaiterError: DELETE_FAILED or still in progress
            if attempt == 2:
                print(f"{stack} was not deleted: {err}", file=sys.stderr)
                return 1
            print(f"delete did not complete ({err}); emptying the bucket again and retrying")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
