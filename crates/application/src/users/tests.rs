//! Unit tests of the admin user-management use cases.

use domain::audit::RequestContext;
use domain::error::RepoError;
use domain::page::{Cursor, Limit, Page, PageRequest, Position, SortKey, UserSortField};
use domain::password::Password;
use domain::ports::MockTransaction;
use domain::session::RevocationReason;
use domain::user::{Role, User, UserStatus};

use super::*;
use crate::error::AppError;
use crate::paging::PageInput;
use crate::testing::{self, actions, committing_tx, Mocks};

const STRONG: &str = "violet-Harbor-engine-42";

fn admin() -> User {
    testing::user(1, Role::Admin)
}

fn target() -> User {
    testing::user(2, Role::User)
}

fn ctx() -> RequestContext {
    RequestContext::default()
}

fn tx_reading(user: User) -> MockTransaction {
    let mut tx = MockTransaction::new();
    tx.expect_user_for_update()
        .returning(move |_| Ok(Some(user.clone())));
    tx
}

fn committing_tx_reading(
    user: User,
) -> (
    MockTransaction,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let (mut tx, audited) = committing_tx();
    tx.expect_user_for_update()
        .returning(move |_| Ok(Some(user.clone())));
    (tx, audited)
}

fn empty_page() -> Page<User> {
    Page {
        items: vec![],
        total: Some(0),
        next_cursor: None,
    }
}

/// The fields and messages of a validation failure, in order.
fn problems(err: &AppError) -> Vec<(&str, &str)> {
    match err {
        AppError::Validation(fields) => fields
            .iter()
            .map(|f| (f.field.as_str(), f.message.as_str()))
            .collect(),
        other => panic!("not a validation failure: {other:?}"),
    }
}

const SORT_MESSAGE: &str =
    "must list username, displayName, email, createdAt or lastLoginAt, optionally prefixed with '-'";

/// A list with a bad page, sort and search term at once.
fn bad_list() -> (UserListInput, PageInput) {
    let input = UserListInput {
        q: Some("a\u{0}b".into()),
        sort: Some("nope".into()),
        ..UserListInput::default()
    };
    let page = PageInput {
        limit: Some(101),
        ..PageInput::default()
    };
    (input, page)
}

#[tokio::test]
async fn a_regular_user_may_not_list_users() {
    let err = ListUsers::new(Mocks::new().ports())
        .execute(
            &testing::principal(target()),
            &UserListInput::default(),
            &PageInput::default(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Forbidden));
}

#[tokio::test]
async fn a_regular_user_is_refused_before_any_list_parameter_is_read() {
    let (input, page) = bad_list();
    let users = ListUsers::new(Mocks::new().ports());
    let who = testing::principal(target());

    // No store expectation: a read would fail the test.
    let err = users.execute(&who, &input, &page).await.unwrap_err();

    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    assert!(matches!(users.authorize(&who), Err(AppError::Forbidden)));
}

#[tokio::test]
async fn an_admin_is_told_every_bad_list_parameter_in_order() {
    let (input, page) = bad_list();

    let err = ListUsers::new(Mocks::new().ports())
        .execute(&testing::principal(admin()), &input, &page)
        .await
        .unwrap_err();

    assert_eq!(
        problems(&err),
        [
            ("limit", "must be between 1 and 100"),
            ("sort", SORT_MESSAGE),
            (
                "q",
                "must be at most 100 characters without control characters"
            ),
        ]
    );
}

#[tokio::test]
async fn the_list_reaches_the_store_parsed_with_its_page() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_list()
        .times(1)
        .withf(|q| {
            q.filter.q.as_ref().map(|t| t.as_str()) == Some("ann")
                && q.filter.role == Some(Role::User)
                && !q.filter.include_deleted
                && q.sort.keys()
                    == [SortKey {
                        field: UserSortField::Username,
                        descending: true,
                    }]
                && q.page.limit == Limit::new(2).unwrap()
                && q.page.offset() == 4
        })
        .returning(|_| Ok(empty_page()));
    let input = UserListInput {
        q: Some("  ann ".into()),
        role: Some(Role::User),
        sort: Some("-username".into()),
        ..UserListInput::default()
    };
    let page = PageInput {
        limit: Some(2),
        offset: Some(4),
        cursor: None,
    };

    let listed = ListUsers::new(mocks.ports())
        .execute(&testing::principal(admin()), &input, &page)
        .await
        .unwrap();

    assert_eq!(
        (listed.request.limit.get(), listed.request.offset()),
        (2, 4)
    );
}

#[tokio::test]
async fn a_blank_q_is_no_filter_and_defaults_apply() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_list()
        .times(1)
        .withf(|q| {
            q.filter.q.is_none()
                && q.sort == domain::page::UserSort::default()
                && q.page == PageRequest::default()
        })
        .returning(|_| Ok(empty_page()));
    let input = UserListInput {
        q: Some("   ".into()),
        ..UserListInput::default()
    };

    let listed = ListUsers::new(mocks.ports())
        .execute(&testing::principal(admin()), &input, &PageInput::default())
        .await
        .unwrap();

    assert_eq!(listed.request, PageRequest::default());
}

#[tokio::test]
async fn an_admin_who_must_change_the_password_is_gated_first() {
    let mut who = admin();
    who.must_change_password = true;
    let (input, page) = bad_list();

    let err = ListUsers::new(Mocks::new().ports())
        .execute(&testing::principal(who), &input, &page)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::PasswordChangeRequired));
}

#[tokio::test]
async fn a_reversed_creation_range_is_a_validation_error() {
    let input = UserListInput {
        created_from: Some(testing::now()),
        created_to: Some(testing::now() - chrono::Duration::days(1)),
        ..UserListInput::default()
    };

    let err = ListUsers::new(Mocks::new().ports())
        .execute(&testing::principal(admin()), &input, &PageInput::default())
        .await
        .unwrap_err();

    assert_eq!(
        problems(&err),
        [("createdFrom", "must not be after createdTo")]
    );
}

