//! Stacks of the example resource through the stage runner, run exactly as `make up` runs the
//! template's functions:
//!
//! - a resource whose process dies during a stack operation: CloudFormation sees
//!   `CREATE_FAILED` with the death named, rolls the stack back and is done in seconds, not the
//!   hour a stack waits for an answer that never comes;
//! - `DeletionPolicy: Retain`: no Delete is sent on a rollback of the operation that created it
//!   nor when the stack is deleted (`DELETE_SKIPPED`);
//! - the rollback of a replacement, played both ways CloudFormation may play it: a Delete of
//!   the new id, or an Update of the new id with the old properties and a Delete of the new id
//!   at cleanup. Either way the old id is current again and the new one is gone;
//! - a Create that never answers (no supervisor, the process killed): the id CloudFormation
//!   makes up, whose Delete the function answers at once;
//! - a rollback that fails: `UPDATE_ROLLBACK_FAILED`, no update until `continue-rollback`, which
//!   tries again, or skips the resource (`ResourcesToSkip`).

use std::collections::BTreeMap;
use std::time::Duration;

use stage_runner::engine::{self, Options, Report};
use stage_runner::plan::ReplacedRollback;
use stage_runner::services;

/// The example function, and `RESOURCES`.
const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  ExampleFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: example-resource
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Timeout: 30
      Environment:
        Variables:
          STACKWRIGHT_STACKS: !Ref AWS::StackId
RESOURCES
"#;

/// Two example resources, the second of which dies as `BEHAVIOR` says.
const DYING: &str = r#"
  Steady:
    Type: Custom::Example
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: steady
  Dying:
    Type: Custom::Example
    DependsOn: Steady
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: dying
      Behavior: BEHAVIOR
"#;

struct Stage {
    _dir: tempfile::TempDir,
    name: String,
    options: Options,
}

