//! `Custom::HttpResource` against json-server 0.17.4, a REST API nobody here wrote: Create,
//! Update in place, replacement, Delete, and the Deletes that must not delete.

mod support;

use serde_json::{Value, json};
use support::{JsonServer, Setup, succeeded};

/// The hook as a template would write it; CloudFormation delivers `true` as `"true"`.
fn hook(base: &str, name: &str) -> Value {
    hook_with(base, name, false)
}

/// `active` goes into the `Update` body, a string of JSON, so it arrives as a boolean.
fn hook_with(base: &str, name: &str, active: bool) -> Value {
    json!({
        "BaseUrl": base,
        "Create": {"Path": "/hooks", "Body": {"name": name, "active": "true", "events": ["push"]}, "ExpectStatus": ["201"]},
        "Read": {"Path": "/hooks/{id}"},
        "Update": {"Method": "PATCH", "Path": "/hooks/{id}", "Body": format!(r#"{{"name": "{name}", "active": {active}, "events": ["push", "pull_request"], "config": {{"insecure_ssl": 0}}}}"#)},
        "Delete": {"Path": "/hooks/{id}"},
        "Outputs": {"Name": "/name", "Active": "/active", "FirstEvent": "/events/0"},
        "Retry": {"MaxAttempts": "3"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_replace_delete_against_json_server() {
    let api = JsonServer::start(json!({"hooks": []})).await.unwrap();
    let s = Setup::new("http-json-server").await;
    let base = api.base_url();

    // Given a hook template, when CloudFormation creates it,
    let v1 = hook(&base, "web");
    let created = succeeded(&s.invoke(s.create(v1.clone())).await);
    // then the physical id is json-server's id, and the object is as the template wrote it:
    // an object `Body` is sent as CloudFormation delivered it (strings).
    assert_eq!(created["PhysicalResourceId"], "1");
    assert_eq!(
        created["Data"],
        json!({"Name": "web", "Active": "true", "FirstEvent": "push"})
    );
    let (status, stored) = api.get("/hooks/1").await;
    assert_eq!(status, 200);
    assert_eq!(stored["active"], "true");

    // When an Update runs (a PATCH whose `Body` is a string of JSON),
    let v1b = hook_with(&base, "web", true);
    let event = s.update("1", v1b.clone(), v1.clone());
    let updated = succeeded(&s.invoke(event.clone()).await);
    // then the id stays, the types of the string `Body` are kept, and `Data` follows.
    assert_eq!(updated["PhysicalResourceId"], "1");
    let (_, stored) = api.get("/hooks/1").await;
    assert_eq!(stored["active"], true);
    assert_eq!(stored["events"], json!(["push", "pull_request"]));
    assert_eq!(stored["config"]["insecure_ssl"], 0);
    assert_eq!(
        updated["Data"],
        json!({"Name": "web", "Active": "true", "FirstEvent": "push"})
    );
    // Delivered again, the same Update gives the same answer.
    assert_eq!(succeeded(&s.invoke(event).await), updated);
    // A rollback is an Update with the old properties as the new ones.
    let rolled_back = succeeded(&s.invoke(s.update("1", v1.clone(), v1b)).await);
    assert_eq!(rolled_back["PhysicalResourceId"], "1");
    assert_eq!(rolled_back["Data"]["Active"], "false");
    assert_eq!(api.get("/hooks/1").await.1["active"], false);
    assert_eq!(api.get("/hooks").await.1.as_array().unwrap().len(), 1);

    // Without an `Update` operation, a change to the body is a replacement:
    let mut v2 = hook(&base, "web-v2");
    v2.as_object_mut().unwrap().remove("Update");
    let replaced = succeeded(&s.invoke(s.update("1", v2.clone(), v1.clone())).await);
    assert_eq!(replaced["PhysicalResourceId"], "2");
    assert_eq!(replaced["Data"]["Name"], "web-v2");
    assert_eq!(api.get("/hooks/2").await.0, 200);
    assert_eq!(
        api.get("/hooks/1").await.0,
        200,
        "the old one waits for CloudFormation's Delete"
    );

    // Once the stack update succeeds, CloudFormation deletes the old id, with the old
    // properties.
    succeeded(&s.invoke(s.delete("1", v1.clone())).await);
    assert_eq!(api.get("/hooks/1").await.0, 404);
    assert_eq!(api.get("/hooks/2").await.0, 200);

    // Finally the stack is deleted; a second Delete (a re-delivery) finds it gone: SUCCESS.
    succeeded(&s.invoke(s.delete("2", v2.clone())).await);
    assert_eq!(api.get("/hooks/2").await.0, 404);
    let again = s.invoke(s.delete("2", v2)).await;
    succeeded(&again);
    assert!(
        again.logs.iter().any(|l| l.contains("already gone")),
        "{:#?}",
        again.logs
    );
    assert_eq!(api.get("/hooks").await.1, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_remote_is_deleted_unless_the_template_asks() {
    let api = JsonServer::start(json!({"hooks": []})).await.unwrap();
    let s = Setup::new("http-json-server-retain").await;
    let base = api.base_url();

    // No `Delete` operation: the object stays.
    let mut no_delete = hook(&base, "kept");
    no_delete.as_object_mut().unwrap().remove("Delete");
    let id = succeeded(&s.invoke(s.create(no_delete.clone())).await)["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let inv = s.invoke(s.delete(&id, no_delete)).await;
    succeeded(&inv);
    assert!(inv.logs.iter().any(|l| l.contains("no `Delete` operation")));
    assert_eq!(api.get(&format!("/hooks/{id}")).await.0, 200);

    // `OnDelete: Retain`: the object stays, `Delete` notwithstanding.
    let mut retain = hook(&base, "retained");
    retain["OnDelete"] = json!("Retain");
    let id = succeeded(&s.invoke(s.create(retain.clone())).await)["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    succeeded(&s.invoke(s.delete(&id, retain)).await);
    assert_eq!(api.get(&format!("/hooks/{id}")).await.0, 200);
    assert_eq!(api.get("/hooks").await.1.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_cannot_answer_its_outputs_leaves_no_object_behind() {
    let api = JsonServer::start(json!({"hooks": []})).await.unwrap();
    let s = Setup::new("http-json-server-outputs").await;
    let mut props = hook(&api.base_url(), "web");
    props.as_object_mut().unwrap().remove("Update");
    props.as_object_mut().unwrap().remove("Read");
    props["Outputs"] = json!({"Url": "/url", "Name": "/name"});
    let inv = s.invoke(s.create(props)).await;
    let why = support::failed(&inv);
    assert_eq!(
        why,
        "the Create request `POST /hooks` answered 201 Created, but `Outputs` `Url` found nothing in it: it has top-level keys `active`, `events`, `id`, `name`. Fix the JSON pointers in `Outputs`, or add `Read` so they are read from the object; the new object `1` was deleted again"
    );
    // CloudFormation never learns a failed Create's id, so the function cleaned up itself.
    assert_eq!(api.get("/hooks").await.1, json!([]));
}

/// Two APIs: the hook moves from the first to the second, which already holds two hooks, so
/// the new object's id (3) is not the old one's (1).
async fn two_apis() -> (JsonServer, JsonServer) {
    let first = JsonServer::start(json!({"hooks": []})).await.unwrap();
    let second =
        JsonServer::start(json!({"hooks": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
            .await
            .unwrap();
    (first, second)
}

fn ids(hooks: &Value) -> Vec<u64> {
    hooks
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_move_returns_to_the_object_it_replaced_under_both_sequences() {
    for update_back in [true, false] {
        let (first, second) = two_apis().await;
        let s = Setup::new("http-move-rollback").await;
        let v1 = hook(&first.base_url(), "web");
        let v2 = hook(&second.base_url(), "web");
        assert_eq!(
            succeeded(&s.invoke(s.create(v1.clone())).await)["PhysicalResourceId"],
            "1"
        );

        // Given a deploy that moves the hook to the second API (a replacement),
        let moved = succeeded(&s.invoke(s.update("1", v2.clone(), v1.clone())).await);
        assert_eq!(moved["PhysicalResourceId"], "3");
        assert_eq!(ids(&second.get("/hooks").await.1), [1, 2, 3]);

        // when a later resource fails and CloudFormation rolls the stack back,
        if update_back {
            // by an Update of the new id with the old properties, then the answer names the
            // object the move replaced again, read for its outputs, and no third is made;
            let event = s.update("3", v1.clone(), v2.clone());
            let back = succeeded(
                &s.invoke_during(event.clone(), "UPDATE_ROLLBACK_IN_PROGRESS")
                    .await,
            );
            assert_eq!(back["PhysicalResourceId"], "1", "update-back");
            assert_eq!(back["Data"]["Name"], "web");
            assert_eq!(ids(&first.get("/hooks").await.1), [1]);
            // delivered again, the same;
            let again = s.invoke_during(event, "UPDATE_ROLLBACK_IN_PROGRESS").await;
            assert_eq!(succeeded(&again)["PhysicalResourceId"], "1");
            // and the rollback's cleanup deletes the new id, with the properties it had.
            succeeded(
                &s.invoke_during(
                    s.delete("3", v2.clone()),
                    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                )
                .await,
            );
        } else {
            // by a Delete of the new id, then the new object goes.
            succeeded(
                &s.invoke_during(s.delete("3", v2.clone()), "UPDATE_ROLLBACK_IN_PROGRESS")
                    .await,
            );
        }

        // Either way, the first API holds the original hook alone, and the second only what
        // it had before.
        assert_eq!(
            ids(&first.get("/hooks").await.1),
            [1],
            "update_back: {update_back}"
        );
        assert_eq!(
            ids(&second.get("/hooks").await.1),
            [1, 2],
            "update_back: {update_back}"
        );
        assert_eq!(first.get("/hooks/1").await.1["name"], "web");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_whose_new_object_gets_the_old_id_is_refused_and_undone() {
    // Both APIs number from 1: the moved hook would be `1` too.
    let first = JsonServer::start(json!({"hooks": []})).await.unwrap();
    let second = JsonServer::start(json!({"hooks": []})).await.unwrap();
    let s = Setup::new("http-move-same-id").await;
    let v1 = hook(&first.base_url(), "web");
    let v2 = hook(&second.base_url(), "web");
    succeeded(&s.invoke(s.create(v1.clone())).await);

    let reason = support::failed(&s.invoke(s.update("1", v2.clone(), v1.clone())).await);
    assert!(
        reason.contains("the id `1`, the id of the current object at the old place"),
        "{reason}"
    );
    assert!(
        reason.contains("the new object `1` was deleted again"),
        "{reason}"
    );
    assert!(
        reason.contains("give the resource a new logical id"),
        "{reason}"
    );
    assert_eq!(ids(&second.get("/hooks").await.1), Vec::<u64>::new());
    assert_eq!(ids(&first.get("/hooks").await.1), [1]);

    // The stack rolls back with the old properties: the failed update replaced nothing
    // (CloudFormation's events say so), so the original stays current and nothing is made.
    let back = succeeded(
        &s.invoke_during(s.update("1", v1, v2), "UPDATE_ROLLBACK_IN_PROGRESS")
            .await,
    );
    assert_eq!(back["PhysicalResourceId"], "1");
    assert_eq!(back["Data"]["Name"], "web");
    assert_eq!(ids(&first.get("/hooks").await.1), [1]);
    assert_eq!(ids(&second.get("/hooks").await.1), Vec::<u64>::new());
}