#[tokio::test]
async fn a_bad_cursor_from_the_store_is_a_validation_error() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_list()
        .returning(|_| Err(domain::RepoError::InvalidCursor));

    let page = PageInput {
        cursor: Some("not-a-cursor".into()),
        ..PageInput::default()
    };

    let err = ListUsers::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            &UserListInput::default(),
            &page,
        )
        .await
        .unwrap_err();

    assert_eq!(problems(&err), [("cursor", "is not a cursor of this list")]);
}

#[tokio::test]
async fn search_trims_the_term_and_rejects_an_empty_one() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_search()
        .withf(|term, _| term.as_str() == "ann")
        .returning(|_, _| Ok(empty_page()));
    let search = SearchUsers::new(mocks.ports());
    let who = testing::principal(admin());

    assert!(search
        .execute(&who, "  ann ", &PageInput::default())
        .await
        .is_ok());
    let err = search
        .execute(&who, "   ", &PageInput::default())
        .await
        .unwrap_err();
    assert_eq!(
        problems(&err),
        [(
            "q",
            "must be 1 to 100 characters without control characters"
        )]
    );
}

#[tokio::test]
async fn a_regular_user_is_refused_a_search_before_its_parameters_are_read() {
    let page = PageInput {
        limit: Some(0),
        ..PageInput::default()
    };
    let search = SearchUsers::new(Mocks::new().ports());
    let who = testing::principal(target());

    let err = search.execute(&who, "", &page).await.unwrap_err();

    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    assert!(matches!(search.authorize(&who), Err(AppError::Forbidden)));
}

#[tokio::test]
async fn a_search_reports_its_page_before_its_term() {
    let page = PageInput {
        offset: Some(1),
        cursor: Some("c".into()),
        ..PageInput::default()
    };

    let err = SearchUsers::new(Mocks::new().ports())
        .execute(&testing::principal(admin()), "", &page)
        .await
        .unwrap_err();

    assert_eq!(
        problems(&err),
        [("cursor", "cannot be combined with offset")]
    );
}

#[tokio::test]
async fn a_search_reaches_the_store_with_its_cursor_page() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_search()
        .times(1)
        .withf(|term, page| {
            term.as_str() == "pat" && page.position == Position::After(Cursor("c1".into()))
        })
        .returning(|_, _| Ok(empty_page()));
    let page = PageInput {
        cursor: Some("c1".into()),
        ..PageInput::default()
    };

    let found = SearchUsers::new(mocks.ports())
        .execute(&testing::principal(admin()), "pat", &page)
        .await
        .unwrap();

    assert_eq!(found.request.limit, Limit::DEFAULT);
}

fn new_user(username: &str, password: &str) -> NewUserInput {
    NewUserInput {
        username: username.into(),
        email: Some("bob@example.org".into()),
        display_name: "Bob".into(),
        password: Password::new(password),
        role: None,
    }
}

#[tokio::test]
async fn create_hashes_the_password_inserts_and_audits() {
    let (mut tx, audited) = committing_tx();
    tx.expect_insert_user()
        .times(1)
        .withf(|u| {
            u.username.as_str() == "bob"
                && u.role == Role::User
                && u.password_hash.as_str() == "$argon2id$new"
                && u.version == 1
        })
        .returning(|_| Ok(()));
    let mocks = Mocks::new().with_tx(tx).hashing().judging();

    let user = CreateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            new_user("bob", STRONG),
            &ctx(),
        )
        .await
        .unwrap();

    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(actions(&audited), ["CREATE_USER"]);
}

#[tokio::test]
async fn create_reports_every_invalid_field() {
    let mut input = new_user("b", STRONG);
    input.email = Some("nope".into());
    input.display_name = " ".into();

    let err = CreateUser::new(Mocks::new().ports())
        .execute(&testing::principal(admin()), input, &ctx())
        .await
        .unwrap_err();

    match err {
        AppError::Validation(fields) => {
            let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["username", "email", "displayName"]);
        }
        other => panic!("expected validation, got {other:?}"),
    }
}

#[tokio::test]
async fn create_judges_the_password_only_after_every_cheaper_check() {
    let mut mocks = Mocks::new();
    mocks.strength.expect_judge().never();
    let create = CreateUser::new(mocks.ports());
    let mut invalid = new_user("bob", STRONG);
    invalid.display_name = "Bob\u{0}".into();

    let forbidden = create
        .execute(
            &testing::principal(target()),
            new_user("bob", STRONG),
            &ctx(),
        )
        .await
        .unwrap_err();
    let refused = create
        .execute(&testing::principal(admin()), invalid, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(forbidden, AppError::Forbidden));
    assert!(matches!(refused, AppError::Validation(f) if f[0].field == "displayName"));
}

#[tokio::test]
async fn reset_password_judges_nothing_for_a_user_it_cannot_reset() {
    let mut mocks = Mocks::new();
    mocks.strength.expect_judge().never();
    mocks.users.expect_get().returning(|_| Ok(None));
    let reset = ResetPassword::new(mocks.ports());

    let forbidden = reset
        .execute(&testing::principal(target()), target().id, None, &ctx())
        .await
        .unwrap_err();
    let missing = reset
        .execute(&testing::principal(admin()), target().id, None, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(forbidden, AppError::Forbidden));
    assert!(matches!(missing, AppError::NotFound));
}

#[tokio::test]
async fn create_refuses_a_weak_password_or_one_containing_the_username() {
    let create = CreateUser::new(Mocks::new().judging().ports());
    let who = testing::principal(admin());

    let weak = create
        .execute(&who, new_user("bob", "password123"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(weak, AppError::WeakPassword { .. }));
    let named = create
        .execute(&who, new_user("bobby", "xx-bobby-Harbor-42"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(named, AppError::Validation(f) if f[0].field == "password"));
}

#[tokio::test]
async fn create_reports_a_taken_username() {
    let mut tx = MockTransaction::new();
    tx.expect_insert_user()
        .returning(|_| Err(domain::RepoError::UsernameTaken));
    let mocks = Mocks::new().with_tx(tx).hashing().judging();

    let err = CreateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            new_user("bob", STRONG),
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::UsernameTaken));
}

