//! CloudFormation's behaviour, one rule per test.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn resource(physical_id: &str, properties: Value) -> ResourceState {
    ResourceState {
        kind: "Custom::Example".into(),
        function: "example-resource".into(),
        physical_id: physical_id.into(),
        properties,
        data: serde_json::Map::new(),
        deletion_policy: Policy::Delete,
        update_replace_policy: Policy::Delete,
    }
}

#[test]
fn an_update_answered_with_another_id_is_a_replacement_and_the_same_or_no_id_is_not() {
    assert!(replaced("id-1", "id-2"));
    assert!(!replaced("id-1", "id-1"));
    // An answer without an id keeps the current one (the library answers with it).
    assert!(!replaced("id-1", ""));
}

#[test]
fn cleanup_deletes_old_ids_newest_first_then_what_left_the_template() {
    let a = resource("a-old", json!({"N": 1}));
    let b = resource("b-old", json!({"N": 2}));
    let mut gone = resource("gone", json!({}));
    let mut kept = resource("kept", json!({}));
    kept.deletion_policy = Policy::Retain;
    gone.update_replace_policy = Policy::Retain; // not this removal's policy
    let steps = cleanup(
        vec![("A".into(), a.clone()), ("B".into(), b.clone())],
        |id| {
            if id == "B" {
                Policy::Retain
            } else {
                Policy::Delete
            }
        },
        vec![("Gone".into(), gone.clone()), ("Kept".into(), kept.clone())],
    );
    assert_eq!(
        steps,
        vec![
            Cleanup::Skip {
                id: "B".into(),
                old: b,
                why: "UpdateReplacePolicy: Retain",
                forget: false
            },
            Cleanup::Delete {
                id: "A".into(),
                old: a,
                forget: false
            },
            Cleanup::Delete {
                id: "Gone".into(),
                old: gone,
                forget: true
            },
            Cleanup::Skip {
                id: "Kept".into(),
                old: kept,
                why: "DeletionPolicy: Retain",
                forget: true
            },
        ]
    );
}

#[test]
fn a_stack_delete_sends_no_delete_to_a_retained_resource() {
    assert!(sends_delete(
        Removal::StackDeleted,
        Policy::Delete,
        Policy::Retain
    ));
    assert!(!sends_delete(
        Removal::StackDeleted,
        Policy::Retain,
        Policy::Delete
    ));
    assert!(!sends_delete(
        Removal::StackDeleted,
        Policy::RetainExceptOnCreate,
        Policy::Delete
    ));
}

#[test]
fn a_custom_resource_with_snapshot_is_deleted() {
    assert!(sends_delete(
        Removal::StackDeleted,
        Policy::Snapshot,
        Policy::Snapshot
    ));
}

#[test]
fn a_resource_that_left_the_template_follows_its_deletion_policy() {
    assert!(!sends_delete(
        Removal::LeftTemplate,
        Policy::Retain,
        Policy::Delete
    ));
    assert!(sends_delete(
        Removal::LeftTemplate,
        Policy::Delete,
        Policy::Retain
    ));
}

#[test]
fn the_old_id_of_a_replacement_follows_the_update_replace_policy_not_the_deletion_policy() {
    assert!(!sends_delete(
        Removal::Replaced,
        Policy::Delete,
        Policy::Retain
    ));
    assert!(sends_delete(
        Removal::Replaced,
        Policy::Retain,
        Policy::Delete
    ));
}

#[test]
fn a_rolled_back_create_is_kept_by_retain_and_deleted_by_retain_except_on_create() {
    assert!(!sends_delete(
        Removal::CreateRolledBack,
        Policy::Retain,
        Policy::Delete
    ));
    assert!(sends_delete(
        Removal::CreateRolledBack,
        Policy::RetainExceptOnCreate,
        Policy::Delete
    ));
    assert!(sends_delete(
        Removal::CreateRolledBack,
        Policy::Delete,
        Policy::Retain
    ));
}

