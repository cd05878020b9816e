//! Per-request authentication: the token must verify, and its session must still be
//! active and its user usable, read now rather than trusted from the claims: from the
//! shared auth cache when it holds a snapshot stored after the last change, else from the
//! database. A cache that cannot answer is skipped, never trusted.

use chrono::{DateTime, Utc};
use domain::access::{AuthSnapshot, CacheLookup};
use domain::session::SessionId;
use domain::token::{AccessClaims, TokenError};

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// The auth cache's answer for a token the issuer already remembered, read ahead of the
/// rest of the request (the edge reads it beside the rate limit, so that with Redis the
/// two share one round trip). Only [`Authenticate::execute_with`] opens it.
#[derive(Clone)]
pub struct Prefetched {
    /// The token it was read for: only that token may use it (never logged).
    bearer: String,
    claims: AccessClaims,
    lookup: CacheLookup,
}

impl std::fmt::Debug for Prefetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetched")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Turns a bearer token into the current [`Principal`].
pub struct Authenticate {
    ports: Ports,
}

impl Authenticate {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it: `TokenInvalid` for a token that does not verify, then `TokenExpired` for
    /// one past `exp` by the clock (so a forged token is invalid, never expired);
    /// `SessionRevoked` when the session ended or the account was blocked or deleted
    /// since the token was issued.
    pub async fn execute(&self, bearer: &str) -> Result<Principal, AppError> {
        self.execute_with(bearer, None).await
    }

    /// The auth cache's lookup for `bearer` when the issuer remembers it as verified and
    /// unexpired and the cache answers; `None` otherwise. Costs no signature check and no
    /// database read, so it may run before the request is known to be allowed.
    pub async fn prefetch(&self, bearer: &str) -> Option<Prefetched> {
        let claims = self.ports.tokens.remembered(bearer)?;
        if claims.is_expired_at(self.ports.clock.now()) {
            return None;
        }
        let lookup = self
            .ports
            .auth_cache
            .lookup(claims.session_id, claims.user_id)
            .await
            .ok()?;
        Some(Prefetched {
            bearer: bearer.to_owned(),
            claims,
            lookup,
        })
    }

    /// [`execute`](Self::execute), using `prefetched` instead of a second look at the token
    /// and a new cache lookup when it was read for this very `bearer` (its `exp`, the
    /// snapshot's cached end and its ticket's generations are judged as for a lookup made
    /// now).
    #[tracing::instrument(name = "authenticate", skip_all, fields(user.id, auth.cache))]
    pub async fn execute_with(
        &self,
        bearer: &str,
        prefetched: Option<Prefetched>,
    ) -> Result<Principal, AppError> {
        let (claims, prefetched) = match prefetched.filter(|p| p.bearer == bearer) {
            Some(p) => (p.claims, Some(p.lookup)),
            None => (
                self.ports
                    .tokens
                    .verify(bearer)
                    .map_err(|TokenError::Invalid| AppError::TokenInvalid)?,
                None,
            ),
        };
        let now = self.ports.clock.now();
        if claims.is_expired_at(now) {
            return Err(AppError::TokenExpired);
        }
        let span = tracing::Span::current();
        let lookup = match prefetched {
            Some(lookup) => Ok(lookup),
            None => {
                self.ports
                    .auth_cache
                    .lookup(claims.session_id, claims.user_id)
                    .await
            }
        };
        let ticket = match lookup {
            Ok(CacheLookup::Hit(snapshot))
                if snapshot.caller.id == claims.user_id && snapshot.session_expires_at > now =>
            {
                span.record("auth.cache", "hit");
                return Ok(self.admit(snapshot, now).await);
            }
            // Expired by its cached end: the session may have been refreshed since.
            Ok(CacheLookup::Hit(_)) => None,
            Ok(CacheLookup::Miss(ticket)) => Some(ticket),
            Err(err) => {
                tracing::debug!(error = %err, "auth cache unavailable; reading the database");
                None
            }
        };
        span.record("auth.cache", "miss");
        let (session, user) = self
            .ports
            .sessions
            .find_for_auth(claims.session_id)
            .await?
            .ok_or(AppError::SessionRevoked)?;
        if session.user_id != claims.user_id || user.id != claims.user_id {
            return Err(AppError::TokenInvalid);
        }
        let snapshot = AuthSnapshot::of(&session, &user, now).ok_or(AppError::SessionRevoked)?;
        if let Some(ticket) = ticket {
            if let Err(err) = self.ports.auth_cache.store(&ticket, &snapshot).await {
                tracing::debug!(error = %err, "auth cache unavailable; snapshot not stored");
            }
        }
        Ok(self.admit(snapshot, now).await)
    }