#[tokio::test]
async fn get_of_an_unknown_id_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.users.expect_get().returning(|_| Ok(None));

    let err = GetUser::new(mocks.ports())
        .execute(&testing::principal(admin()), target().id)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound));
}

#[tokio::test]
async fn update_with_a_stale_version_changes_nothing() {
    let mocks = Mocks::new().with_tx(tx_reading(target()));
    let patch = UserPatch {
        display_name: Some("New".into()),
        ..UserPatch::default()
    };

    let err = UpdateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            target().id,
            patch,
            Some(7),
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::PreconditionFailed));
}

#[tokio::test]
async fn blocking_a_user_revokes_their_sessions_and_audits_block_user() {
    let (mut tx, audited) = committing_tx_reading(target());
    tx.expect_update_user()
        .withf(|u, expected| u.status == UserStatus::Blocked && *expected == 1)
        .returning(|_, _| Ok(()));
    tx.expect_revoke_user_sessions()
        .times(1)
        .withf(|_, _, r, except| *r == RevocationReason::AccountDisabled && except.is_none())
        .returning(|_, _, _, _| Ok(1));
    let mocks = Mocks::new().with_tx(tx);
    let patch = UserPatch {
        status: Some(UserStatus::Blocked),
        display_name: Some("Renamed".into()),
        ..UserPatch::default()
    };

    let user = UpdateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            target().id,
            patch,
            Some(1),
            &ctx(),
        )
        .await
        .unwrap();

    assert_eq!(user.version, 2);
    assert_eq!(actions(&audited), ["BLOCK_USER"], "one change, one entry");
}

#[tokio::test]
async fn a_role_change_is_audited_as_role_change() {
    let (mut tx, audited) = committing_tx_reading(target());
    tx.expect_update_user().returning(|_, _| Ok(()));
    let mocks = Mocks::new().with_tx(tx);
    let patch = UserPatch {
        role: Some(Role::Admin),
        ..UserPatch::default()
    };

    UpdateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            target().id,
            patch,
            None,
            &ctx(),
        )
        .await
        .unwrap();

    assert_eq!(actions(&audited), ["ROLE_CHANGE"]);
}

#[tokio::test]
async fn an_admin_cannot_demote_themselves() {
    let mocks = Mocks::new().with_tx(tx_reading(admin()));
    let patch = UserPatch {
        role: Some(Role::User),
        ..UserPatch::default()
    };

    let err = UpdateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            admin().id,
            patch,
            None,
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::LastAdmin(_)));
}

#[tokio::test]
async fn demoting_the_last_active_admin_is_refused() {
    let other_admin = testing::user(3, Role::Admin);
    let mut tx = tx_reading(other_admin.clone());
    tx.expect_count_active_admins().times(1).returning(|| Ok(1));
    let mocks = Mocks::new().with_tx(tx);
    let patch = UserPatch {
        status: Some(UserStatus::Blocked),
        ..UserPatch::default()
    };

    let err = UpdateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            other_admin.id,
            patch,
            None,
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::LastAdmin(_)));
}

#[tokio::test]
async fn delete_soft_deletes_revokes_sessions_and_audits() {
    let (mut tx, audited) = committing_tx_reading(target());
    tx.expect_update_user()
        .withf(|u, _| u.deleted_at.is_some())
        .returning(|_, _| Ok(()));
    tx.expect_revoke_user_sessions()
        .times(1)
        .returning(|_, _, _, _| Ok(0));
    let mocks = Mocks::new().with_tx(tx);

    DeleteUser::new(mocks.ports())
        .execute(&testing::principal(admin()), target().id, &ctx())
        .await
        .unwrap();

    assert_eq!(actions(&audited), ["DELETE_USER"]);
}

#[tokio::test]
async fn an_admin_cannot_delete_themselves() {
    let err = DeleteUser::new(Mocks::new().ports())
        .execute(&testing::principal(admin()), admin().id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::LastAdmin(_)));
}

#[tokio::test]
async fn deleting_an_already_deleted_user_is_not_found() {
    let mut gone = target();
    gone.deleted_at = Some(testing::now());
    let mocks = Mocks::new().with_tx(tx_reading(gone));

    let err = DeleteUser::new(mocks.ports())
        .execute(&testing::principal(admin()), target().id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound));
}

#[tokio::test]
async fn restore_brings_back_a_deleted_user_and_refuses_a_live_one() {
    let mut gone = target();
    gone.deleted_at = Some(testing::now());
    let (mut tx, audited) = committing_tx_reading(gone);
    tx.expect_update_user()
        .withf(|u, _| u.deleted_at.is_none())
        .returning(|_, _| Ok(()));
    let mocks = Mocks::new().with_tx(tx);

    let user = RestoreUser::new(mocks.ports())
        .execute(&testing::principal(admin()), target().id, &ctx())
        .await
        .unwrap();
    assert!(user.deleted_at.is_none());
    assert_eq!(actions(&audited), ["RESTORE_USER"]);

    let mocks = Mocks::new().with_tx(tx_reading(target()));
    let err = RestoreUser::new(mocks.ports())
        .execute(&testing::principal(admin()), target().id, &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)));
}

#[tokio::test]
async fn an_anonymized_user_cannot_be_restored() {
    let mut gone = target();
    let [name, _] = domain::user::tombstone_usernames(gone.id);
    gone.anonymize(name, testing::now());
    let mut tx = tx_reading(gone);
    tx.expect_update_user().never();
    tx.expect_commit().never();
    let mocks = Mocks::new().with_tx(tx);

    let err = RestoreUser::new(mocks.ports())
        .execute(&testing::principal(admin()), target().id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Conflict(_)));
}