impl Stage {
    /// A stack of the example function and `resources` (template YAML under `Resources:`).
    fn new(resources: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("swc-{}", uuid::Uuid::new_v4().simple());
        std::fs::write(
            dir.path().join("template.yaml"),
            TEMPLATE.replace("RESOURCES\n", resources.trim_start_matches('\n')),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("samconfig.toml"),
            format!("version = 0.1\n[local.deploy.parameters]\nstack_name = \"{name}\"\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("overrides.yaml"), "{}\n").unwrap();
        let options = Options {
            stage: "local".into(),
            template: dir.path().join("template.yaml"),
            samconfig: dir.path().join("samconfig.toml"),
            overrides: dir.path().join("overrides.yaml"),
            state_dir: dir.path().join("state"),
            services: services::Options {
                root: harness::workspace_root(),
                dir: dir.path().join("services"),
                exe: harness::pinned(env!("CARGO_BIN_EXE_stackwright")).unwrap(),
            },
            bin_dir: harness::bin_dir(&["example-resource"]).unwrap(),
            parameters: BTreeMap::new(),
            env: Vec::new(),
            replaced_rollback: ReplacedRollback::DeleteNew,
        };
        Self {
            _dir: dir,
            name,
            options,
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        services::stop(&self.options.services.dir, &mut std::io::sink());
    }
}

fn reason<'r>(report: &'r Report, logical_id: &str, status: &str) -> &'r str {
    report
        .events
        .iter()
        .find(|e| e.logical_id == logical_id && e.status == status)
        .map_or("", |e| e.reason.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_whose_process_dies_is_create_failed_and_the_stack_rolls_back() {
    for (behavior, says) in [
        (
            "Kill",
            "killed by SIGKILL, not by the supervisor: out of memory?",
        ),
        ("Abort", "aborted (SIGABRT)"),
        ("Segfault", "crashed (SIGSEGV)"),
    ] {
        let stage = Stage::new(&DYING.replace("BEHAVIOR", behavior));

        // Given a stack whose second resource's process dies on Create, when it comes up:
        let mut out = Vec::new();
        let report = engine::up(&stage.options, &mut out).await.unwrap();
        let out = String::from_utf8(out).unwrap();

        // then that resource is CREATE_FAILED with the death named,
        assert!(!report.ok, "{out}");
        assert_eq!(
            report.statuses("Dying")[..2],
            ["CREATE_IN_PROGRESS", "CREATE_FAILED"],
            "{behavior}: {out}"
        );
        let failed = reason(&report, "Dying", "CREATE_FAILED");
        assert!(
            failed.contains("the function's worker process died while handling the Create")
                && failed.contains(says),
            "{behavior}: {failed}\n{out}"
        );
        // the stack rolls back: the resource that was made is deleted, and the dead one's
        // Delete (its id chosen for a failed Create) succeeds at once,
        assert_eq!(
            report.statuses("Steady"),
            [
                "CREATE_IN_PROGRESS",
                "CREATE_COMPLETE",
                "DELETE_IN_PROGRESS",
                "DELETE_COMPLETE"
            ],
            "{behavior}: {out}"
        );
        assert_eq!(
            report.statuses("Dying")[2..],
            ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"],
            "{behavior}: {out}"
        );
        assert_eq!(
            report.statuses(&stage.name).last(),
            Some(&"ROLLBACK_COMPLETE"),
            "{behavior}: {out}"
        );
        // and the answer came when the process died, not at the function's 30 s deadline.
        let at = |status| {
            report
                .events
                .iter()
                .find(|e| e.logical_id == "Dying" && e.status == status)
                .map(|e| e.at)
                .unwrap()
        };
        let took = at("CREATE_FAILED") - at("CREATE_IN_PROGRESS");
        assert!(
            took < Duration::from_secs(10),
            "{behavior}: the FAILED answer took {took:?}\n{out}"
        );
    }
}

/// A retained resource and a deleted one; `Failing` fails its Create when present.
const POLICIES: &str = r#"
  Kept:
    Type: Custom::Example
    DeletionPolicy: Retain
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: kept
  Dropped:
    Type: Custom::Example
    DependsOn: Kept
    DeletionPolicy: Delete
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: dropped
"#;

const FAILING: &str = r#"
  Failing:
    Type: Custom::Example
    DependsOn: Dropped
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: failing
      Behavior: Fail
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_resource_gets_no_delete_on_rollback_nor_when_the_stack_is_deleted() {
    // Given a first operation that fails after creating a retained and a deleted resource,
    let stage = Stage::new(&format!("{POLICIES}{FAILING}"));
    let mut out = Vec::new();
    let report = engine::up(&stage.options, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(!report.ok, "{out}");
    // then the rollback deletes the one and skips the other, sending it nothing.
    assert_eq!(
        report.statuses("Dropped"),
        [
            "CREATE_IN_PROGRESS",
            "CREATE_COMPLETE",
            "DELETE_IN_PROGRESS",
            "DELETE_COMPLETE"
        ],
        "{out}"
    );
    assert_eq!(
        report.statuses("Kept"),
        ["CREATE_IN_PROGRESS", "CREATE_COMPLETE", "DELETE_SKIPPED"],
        "{out}"
    );
    assert!(
        reason(&report, "Kept", "DELETE_SKIPPED").ends_with("DeletionPolicy: Retain"),
        "{out}"
    );

    // Given the same stack without the failing resource, when it comes up and is deleted,
    std::fs::write(
        &stage.options.template,
        TEMPLATE.replace("RESOURCES\n", POLICIES.trim_start_matches('\n')),
    )
    .unwrap();
    let mut out = Vec::new();
    let report = engine::up(&stage.options, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(report.ok, "{out}");
    let mut out = Vec::new();
    let report = engine::down(&stage.options, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    // then the retained resource is skipped, the other deleted, and the stack is gone.
    assert!(report.ok, "{out}");
    assert_eq!(report.statuses("Kept"), ["DELETE_SKIPPED"], "{out}");
    assert_eq!(
        report.statuses("Dropped"),
        ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"],
        "{out}"
    );
    assert_eq!(
        report.statuses(&stage.name).last(),
        Some(&"DELETE_COMPLETE"),
        "{out}"
    );
}

/// `Replaced`, whose physical id is `example:<Name>`: a new `Name` is a replacement.
const REPLACED: &str = r#"
  Replaced:
    Type: Custom::Example
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: NAME
"#;

const FAILING_AFTER_REPLACED: &str = r#"
  Failing:
    Type: Custom::Example
    DependsOn: Replaced
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: failing
      Behavior: Fail
"#;

fn physical_id(stage: &Stage, logical_id: &str) -> String {
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stage.options.state_dir.join("local.json")).unwrap(),
    )
    .unwrap();
    state["resources"][logical_id]["physical_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_replacement_ends_on_the_old_id_under_both_sequences() {
    for (sequence, expected) in [
        (
            ReplacedRollback::DeleteNew,
            &[
                "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE",
                "DELETE_IN_PROGRESS",
                "DELETE_COMPLETE",
            ][..],
        ),
        (
            ReplacedRollback::UpdateBack,
            &[
                "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE",
                "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE",
                "DELETE_IN_PROGRESS",
                "DELETE_COMPLETE",
            ][..],
        ),
    ] {
        // Given a stack whose resource is `example:old`,
        let mut stage = Stage::new(&REPLACED.replace("NAME", "old"));
        stage.options.replaced_rollback = sequence;
        let mut out = Vec::new();
        assert!(engine::up(&stage.options, &mut out).await.unwrap().ok);
        assert_eq!(physical_id(&stage, "Replaced"), "example:old");

        // when an update replaces it and then fails,
        std::fs::write(
            &stage.options.template,
            TEMPLATE.replace(
                "RESOURCES\n",
                &format!(
                    "{}{}",
                    REPLACED.replace("NAME", "new").trim_start_matches('\n'),
                    FAILING_AFTER_REPLACED.trim_start_matches('\n')
                ),
            ),
        )
        .unwrap();
        let mut out = Vec::new();
        let report = engine::up(&stage.options, &mut out).await.unwrap();
        let out = String::from_utf8(out).unwrap();

        // then the rollback ends on the old id, and the new one was deleted.
        assert!(!report.ok, "{sequence:?}: {out}");
        assert_eq!(report.statuses("Replaced"), expected, "{sequence:?}: {out}");
        assert_eq!(
            reason(&report, "Replaced", "DELETE_IN_PROGRESS"),
            "example:new",
            "{sequence:?}: {out}"
        );
        assert_eq!(
            physical_id(&stage, "Replaced"),
            "example:old",
            "{sequence:?}: {out}"
        );
        assert_eq!(
            report.statuses(&stage.name).last(),
            Some(&"UPDATE_ROLLBACK_COMPLETE"),
            "{sequence:?}: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_never_answers_is_rolled_back_under_the_id_cloudformation_makes_up() {
    // Given a function without its supervisor, whose process dies on Create (nothing answers),
    let resources = DYING.replace("BEHAVIOR", "Kill");
    let stage = Stage::new(&resources);
    let template = std::fs::read_to_string(&stage.options.template).unwrap();
    std::fs::write(
        &stage.options.template,
        template.replace(
            "          STACKWRIGHT_STACKS: !Ref AWS::StackId\n",
            "          STACKWRIGHT_STACKS: !Ref AWS::StackId\n          STACKWRIGHT_SUPERVISOR: \"off\"\n",
        ),
    )
    .unwrap();
    let mut out = Vec::new();
    let report = engine::up(&stage.options, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();

    // then the Create fails for want of an answer, and the rollback's Delete carries an id of
    // CloudFormation's making, which the function recognises and answers at once.
    assert!(!report.ok, "{out}");
    assert!(
        reason(&report, "Dying", "CREATE_FAILED").starts_with("the function sent no response"),
        "{out}"
    );
    let deleted = reason(&report, "Dying", "DELETE_IN_PROGRESS");
    assert!(
        custom_resource::response::invented_by_cloudformation(deleted, &stage.name, "Dying"),
        "`{deleted}` is not an id CloudFormation would make up\n{out}"
    );
    assert_eq!(
        report.statuses("Dying")[2..],
        ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"],
        "{out}"
    );
    assert_eq!(
        report.statuses(&stage.name).last(),
        Some(&"ROLLBACK_COMPLETE"),
        "{out}"
    );
}

/// `Stubborn` succeeds except while the stack rolls back.
const STUBBORN: &str = r#"
  Stubborn:
    Type: Custom::Example
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: stubborn
      Behavior: FailOnRollback
      Count: COUNT
"#;

const FAILING_AFTER_STUBBORN: &str = r#"
  Failing:
    Type: Custom::Example
    DependsOn: Stubborn
    Properties:
      ServiceToken: !GetAtt ExampleFunction.Arn
      Name: failing
      Behavior: Fail
"#;

async fn up(stage: &Stage) -> Result<(Report, String), stage_runner::Error> {
    let mut out = Vec::new();
    let report = engine::up(&stage.options, &mut out).await?;
    Ok((report, String::from_utf8(out).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollback_waits_for_continue_rollback_which_retries_or_skips() {
    // Given a stack whose resource fails whenever the stack rolls back,
    let stage = Stage::new(&STUBBORN.replace("COUNT", "1"));
    assert!(up(&stage).await.unwrap().0.ok);

    // when an update changes it and then fails, its rollback fails too:
    std::fs::write(
        &stage.options.template,
        TEMPLATE.replace(
            "RESOURCES\n",
            &format!(
                "{}{}",
                STUBBORN.replace("COUNT", "2").trim_start_matches('\n'),
                FAILING_AFTER_STUBBORN.trim_start_matches('\n')
            ),
        ),
    )
    .unwrap();
    let (report, out) = up(&stage).await.unwrap();
    assert!(!report.ok, "{out}");
    assert_eq!(
        report.statuses("Stubborn"),
        [
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE",
            "UPDATE_IN_PROGRESS",
            "UPDATE_FAILED"
        ],
        "{out}"
    );
    assert_eq!(
        report.statuses(&stage.name).last(),
        Some(&"UPDATE_ROLLBACK_FAILED"),
        "{out}"
    );

    // then no update is taken until the rollback is continued,
    let refused = up(&stage).await.unwrap_err().to_string();
    assert!(
        refused.contains("UPDATE_ROLLBACK_FAILED") && refused.contains("continue-rollback"),
        "{refused}"
    );
    // continuing fails the same way while the cause stays, and names only failed resources,
    let mut out = Vec::new();
    let again = engine::continue_rollback(&stage.options, &[], &mut out)
        .await
        .unwrap();
    assert!(!again.ok);
    assert_eq!(
        again.statuses(&stage.name).last(),
        Some(&"UPDATE_ROLLBACK_FAILED")
    );
    let unknown = engine::continue_rollback(&stage.options, &["Failing".into()], &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("those are: Stubborn"), "{unknown}");
    // and skipping it completes the rollback without asking it, after which updates go on.
    let mut out = Vec::new();
    let skipped = engine::continue_rollback(&stage.options, &["Stubborn".into()], &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(skipped.ok, "{out}");
    assert_eq!(skipped.statuses("Stubborn"), ["UPDATE_COMPLETE"], "{out}");
    assert_eq!(
        skipped.statuses(&stage.name).last(),
        Some(&"UPDATE_ROLLBACK_COMPLETE"),
        "{out}"
    );
    std::fs::write(
        &stage.options.template,
        TEMPLATE.replace(
            "RESOURCES\n",
            STUBBORN.replace("COUNT", "3").trim_start_matches('\n'),
        ),
    )
    .unwrap();
    let (report, out) = up(&stage).await.unwrap();
    assert!(report.ok, "{out}");
}