#[test]
fn policies_outside_cloudformations_four_are_refused() {
    assert_eq!(Policy::parse("Retain"), Some(Policy::Retain));
    assert_eq!(
        Policy::parse("RetainExceptOnCreate"),
        Some(Policy::RetainExceptOnCreate)
    );
    assert_eq!(Policy::parse("retain"), None);
    assert_eq!(Policy::parse("Keep"), None);
}

#[test]
fn a_new_resource_is_created_a_changed_one_updated_and_an_unchanged_one_left_alone() {
    let recorded = resource("id-1", json!({"Name": "a"}));
    assert_eq!(
        step(None, &json!({"Name": "a"}), "example-resource"),
        Step::Create
    );
    assert_eq!(
        step(Some(&recorded), &json!({"Name": "a"}), "example-resource"),
        Step::Unchanged
    );
    assert_eq!(
        step(Some(&recorded), &json!({"Name": "b"}), "example-resource"),
        Step::Update
    );
}

#[test]
fn a_resource_moved_to_another_function_is_updated() {
    let recorded = resource("id-1", json!({"Name": "a"}));
    assert_eq!(
        step(Some(&recorded), &json!({"Name": "a"}), "other-function"),
        Step::Update
    );
}

#[test]
fn the_first_operation_is_a_create_and_rolls_back_to_rollback_complete() {
    let p = phases(true);
    assert_eq!(
        (p.begin, p.rolling_back, p.rolled_back, p.rollback_failed),
        (
            "CREATE_IN_PROGRESS",
            "ROLLBACK_IN_PROGRESS",
            "ROLLBACK_COMPLETE",
            "ROLLBACK_FAILED"
        )
    );
}

#[test]
fn a_later_operation_is_an_update_and_may_end_update_rollback_failed() {
    let p = phases(false);
    assert_eq!(
        (p.begin, p.complete, p.rolled_back, p.rollback_failed),
        (
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_FAILED"
        )
    );
}

#[test]
fn a_rollback_undoes_newest_first_with_the_attempted_properties_as_the_old() {
    let before = resource("id-a", json!({"Name": "a"}));
    let attempted = json!({"Name": "a2"});
    let mut now = BTreeMap::new();
    now.insert("A".to_owned(), resource("id-a", attempted.clone()));
    now.insert("B".to_owned(), resource("id-b", json!({"Name": "b"})));
    let done = vec![
        Done::Updated("A".into(), before.clone(), attempted.clone()),
        Done::Created("B".into()),
    ];
    let undo = rollback(
        &done,
        |id| now.get(id),
        |_| Policy::Delete,
        ReplacedRollback::DeleteNew,
    );
    assert_eq!(
        undo,
        vec![
            Undo::Delete {
                id: "B".into(),
                current: now["B"].clone()
            },
            Undo::UpdateBack {
                id: "A".into(),
                current: now["A"].clone(),
                previous: before,
                attempted,
            },
        ]
    );
}

#[test]
fn a_rolled_back_replacement_deletes_the_new_id_and_sends_nothing_to_the_old() {
    let before = resource("id-old", json!({"Name": "a"}));
    let mut now = BTreeMap::new();
    now.insert("A".to_owned(), resource("id-new", json!({"Name": "b"})));
    let done = vec![Done::Updated(
        "A".into(),
        before.clone(),
        json!({"Name": "b"}),
    )];
    let undo = rollback(
        &done,
        |id| now.get(id),
        |_| Policy::Delete,
        ReplacedRollback::DeleteNew,
    );
    assert_eq!(
        undo,
        vec![Undo::DeleteReplacement {
            id: "A".into(),
            current: now["A"].clone(),
            previous: before,
        }]
    );
}