#[tokio::test]
async fn reset_password_generates_one_sets_the_flag_and_revokes_sessions() {
    let (mut tx, audited) = committing_tx_reading(target());
    tx.expect_update_user()
        .withf(|u, _| u.must_change_password)
        .returning(|_, _| Ok(()));
    tx.expect_revoke_user_sessions()
        .times(1)
        .withf(|_, _, r, except| *r == RevocationReason::PasswordChange && except.is_none())
        .returning(|_, _, _, _| Ok(2));
    let mut mocks = Mocks::new().with_tx(tx).hashing().judging();
    mocks.users.expect_get().returning(|_| Ok(Some(target())));
    mocks
        .secrets
        .expect_temporary_password()
        .returning(|| "Tq7-generated-Pw!x9".into());

    let temporary = ResetPassword::new(mocks.ports())
        .execute(&testing::principal(admin()), target().id, None, &ctx())
        .await
        .unwrap();

    assert_eq!(temporary.expose(), "Tq7-generated-Pw!x9");
    assert_eq!(actions(&audited), ["PASSWORD_RESET"]);
}

#[tokio::test]
async fn reset_password_checks_a_given_password_against_the_policy() {
    let mut mocks = Mocks::new().judging();
    mocks.users.expect_get().returning(|_| Ok(Some(target())));

    let err = ResetPassword::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            target().id,
            Some(Password::new("short")),
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Validation(f) if f[0].field == "newPassword"));
}

#[tokio::test]
async fn bootstrap_does_nothing_when_an_admin_exists() {
    let mut mocks = Mocks::new();
    mocks.users.expect_any_admin().returning(|| Ok(true));

    let created = BootstrapAdmin::new(mocks.ports())
        .execute("admin", Password::new(STRONG))
        .await
        .unwrap();

    assert!(created.is_none());
}

#[tokio::test]
async fn bootstrap_creates_the_admin_when_none_exists() {
    let (mut tx, audited) = committing_tx();
    tx.expect_count_active_admins().times(1).returning(|| Ok(0));
    tx.expect_insert_user()
        .withf(|u| u.role == Role::Admin && u.username.as_str() == "root")
        .returning(|_| Ok(()));
    let mut mocks = Mocks::new().with_tx(tx).hashing();
    mocks.users.expect_any_admin().returning(|| Ok(false));

    let created = BootstrapAdmin::new(mocks.ports())
        .execute("root", Password::new(STRONG))
        .await
        .unwrap();

    assert!(created.is_some());
    assert_eq!(actions(&audited), ["CREATE_USER"]);
}

#[tokio::test]
async fn bootstrap_creates_nothing_when_another_instance_won_the_admin_lock() {
    let mut tx = MockTransaction::new();
    tx.expect_count_active_admins().times(1).returning(|| Ok(1));
    tx.expect_insert_user().never();
    tx.expect_commit().never();
    let mut mocks = Mocks::new().with_tx(tx).hashing();
    // Before the lock no admin was seen; under it, the other instance's is counted.
    mocks
        .users
        .expect_any_admin()
        .times(1)
        .returning(|| Ok(false));

    let created = BootstrapAdmin::new(mocks.ports())
        .execute("root", Password::new(STRONG))
        .await
        .unwrap();

    assert!(created.is_none());
}

#[tokio::test]
async fn an_admin_demoted_since_their_token_was_checked_writes_nothing() {
    for change in ["demoted", "blocked", "deleted", "gone"] {
        let mut tx = MockTransaction::new();
        tx.expect_acting_admin().times(1).returning(move |id| {
            let mut actor = admin();
            actor.id = id;
            match change {
                "demoted" => actor.role = Role::User,
                "blocked" => actor.status = UserStatus::Blocked,
                "deleted" => actor.deleted_at = Some(testing::now()),
                _ => return Ok(None),
            }
            Ok(Some(actor))
        });
        tx.expect_user_for_update().never();
        tx.expect_append_audit().never();
        tx.expect_commit().never();
        let mut mocks = Mocks::new();
        mocks
            .uow
            .expect_begin()
            .return_once(move || Ok(Box::new(tx)));

        let err = DeleteUser::new(mocks.ports())
            .execute(&testing::principal(admin()), target().id, &ctx())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Forbidden), "{change}: {err:?}");
    }
}

mod export {
    use domain::page::{Offset, UserSort};
    use domain::ports::MockUnitOfWork;

    use super::*;

    async fn start(mocks: Mocks, who: User) -> Result<UserExport, AppError> {
        ExportUsers::new(mocks.ports())
            .execute(
                &testing::principal(who),
                &UserListInput::default(),
                None,
                &ctx(),
            )
            .await
    }

    #[tokio::test]
    async fn a_regular_user_may_not_export_and_nothing_is_audited() {
        let err = start(Mocks::new(), target()).await.err().unwrap();

        assert!(matches!(err, AppError::Forbidden));
    }

    #[tokio::test]
    async fn a_regular_user_is_refused_before_any_export_parameter_is_read() {
        let input = UserListInput {
            sort: Some("nope".into()),
            ..UserListInput::default()
        };
        let export = ExportUsers::new(Mocks::new().ports());
        let who = testing::principal(target());

        let err = export
            .execute(&who, &input, Some("xml"), &ctx())
            .await
            .err()
            .unwrap();

        assert!(matches!(err, AppError::Forbidden), "{err:?}");
        assert!(matches!(export.authorize(&who), Err(AppError::Forbidden)));
    }

    #[tokio::test]
    async fn an_admin_is_told_every_bad_export_parameter_and_nothing_is_audited() {
        let input = UserListInput {
            sort: Some("nope".into()),
            q: Some("x".repeat(101)),
            ..UserListInput::default()
        };

        // No transaction expectation: an audit would fail the test.
        let err = ExportUsers::new(Mocks::new().ports())
            .execute(&testing::principal(admin()), &input, Some("xml"), &ctx())
            .await
            .err()
            .unwrap();

        assert_eq!(
            problems(&err),
            [
                ("sort", SORT_MESSAGE),
                (
                    "q",
                    "must be at most 100 characters without control characters"
                ),
                ("format", "must be csv or json"),
            ]
        );
    }