    /// The principal of a live snapshot; notes the session's use on the way (best effort:
    /// `lastUsedAt` is informational, a lost note is no reason to refuse a request).
    async fn admit(&self, snapshot: AuthSnapshot, now: DateTime<Utc>) -> Principal {
        let session_id: SessionId = snapshot.session_id;
        if let Err(err) = self.ports.activity.touch(session_id, now).await {
            tracing::debug!(error = %err, "session activity not noted");
        }
        tracing::Span::current().record("user.id", tracing::field::display(snapshot.caller.id));
        Principal {
            user: snapshot.caller,
            session_id,
            profile: snapshot.profile,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Mocks};
    use domain::access::CacheTicket;
    use domain::error::ServiceError;
    use domain::session::SessionId;
    use domain::token::AccessClaims;
    use domain::user::{Role, UserStatus};

    fn claims() -> AccessClaims {
        AccessClaims {
            user_id: testing::user(1, Role::User).id,
            session_id: SessionId(testing::id(900)),
            token_id: testing::id(77),
            issued_at: testing::now().timestamp(),
            expires_at: testing::now().timestamp() + 900,
        }
    }

    fn with_state(
        verified: Result<AccessClaims, TokenError>,
        state: Option<(domain::session::Session, domain::user::User)>,
    ) -> Authenticate {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_verify()
            .returning(move |_| verified.clone());
        mocks
            .sessions
            .expect_find_for_auth()
            .returning(move |_| Ok(state.clone()));
        missing_cache(&mut mocks);
        Authenticate::new(mocks.ports())
    }

    /// A cache that never holds anything and accepts every store; activity noted.
    fn missing_cache(mocks: &mut Mocks) {
        mocks
            .cache
            .expect_lookup()
            .returning(|session, user| Ok(CacheLookup::Miss(ticket(session, user))));
        mocks.cache.expect_store().returning(|_, _| Ok(()));
        mocks.activity.expect_touch().returning(|_, _| Ok(()));
    }

    fn ticket(session_id: SessionId, user_id: domain::user::UserId) -> CacheTicket {
        CacheTicket {
            session_id,
            user_id,
            stamp: "g0".into(),
        }
    }

    fn snapshot_of_live() -> AuthSnapshot {
        let (session, user) = live();
        AuthSnapshot::of(&session, &user, testing::now()).unwrap()
    }

    fn live() -> (domain::session::Session, domain::user::User) {
        let user = testing::user(1, Role::Admin);
        (testing::session(900, user.id), user)
    }

    #[tokio::test]
    async fn a_valid_token_of_a_live_session_yields_the_current_user() {
        let auth = with_state(Ok(claims()), Some(live()));

        let who = auth.execute("jwt").await.unwrap();

        assert_eq!(
            who.user.role,
            Role::Admin,
            "role is read now, not from claims"
        );
        assert_eq!(who.session_id, SessionId(testing::id(900)));
    }

    #[tokio::test]
    async fn a_token_that_does_not_verify_is_invalid_whatever_its_age() {
        // The issuer refuses it (a bad signature, say) before its `exp` is looked at.
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_verify()
            .returning(|_| Err(TokenError::Invalid));
        mocks.sessions.expect_find_for_auth().times(0);
        mocks.cache.expect_lookup().times(0);

        let result = Authenticate::new(mocks.ports()).execute("jwt").await;

        assert!(matches!(result, Err(AppError::TokenInvalid)), "{result:?}");
    }

    /// Mocks whose token verifies as the live session's, its `exp` at `exp`, and whose
    /// clock tells `now`.
    fn verifying_live_at(
        exp: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Mocks {
        let mut mocks = Mocks::new();
        mocks.now = now;
        mocks.tokens.expect_verify().returning(move |_| {
            Ok(AccessClaims {
                expires_at: exp.timestamp(),
                ..claims_of_live()
            })
        });
        mocks
    }

    #[tokio::test]
    async fn a_token_is_expired_by_the_clock_once_past_exp_and_accepted_a_second_before() {
        let exp = testing::now() + chrono::Duration::minutes(15);
        let second = chrono::Duration::seconds(1);

        let mut late = verifying_live_at(exp, exp + second);
        late.cache.expect_lookup().times(0);
        late.sessions.expect_find_for_auth().times(0);
        let expired = Authenticate::new(late.ports()).execute("jwt").await;

        let mut early = verifying_live_at(exp, exp - second);
        missing_cache(&mut early);
        early
            .sessions
            .expect_find_for_auth()
            .returning(|_| Ok(Some(live())));
        let accepted = Authenticate::new(early.ports()).execute("jwt").await;

        assert!(
            matches!(expired, Err(AppError::TokenExpired)),
            "{expired:?}"
        );
        assert_eq!(
            accepted.map(|who| who.session_id).ok(),
            Some(SessionId(testing::id(900)))
        );
    }

    #[tokio::test]
    async fn a_revoked_or_missing_session_is_session_revoked() {
        let (mut session, user) = live();
        session.revoked_at = Some(testing::now());
        let revoked = with_state(Ok(claims()), Some((session, user)));
        assert!(matches!(
            revoked.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
        let missing = with_state(Ok(claims()), None);
        assert!(matches!(
            missing.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
    }

    #[tokio::test]
    async fn a_blocked_or_deleted_user_is_session_revoked() {
        let (session, mut user) = live();
        user.status = UserStatus::Blocked;
        let blocked = with_state(Ok(claims()), Some((session.clone(), user)));
        assert!(matches!(
            blocked.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
        let (_, mut user) = live();
        user.deleted_at = Some(testing::now());
        let deleted = with_state(Ok(claims()), Some((session, user)));
        assert!(matches!(
            deleted.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
    }

    #[tokio::test]
    async fn a_session_of_another_user_is_invalid() {
        let other = testing::user(2, Role::User);
        let auth = with_state(Ok(claims()), Some((testing::session(900, other.id), other)));

        assert!(matches!(
            auth.execute("jwt").await,
            Err(AppError::TokenInvalid)
        ));
    }

    fn claims_of_live() -> AccessClaims {
        AccessClaims {
            user_id: live().1.id,
            ..claims()
        }
    }

    /// Mocks whose token verifies as the live session's.
    fn verifying_live() -> Mocks {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_verify()
            .returning(|_| Ok(claims_of_live()));
        mocks
    }

    #[tokio::test]
    async fn a_cache_hit_answers_without_the_database_and_notes_the_use() {
        let mut mocks = verifying_live();
        mocks
            .cache
            .expect_lookup()
            .returning(|_, _| Ok(CacheLookup::Hit(snapshot_of_live())));
        mocks.sessions.expect_find_for_auth().times(0);
        mocks
            .activity
            .expect_touch()
            .withf(|s, at| *s == SessionId(testing::id(900)) && *at == testing::now())
            .times(1)
            .returning(|_, _| Ok(()));

        let who = Authenticate::new(mocks.ports())
            .execute("jwt")
            .await
            .unwrap();

        assert_eq!(who.user, snapshot_of_live().caller);
    }

    /// The issuer remembers the token as the live session's.
    fn remembering_live(mocks: &mut Mocks) {
        mocks
            .tokens
            .expect_remembered()
            .returning(|_| Some(claims_of_live()));
    }

    /// After a miss: one database read, its snapshot stored under the miss's ticket.
    fn expect_one_read_stored_under_g0(mocks: &mut Mocks) {
        mocks
            .sessions
            .expect_find_for_auth()
            .times(1)
            .returning(|_| Ok(Some(live())));
        mocks
            .cache
            .expect_store()
            .withf(|t, snap| t.stamp == "g0" && *snap == snapshot_of_live())
            .times(1)
            .returning(|_, _| Ok(()));
        mocks.activity.expect_touch().returning(|_, _| Ok(()));
    }

    #[tokio::test]
    async fn a_miss_reads_the_database_and_stores_the_snapshot_under_its_ticket() {
        let mut mocks = verifying_live();
        mocks
            .cache
            .expect_lookup()
            .returning(|s, u| Ok(CacheLookup::Miss(ticket(s, u))));
        expect_one_read_stored_under_g0(&mut mocks);

        let who = Authenticate::new(mocks.ports())
            .execute("jwt")
            .await
            .unwrap();
        assert_eq!(who.user.role, Role::Admin);
    }

    #[tokio::test]
    async fn a_broken_cache_or_activity_store_falls_back_to_the_database_and_still_refuses_revoked_sessions(
    ) {
        let (mut session, user) = live();
        session.revoked_at = Some(testing::now());
        let mut mocks = verifying_live();
        mocks
            .cache
            .expect_lookup()
            .returning(|_, _| Err(ServiceError("redis down".into())));
        mocks.cache.expect_store().times(0);
        mocks
            .sessions
            .expect_find_for_auth()
            .returning(move |_| Ok(Some((session.clone(), user.clone()))));
        assert!(matches!(
            Authenticate::new(mocks.ports()).execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));

        let mut mocks = verifying_live();
        mocks
            .cache
            .expect_lookup()
            .returning(|_, _| Err(ServiceError("redis down".into())));
        mocks
            .sessions
            .expect_find_for_auth()
            .returning(|_| Ok(Some(live())));
        mocks
            .activity
            .expect_touch()
            .returning(|_, _| Err(ServiceError("redis down".into())));
        assert!(Authenticate::new(mocks.ports())
            .execute("jwt")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_cached_snapshot_past_its_end_or_of_another_user_is_not_trusted() {
        for stale in [
            AuthSnapshot {
                session_expires_at: testing::now(),
                ..snapshot_of_live()
            },
            AuthSnapshot {
                caller: domain::access::Caller {
                    id: testing::user(5, Role::Admin).id,
                    ..snapshot_of_live().caller
                },
                ..snapshot_of_live()
            },
        ] {
            let mut mocks = verifying_live();
            mocks
                .cache
                .expect_lookup()
                .returning(move |_, _| Ok(CacheLookup::Hit(stale.clone())));
            mocks.cache.expect_store().times(0);
            mocks
                .sessions
                .expect_find_for_auth()
                .times(1)
                .returning(|_| Ok(None));
            assert!(matches!(
                Authenticate::new(mocks.ports()).execute("jwt").await,
                Err(AppError::SessionRevoked)
            ));
        }
    }

    #[tokio::test]
    async fn a_token_the_issuer_does_not_remember_is_not_prefetched_nor_verified() {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_remembered()
            .times(1)
            .returning(|_| None);
        mocks.tokens.expect_verify().times(0);
        mocks.cache.expect_lookup().times(0);

        assert!(Authenticate::new(mocks.ports())
            .prefetch("jwt")
            .await
            .is_none());
    }

    #[tokio::test]
    async fn a_remembered_token_past_exp_or_a_cache_that_fails_prefetches_nothing() {
        let mut mocks = Mocks::new();
        mocks.now = testing::now() + chrono::Duration::seconds(901);
        remembering_live(&mut mocks);
        mocks.cache.expect_lookup().times(0);
        assert!(Authenticate::new(mocks.ports())
            .prefetch("jwt")
            .await
            .is_none());

        let mut mocks = Mocks::new();
        remembering_live(&mut mocks);
        mocks
            .cache
            .expect_lookup()
            .returning(|_, _| Err(ServiceError("redis down".into())));
        assert!(Authenticate::new(mocks.ports())
            .prefetch("jwt")
            .await
            .is_none());
    }

    #[tokio::test]
    async fn a_prefetched_hit_answers_without_a_second_look_at_the_token_or_the_database() {
        // No `verify` expected: the token was remembered as verified when prefetched.
        let mut mocks = Mocks::new();
        remembering_live(&mut mocks);
        mocks
            .cache
            .expect_lookup()
            .times(1)
            .returning(|_, _| Ok(CacheLookup::Hit(snapshot_of_live())));
        mocks.sessions.expect_find_for_auth().times(0);
        mocks
            .activity
            .expect_touch()
            .times(1)
            .returning(|_, _| Ok(()));
        let auth = Authenticate::new(mocks.ports());

        let prefetched = auth.prefetch("jwt").await;
        assert!(prefetched.is_some());
        let who = auth.execute_with("jwt", prefetched).await.unwrap();

        assert_eq!(who.user, snapshot_of_live().caller);
    }

    #[tokio::test]
    async fn a_prefetched_miss_reads_the_database_and_stores_under_the_prefetched_ticket() {
        let mut mocks = verifying_live();
        remembering_live(&mut mocks);
        mocks
            .cache
            .expect_lookup()
            .times(1)
            .returning(|s, u| Ok(CacheLookup::Miss(ticket(s, u))));
        expect_one_read_stored_under_g0(&mut mocks);
        let auth = Authenticate::new(mocks.ports());

        let prefetched = auth.prefetch("jwt").await;
        let who = auth.execute_with("jwt", prefetched).await.unwrap();

        assert_eq!(who.user.role, Role::Admin);
    }

    #[tokio::test]
    async fn a_prefetch_read_for_another_token_is_ignored_and_the_cache_asked_again() {
        // The bearer presented now is not the one prefetched: it is verified and its own
        // lookup decides.
        let mut mocks = verifying_live();
        mocks.tokens.expect_remembered().returning(|_| {
            Some(AccessClaims {
                token_id: testing::id(78),
                ..claims_of_live()
            })
        });
        let mut lookups = mockall::Sequence::new();
        mocks
            .cache
            .expect_lookup()
            .times(1)
            .in_sequence(&mut lookups)
            .returning(|_, _| Ok(CacheLookup::Hit(snapshot_of_live())));
        mocks
            .cache
            .expect_lookup()
            .times(1)
            .in_sequence(&mut lookups)
            .returning(|s, u| Ok(CacheLookup::Miss(ticket(s, u))));
        let (mut session, user) = live();
        session.revoked_at = Some(testing::now());
        mocks
            .sessions
            .expect_find_for_auth()
            .times(1)
            .returning(move |_| Ok(Some((session.clone(), user.clone()))));
        let auth = Authenticate::new(mocks.ports());

        let prefetched = auth.prefetch("other jwt").await;
        assert!(prefetched.is_some());

        assert!(matches!(
            auth.execute_with("jwt", prefetched).await,
            Err(AppError::SessionRevoked)
        ));
    }
}
