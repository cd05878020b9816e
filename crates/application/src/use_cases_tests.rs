//! What [`UseCases::new`] adds to the ports it is given: every committed change that
//! authentication sees is invalidated in the auth cache, whichever use case made it.

use std::sync::{Arc, Mutex};

use domain::audit::RequestContext;
use domain::error::ServiceError;
use domain::ports::MockTransaction;
use domain::session::RevocationReason;
use domain::user::{Role, UserId};

use crate::testing::{self, actions, Mocks};
use crate::{Policy, UseCases};

/// Expects one `LogoutAll` transaction of user 1; its commit and its audited actions are
/// recorded in `order` (the actions also in the returned list).
fn logout_all(mocks: &mut Mocks, order: &Arc<Mutex<Vec<String>>>) -> Arc<Mutex<Vec<String>>> {
    let mut tx = MockTransaction::new();
    tx.expect_revoke_user_sessions()
        .withf(|user, _, reason, except| {
            *user == UserId(testing::id(1))
                && *reason == RevocationReason::LogoutAll
                && except.is_none()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(3));
    let audited: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = audited.clone();
    tx.expect_append_audit().returning(move |entry| {
        sink.lock()
            .expect("not poisoned")
            .push(entry.action.as_str().to_owned());
        Ok(())
    });
    let committed = order.clone();
    tx.expect_commit().times(1).returning(move || {
        committed
            .lock()
            .expect("not poisoned")
            .push("commit".into());
        Ok(())
    });
    mocks
        .uow
        .expect_begin()
        .times(1)
        .return_once(move || Ok(Box::new(tx)));
    audited
}

#[tokio::test]
async fn a_committed_write_of_any_use_case_invalidates_the_cached_auth_state() {
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut mocks = Mocks::new();
    let audited = logout_all(&mut mocks, &order);
    let invalidated = order.clone();
    mocks
        .cache
        .expect_invalidate()
        .times(1)
        .returning(move |users, sessions| {
            invalidated
                .lock()
                .expect("not poisoned")
                .push(format!("invalidate {users:?} {sessions:?}"));
            Ok(())
        });
    let use_cases = UseCases::new(mocks.ports(), Policy::default());
    let who = testing::principal(testing::user(1, Role::User));

    use_cases
        .logout_all
        .execute(&who, &RequestContext::default())
        .await
        .expect("logged out everywhere");

    assert_eq!(
        order.lock().expect("not poisoned").as_slice(),
        [
            "commit".to_owned(),
            format!("invalidate {:?} []", [UserId(testing::id(1))]),
        ]
    );
    assert_eq!(actions(&audited), ["LOGOUT_ALL"]);
}

#[tokio::test]
async fn a_cache_that_cannot_invalidate_does_not_undo_the_committed_write() {
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut mocks = Mocks::new();
    let audited = logout_all(&mut mocks, &order);
    // Tried, then retried once, then left pending for the next lookup.
    mocks
        .cache
        .expect_invalidate()
        .times(2)
        .returning(|_, _| Err(ServiceError("redis down".into())));
    let use_cases = UseCases::new(mocks.ports(), Policy::default());
    let who = testing::principal(testing::user(1, Role::User));

    let result = use_cases
        .logout_all
        .execute(&who, &RequestContext::default())
        .await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(order.lock().expect("not poisoned").as_slice(), ["commit"]);
    assert_eq!(actions(&audited), ["LOGOUT_ALL"]);
}