    #[tokio::test]
    async fn the_format_is_csv_unless_json_is_asked_for() {
        for (asked, format) in [
            (None, ExportFormat::Csv),
            (Some("json"), ExportFormat::Json),
        ] {
            let (tx, audited) = committing_tx();
            let mocks = Mocks::new().with_tx(tx);

            let export = ExportUsers::new(mocks.ports())
                .execute(
                    &testing::principal(admin()),
                    &UserListInput::default(),
                    asked,
                    &ctx(),
                )
                .await
                .unwrap();

            assert_eq!(export.format(), format, "{asked:?}");
            assert_eq!(actions(&audited), ["EXPORT_USERS"]);
        }
    }

    #[tokio::test]
    async fn a_reversed_creation_range_is_refused_before_auditing() {
        let input = UserListInput {
            created_from: Some(testing::now()),
            created_to: Some(testing::now() - chrono::Duration::days(1)),
            ..UserListInput::default()
        };

        let err = ExportUsers::new(Mocks::new().ports())
            .execute(&testing::principal(admin()), &input, Some("json"), &ctx())
            .await
            .err()
            .unwrap();

        assert!(matches!(err, AppError::Validation(f) if f[0].field == "createdFrom"));
    }

    #[tokio::test]
    async fn an_export_is_audited_once_then_read_page_by_page_by_cursor() {
        let (tx, audited) = committing_tx();
        let mut mocks = Mocks::new().with_tx(tx);
        mocks
            .users
            .expect_list()
            .times(1)
            .withf(|q| {
                q.page.position == Position::Offset(Offset::ZERO)
                    && q.page.limit == Limit::BATCH
                    && q.sort == UserSort::default()
            })
            .returning(|_| {
                Ok(Page {
                    items: vec![testing::user(2, Role::User)],
                    total: Some(2),
                    next_cursor: Some(Cursor("c1".into())),
                })
            });
        mocks
            .users
            .expect_list()
            .times(1)
            .withf(|q| q.page.position == Position::After(Cursor("c1".into())))
            .returning(|_| {
                Ok(Page {
                    items: vec![testing::user(3, Role::User)],
                    total: None,
                    next_cursor: None,
                })
            });

        let mut export = start(mocks, admin()).await.unwrap();

        assert_eq!(actions(&audited), ["EXPORT_USERS"]);
        assert_eq!(export.next_page().await.unwrap().unwrap().len(), 1);
        assert_eq!(export.next_page().await.unwrap().unwrap().len(), 1);
        assert!(export.next_page().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_export_that_cannot_be_audited_does_not_start() {
        let mut mocks = Mocks::new();
        mocks.uow = MockUnitOfWork::new();
        mocks.uow.expect_begin().returning(|| Err(testing::down()));

        let err = start(mocks, admin()).await.err().unwrap();

        assert!(matches!(err, AppError::Unavailable(_)));
    }

    #[tokio::test]
    async fn a_failed_page_read_ends_the_export_with_the_error() {
        let (tx, _) = committing_tx();
        let mut mocks = Mocks::new().with_tx(tx);
        mocks
            .users
            .expect_list()
            .times(1)
            .returning(|_| Err(testing::down()));

        let mut export = start(mocks, admin()).await.unwrap();

        assert!(matches!(
            export.next_page().await,
            Err(AppError::Unavailable(_))
        ));
        assert!(export.next_page().await.unwrap().is_none());
    }

    #[test]
    fn formats_parse_only_the_contract_spellings() {
        assert_eq!(ExportFormat::parse("csv"), Some(ExportFormat::Csv));
        assert_eq!(ExportFormat::parse("json"), Some(ExportFormat::Json));
        assert_eq!(ExportFormat::parse("CSV"), None);
    }
}

mod bulk_delete {
    use domain::user::UserId;

    use super::*;

    fn other_admin() -> User {
        testing::user(3, Role::Admin)
    }

    #[tokio::test]
    async fn each_id_gets_its_outcome_in_one_transaction_with_one_audit_entry() {
        let (mut tx, audited) = committing_tx();
        tx.expect_user_for_update().returning(|id| {
            Ok(match id.0.as_u128() {
                2 => Some(testing::user(2, Role::User)),
                3 => Some(testing::user(3, Role::Admin)),
                _ => None,
            })
        });
        tx.expect_count_active_admins().returning(|| Ok(2));
        tx.expect_update_user()
            .times(2)
            .withf(|u, v| u.deleted_at == Some(testing::now()) && *v == 1)
            .returning(|_, _| Ok(()));
        tx.expect_revoke_user_sessions()
            .times(2)
            .returning(|_, _, _, _| Ok(1));
        let mocks = Mocks::new().with_tx(tx);
        let ids = [2, 3, 4, 1].map(|n| UserId(testing::id(n))).to_vec();

        let results = BulkDeleteUsers::new(mocks.ports())
            .execute(&testing::principal(admin()), ids, &ctx())
            .await
            .unwrap();

        let statuses: Vec<_> = results.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                BulkDeleteStatus::Deleted,
                BulkDeleteStatus::Deleted,
                BulkDeleteStatus::NotFound,
                BulkDeleteStatus::Forbidden,
            ]
        );
        assert_eq!(actions(&audited), ["BULK_DELETE_USERS"]);
    }

    #[tokio::test]
    async fn the_last_active_admin_is_forbidden_not_an_error() {
        let (mut tx, _) = committing_tx();
        tx.expect_user_for_update()
            .returning(|_| Ok(Some(other_admin())));
        tx.expect_count_active_admins().returning(|| Ok(1));
        tx.expect_update_user().never();
        let mocks = Mocks::new().with_tx(tx);

        let results = BulkDeleteUsers::new(mocks.ports())
            .execute(&testing::principal(admin()), vec![other_admin().id], &ctx())
            .await
            .unwrap();

        assert_eq!(results[0].status, BulkDeleteStatus::Forbidden);
    }