#[test]
fn a_retained_resource_created_by_the_failed_operation_is_kept_on_rollback() {
    let mut now = BTreeMap::new();
    now.insert("B".to_owned(), resource("id-b", json!({})));
    let undo = rollback(
        &[Done::Created("B".into())],
        |id| now.get(id),
        |_| Policy::Retain,
        ReplacedRollback::DeleteNew,
    );
    assert!(matches!(&undo[..], [Undo::Skip { id, .. }] if id == "B"));
}

#[test]
fn a_create_that_left_no_record_has_nothing_to_roll_back() {
    let now: BTreeMap<String, ResourceState> = BTreeMap::new();
    let undo = rollback(
        &[Done::Created("B".into())],
        |id| now.get(id),
        |_| Policy::Delete,
        ReplacedRollback::DeleteNew,
    );
    assert!(undo.is_empty());
}

#[test]
fn a_resource_recreated_after_drift_whose_create_failed_gets_its_record_back() {
    let before = resource("id-a", json!({"Name": "a"}));
    let now: BTreeMap<String, ResourceState> = BTreeMap::new();
    let undo = rollback(
        &[Done::Updated(
            "A".into(),
            before.clone(),
            json!({"Name": "a"}),
        )],
        |id| now.get(id),
        |_| Policy::Delete,
        ReplacedRollback::DeleteNew,
    );
    assert_eq!(
        undo,
        vec![Undo::Restore {
            id: "A".into(),
            previous: before
        }]
    );
}

#[test]
fn a_rolled_back_replacement_can_be_played_as_an_update_back_of_the_new_id() {
    let before = resource("id-old", json!({"Name": "a"}));
    let mut now = BTreeMap::new();
    now.insert("A".to_owned(), resource("id-new", json!({"Name": "b"})));
    let done = vec![Done::Updated(
        "A".into(),
        before.clone(),
        json!({"Name": "b"}),
    )];
    let undo = rollback(
        &done,
        |id| now.get(id),
        |_| Policy::Delete,
        ReplacedRollback::UpdateBack,
    );
    assert_eq!(
        undo,
        vec![Undo::UpdateBack {
            id: "A".into(),
            current: now["A"].clone(),
            previous: before,
            attempted: json!({"Name": "b"}),
        }]
    );
}

#[test]
fn the_replaced_rollback_switch_reads_its_two_names() {
    assert_eq!(
        ReplacedRollback::parse("update-back"),
        Some(ReplacedRollback::UpdateBack)
    );
    assert_eq!(
        ReplacedRollback::parse("delete-new"),
        Some(ReplacedRollback::DeleteNew)
    );
    assert_eq!(ReplacedRollback::parse("both"), None);
}

#[test]
fn a_create_that_never_answered_gets_an_id_the_library_knows_cloudformation_invented() {
    let id = invented_physical_id("swc-stack", "Dying", 0x1234_5678_9abc_def0_1122);
    assert!(id.starts_with("swc-stack-Dying-"), "{id}");
    assert!(custom_resource::response::invented_by_cloudformation(
        &id,
        "swc-stack",
        "Dying"
    ));
}

#[test]
fn continuing_a_rollback_retries_what_is_not_skipped_and_refuses_an_unknown_name() {
    let pending = vec![
        Done::Created("A".into()),
        Done::Updated(
            "B".into(),
            resource("id-b", json!({})),
            json!({"Name": "b2"}),
        ),
    ];
    let (retry, skipped) = continue_rollback(&pending, &["B".to_owned()]).unwrap();
    assert_eq!(retry, vec![pending[0].clone()]);
    assert_eq!(skipped, vec![pending[1].clone()]);
    let (retry, skipped) = continue_rollback(&pending, &[]).unwrap();
    assert_eq!((retry.len(), skipped.len()), (2, 0));
    let err = continue_rollback(&pending, &["C".to_owned()]).unwrap_err();
    assert_eq!(
        err,
        "`C` is not a resource whose rollback failed; those are: A, B"
    );
}