    #[tokio::test]
    async fn an_empty_or_oversized_list_is_a_validation_error() {
        let bulk = BulkDeleteUsers::new(Mocks::new().ports());
        let who = testing::principal(admin());

        let empty = bulk.execute(&who, vec![], &ctx()).await.unwrap_err();
        let many = bulk
            .execute(&who, vec![target().id; MAX_BULK_ITEMS + 1], &ctx())
            .await
            .unwrap_err();

        assert!(matches!(empty, AppError::Validation(f) if f[0].field == "ids"));
        assert!(matches!(many, AppError::Validation(_)));
    }

    #[tokio::test]
    async fn a_regular_user_may_not_bulk_delete() {
        let err = BulkDeleteUsers::new(Mocks::new().ports())
            .execute(&testing::principal(target()), vec![admin().id], &ctx())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Forbidden));
    }

    #[tokio::test]
    async fn a_store_failure_rolls_everything_back() {
        let mut tx = MockTransaction::new();
        tx.expect_user_for_update()
            .returning(|_| Err(testing::down()));
        tx.expect_commit().never();
        let mocks = Mocks::new().with_tx(tx);

        let err = BulkDeleteUsers::new(mocks.ports())
            .execute(&testing::principal(admin()), vec![target().id], &ctx())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Unavailable(_)));
    }
}

mod bulk_create {
    use super::*;

    fn named(username: &str) -> NewUserInput {
        let mut input = new_user(username, STRONG);
        input.email = Some(format!("{username}@example.org"));
        input
    }

    #[tokio::test]
    async fn an_atomic_batch_inserts_every_user_and_audits_once() {
        let (mut tx, audited) = committing_tx();
        tx.expect_insert_user().times(2).returning(|_| Ok(()));
        let mocks = Mocks::new().with_tx(tx).hashing().judging();

        let created = BulkCreateUsers::new(mocks.ports())
            .atomic(
                &testing::principal(admin()),
                vec![named("ann"), named("bob")],
                &ctx(),
            )
            .await
            .unwrap();

        assert_eq!(created.len(), 2);
        assert_eq!(actions(&audited), ["BULK_CREATE_USERS"]);
    }

    #[tokio::test]
    async fn an_atomic_batch_reports_invalid_and_repeated_items_by_index_before_hashing() {
        let mut mocks = Mocks::new().judging();
        mocks.hasher.expect_hash().never();
        let mut weak = named("carl");
        weak.password = Password::new("password123");

        let err = BulkCreateUsers::new(mocks.ports())
            .atomic(
                &testing::principal(admin()),
                vec![named("ann"), named("x"), named("ANN"), weak],
                &ctx(),
            )
            .await
            .unwrap_err();

        match err {
            AppError::Validation(fields) => {
                let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(
                    names,
                    [
                        "users[1].username",
                        "users[2].username",
                        "users[3].password"
                    ]
                );
            }
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn only_items_whose_other_fields_are_valid_have_their_password_judged() {
        let mut mocks = Mocks::new();
        mocks
            .strength
            .expect_judge()
            .times(1)
            .withf(|_, username, _| username.as_str() == "ann")
            .returning(|p, u, _| Ok(domain::password::NewPassword::parse(p.expose(), u, &[])));
        mocks.hasher.expect_hash().never();

        let err = BulkCreateUsers::new(mocks.ports())
            .atomic(
                &testing::principal(admin()),
                vec![named("ann"), named("x"), named("ANN")],
                &ctx(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Validation(f) if f.len() == 2));
    }

    #[tokio::test]
    async fn an_atomic_batch_with_a_taken_name_commits_nothing() {
        let mut tx = MockTransaction::new();
        let mut n = 0;
        tx.expect_insert_user().times(2).returning(move |_| {
            n += 1;
            if n == 2 {
                Err(domain::RepoError::EmailTaken)
            } else {
                Ok(())
            }
        });
        tx.expect_commit().never();
        tx.expect_append_audit().never();
        let mocks = Mocks::new().with_tx(tx).hashing().judging();

        let err = BulkCreateUsers::new(mocks.ports())
            .atomic(
                &testing::principal(admin()),
                vec![named("ann"), named("bob")],
                &ctx(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Validation(f) if f[0].field == "users[1].email"));
    }

    #[tokio::test]
    async fn a_partial_batch_creates_what_it_can_and_reports_the_rest() {
        let (mut tx, audited) = committing_tx();
        tx.expect_insert_user().times(2).returning(|u| {
            if u.username.as_str() == "taken" {
                Err(domain::RepoError::UsernameTaken)
            } else {
                Ok(())
            }
        });
        let mocks = Mocks::new().with_tx(tx).hashing().judging();

        let items = BulkCreateUsers::new(mocks.ports())
            .partial(
                &testing::principal(admin()),
                vec![named("ann"), named("taken"), named("x")],
                &ctx(),
            )
            .await
            .unwrap();

        assert!(items[0].result.is_ok());
        assert!(matches!(items[1].result, Err(AppError::UsernameTaken)));
        assert!(matches!(items[2].result, Err(AppError::Validation(_))));
        assert_eq!(actions(&audited), ["BULK_CREATE_USERS"]);
    }

    #[tokio::test]
    async fn a_store_failure_fails_a_partial_batch() {
        let mut tx = MockTransaction::new();
        tx.expect_insert_user().returning(|_| Err(testing::down()));
        tx.expect_commit().never();
        let mocks = Mocks::new().with_tx(tx).hashing().judging();

        let err = BulkCreateUsers::new(mocks.ports())
            .partial(&testing::principal(admin()), vec![named("ann")], &ctx())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Unavailable(_)));
    }

    #[tokio::test]
    async fn a_bulk_create_needs_an_admin_and_one_to_a_thousand_users() {
        let bulk = BulkCreateUsers::new(Mocks::new().ports());

        let forbidden = bulk
            .atomic(&testing::principal(target()), vec![named("ann")], &ctx())
            .await
            .unwrap_err();
        let empty = bulk
            .partial(&testing::principal(admin()), vec![], &ctx())
            .await
            .unwrap_err();
        let many = bulk
            .atomic(
                &testing::principal(admin()),
                vec![named("ann"); MAX_BULK_ITEMS + 1],
                &ctx(),
            )
            .await
            .unwrap_err();

        assert!(matches!(forbidden, AppError::Forbidden));
        assert!(matches!(empty, AppError::Validation(f) if f[0].field == "users"));
        assert!(matches!(many, AppError::Validation(_)));
    }
}

mod import {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use domain::audit::{AuditAction, AuditEntry};
    use domain::password::{NewPassword, PasswordHash};
    use domain::ports::PasswordHasher;
    use domain::user::TakenNames;

    use super::*;

    const GENERATED: &str = "generated-Violet-harbor-77";

    fn row(name: &str, password: Option<&str>) -> ImportRow {
        ImportRow {
            username: name.to_owned(),
            email: Some(format!("{name}@example.org")),
            display_name: format!("User {name}"),
            role: None,
            password: password.map(Password::new),
        }
    }

    /// Nothing is held in the store; generated passwords are [`GENERATED`].
    fn mocks() -> Mocks {
        let mut mocks = Mocks::new().judging();
        mocks
            .users
            .expect_taken_names()
            .returning(|_, _| Ok(TakenNames::default()));
        mocks
            .secrets
            .expect_temporary_password()
            .returning(|| GENERATED.to_owned());
        mocks
    }

    /// A transaction that inserts every user, commits once and records its entries.
    fn recording_tx() -> (MockTransaction, Arc<Mutex<Vec<AuditEntry>>>) {
        let mut tx = MockTransaction::new();
        let entries = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&entries);
        tx.expect_append_audit().returning(move |entry| {
            sink.lock().unwrap().push(entry.clone());
            Ok(())
        });
        tx.expect_commit().times(1).returning(|| Ok(()));
        (tx, entries)
    }

    /// Each row's status and its problems' fields and messages.
    fn summary(report: &ImportReport) -> Vec<(&'static str, Vec<(String, String)>)> {
        report
            .rows
            .iter()
            .map(|r| match r {
                ImportOutcome::Created(_) => ("CREATED", vec![]),
                ImportOutcome::Valid => ("VALID", vec![]),
                ImportOutcome::Invalid(problems) => (
                    "INVALID",
                    problems
                        .iter()
                        .map(|p| (p.field.clone(), p.message.clone()))
                        .collect(),
                ),
            })
            .collect()
    }

    fn problem(field: &str, message: &str) -> (String, String) {
        (field.to_owned(), message.to_owned())
    }

    #[tokio::test]
    async fn valid_rows_are_created_in_one_transaction_with_one_entry_of_counts_only() {
        let (mut tx, entries) = recording_tx();
        tx.expect_insert_user().times(2).returning(|_| Ok(()));
        let mut mocks = mocks().with_tx(tx);
        mocks
            .hasher
            .expect_hash()
            .times(2)
            .returning(|_| Ok(PasswordHash::new("$argon2id$new")));

        let report = ImportUsers::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                vec![row("ann", Some(STRONG)), row("bob", None), row("x", None)],
                false,
                &ctx(),
            )
            .await
            .unwrap();

        assert_eq!((report.created(), report.failed()), (2, 1));
        let users: Vec<&User> = report
            .rows
            .iter()
            .filter_map(|r| match r {
                ImportOutcome::Created(u) => Some(u),
                _ => None,
            })
            .collect();
        assert_eq!(users[0].username.as_str(), "ann");
        assert!(!users[0].must_change_password, "a given password stands");
        assert!(
            users[1].must_change_password,
            "a generated one must be changed"
        );
        let entries = entries.lock().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, AuditAction::ImportUsers);
        assert_eq!(
            entries[0].metadata,
            serde_json::json!({"rows": 3, "created": 2, "failed": 1, "generatedPasswords": 1})
        );
        let audited = entries[0].metadata.to_string();
        assert!(!audited.contains("ann") && !audited.contains(GENERATED));
    }

    #[tokio::test]
    async fn a_dry_run_judges_every_row_but_hashes_and_writes_nothing() {
        let mut mocks = mocks();
        mocks.hasher.expect_hash().never();
        mocks.uow.expect_begin().never();

        let report = ImportUsers::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                vec![row("ann", Some(STRONG)), row("bob", Some("password123"))],
                true,
                &ctx(),
            )
            .await
            .unwrap();

        assert!(report.dry_run);
        let rows = summary(&report);
        assert_eq!(rows[0], ("VALID", vec![]));
        assert_eq!(rows[1].0, "INVALID");
        assert_eq!(rows[1].1[0].0, "password");
        assert_eq!((report.created(), report.failed()), (0, 1));
    }

    #[tokio::test]
    async fn repeats_within_the_file_name_the_first_row_case_insensitively() {
        let mut mocks = mocks();
        mocks.uow.expect_begin().never();
        let mut same_email = row("cat", Some(STRONG));
        same_email.email = Some("ANN@example.org".into());

        let report = ImportUsers::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                vec![
                    row("ann", Some(STRONG)),
                    row("ANN", Some(STRONG)),
                    same_email,
                ],
                true,
                &ctx(),
            )
            .await
            .unwrap();

        assert_eq!(
            summary(&report),
            [
                ("VALID", vec![]),
                (
                    "INVALID",
                    vec![problem("username", "repeats the username of row 1")]
                ),
                (
                    "INVALID",
                    vec![problem("email", "repeats the email of row 1")]
                ),
            ]
        );
    }

    #[tokio::test]
    async fn names_held_in_the_store_are_refused_before_their_password_is_judged() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_taken_names()
            .times(1)
            .withf(|names, emails| {
                names == ["ann", "bob"] && emails == ["ann@example.org", "bob@example.org"]
            })
            .returning(|_, _| {
                Ok(TakenNames {
                    usernames: ["ann".to_owned()].into(),
                    emails: ["bob@example.org".to_owned()].into(),
                })
            });
        mocks.strength.expect_judge().never();
        mocks.uow.expect_begin().never();

        let report = ImportUsers::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                vec![row("Ann", Some(STRONG)), row("bob", Some(STRONG))],
                true,
                &ctx(),
            )
            .await
            .unwrap();

        assert_eq!(
            summary(&report),
            [
                ("INVALID", vec![problem("username", "is taken")]),
                ("INVALID", vec![problem("email", "is taken")]),
            ]
        );
    }

    #[tokio::test]
    async fn a_user_created_since_the_lookup_makes_only_that_row_invalid() {
        let (mut tx, entries) = recording_tx();
        tx.expect_insert_user().times(2).returning(|u| {
            if u.username.as_str() == "ann" {
                Err(domain::RepoError::UsernameTaken)
            } else {
                Ok(())
            }
        });
        let mocks = mocks().with_tx(tx).hashing();

        let report = ImportUsers::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                vec![row("ann", Some(STRONG)), row("bob", Some(STRONG))],
                false,
                &ctx(),
            )
            .await
            .unwrap();

        assert_eq!(
            summary(&report),
            [
                ("INVALID", vec![problem("username", "is taken")]),
                ("CREATED", vec![]),
            ]
        );
        assert_eq!(entries.lock().unwrap()[0].metadata["created"], 1);
    }

    #[tokio::test]
    async fn a_store_failure_half_way_commits_nothing() {
        let mut tx = MockTransaction::new();
        let mut n = 0;
        tx.expect_insert_user().times(2).returning(move |_| {
            n += 1;
            if n == 2 {
                Err(testing::down())
            } else {
                Ok(())
            }
        });
        tx.expect_append_audit().never();
        tx.expect_commit().never();
        let mocks = mocks().with_tx(tx).hashing();

        let err = ImportUsers::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                vec![
                    row("ann", Some(STRONG)),
                    row("bob", Some(STRONG)),
                    row("cat", Some(STRONG)),
                ],
                false,
                &ctx(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_bad_role_is_reported_with_the_other_problems_of_its_row() {
        let mut mocks = mocks();
        mocks.uow.expect_begin().never();
        let mut bad = row("x", Some(STRONG));
        bad.role = Some("admin".into());
        let mut admin_row = row("dan", Some(STRONG));
        admin_row.role = Some("ADMIN".into());

        let report = ImportUsers::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                vec![bad, admin_row],
                true,
                &ctx(),
            )
            .await
            .unwrap();

        let rows = summary(&report);
        let fields: Vec<&str> = rows[0].1.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["username", "role"]);
        assert_eq!(rows[1], ("VALID", vec![]));
    }

    #[tokio::test]
    async fn an_import_needs_an_admin_and_one_to_ten_thousand_rows() {
        // No store, hasher or estimator expectation: any call fails the test.
        let import = ImportUsers::new(Mocks::new().ports());

        let forbidden = import
            .execute(
                &testing::principal(target()),
                vec![row("ann", None)],
                true,
                &ctx(),
            )
            .await
            .unwrap_err();
        let empty = import
            .execute(&testing::principal(admin()), vec![], true, &ctx())
            .await
            .unwrap_err();
        let many = import
            .execute(
                &testing::principal(admin()),
                vec![row("ann", Some(STRONG)); MAX_IMPORT_ROWS + 1],
                true,
                &ctx(),
            )
            .await
            .unwrap_err();

        assert!(matches!(forbidden, AppError::Forbidden));
        assert_eq!(problems(&empty), [("rows", "must hold 1 to 10000 users")]);
        assert_eq!(problems(&many), [("rows", "must hold 1 to 10000 users")]);
    }

    /// A hasher that yields while it "hashes" and remembers how many hashes were pending
    /// at once.
    #[derive(Default)]
    struct CountingHasher {
        pending: AtomicUsize,
        most: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl PasswordHasher for CountingHasher {
        async fn hash(&self, _: &NewPassword) -> Result<PasswordHash, domain::error::ServiceError> {
            let now = self.pending.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            self.pending.fetch_sub(1, Ordering::SeqCst);
            Ok(PasswordHash::new("$argon2id$counted"))
        }

        async fn verify(
            &self,
            _: &Password,
            _: &PasswordHash,
        ) -> Result<bool, domain::error::ServiceError> {
            Ok(false)
        }

        async fn verify_dummy(&self, _: &Password) -> Result<bool, domain::error::ServiceError> {
            Ok(false)
        }
    }

    #[tokio::test]
    async fn hashing_keeps_at_most_one_batch_pending_whatever_the_file_length() {
        let (mut tx, _) = recording_tx();
        tx.expect_insert_user().returning(|_| Ok(()));
        let mut mocks = Mocks::new().with_tx(tx).judging();
        mocks
            .users
            .expect_taken_names()
            .returning(|_, _| Ok(TakenNames::default()));
        let hasher = Arc::new(CountingHasher::default());
        let mut ports = mocks.ports();
        ports.hasher = hasher.clone();
        let rows: Vec<ImportRow> = (0..IMPORT_BATCH * 4)
            .map(|i| row(&format!("user{i}"), Some(STRONG)))
            .collect();

        let report = ImportUsers::new(ports)
            .execute(&testing::principal(admin()), rows, false, &ctx())
            .await
            .unwrap();

        assert_eq!(report.created(), IMPORT_BATCH * 4);
        let most = hasher.most.load(Ordering::SeqCst);
        assert!(most <= IMPORT_BATCH, "{most} hashes were pending at once");
        assert!(most > 1, "hashes ran one at a time ({most})");
    }
}

#[tokio::test]
async fn folding_the_count_notes_reports_how_many_were_folded() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_fold_counts()
        .times(1)
        .returning(|| Ok(42));
    let folded = FoldUserCounts::new(mocks.ports()).execute().await.unwrap();
    assert_eq!(folded, 42);
}

#[tokio::test]
async fn a_fold_the_database_refuses_is_unavailable() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_fold_counts()
        .returning(|| Err(RepoError::Unavailable("down".into())));
    let err = FoldUserCounts::new(mocks.ports())
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
}
