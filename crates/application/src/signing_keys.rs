//! Finding an instance whose JWT keys differ from its peers': each instance announces the
//! key ids it signs and verifies with and compares them with the others' (the rule is
//! [`domain::signing_keys`]). A difference is reported, not acted on: refusing to serve
//! would turn one misconfigured instance into an outage of its healthy peers.

use chrono::Duration;
use domain::signing_keys::{KeyCheck, ANNOUNCEMENT_LIFETIME_INTERVALS};
use uuid::Uuid;

use crate::error::AppError;
use crate::ports::Ports;

/// Announces this instance's keys and compares them with the live peers'.
pub struct CheckSigningKeys {
    ports: Ports,
    /// This process among its peers: fresh at every start.
    instance: Uuid,
}

impl CheckSigningKeys {
    /// Builds the use case for a new instance.
    pub fn new(ports: Ports) -> Self {
        let instance = ports.ids.new_id();
        Self { ports, instance }
    }

    /// Runs one check; `interval` is how often the caller runs it, so the announcement
    /// outlives a late next run. Fails only when the announcements cannot be reached.
    #[tracing::instrument(name = "check_signing_keys", skip_all)]
    pub async fn execute(&self, interval: Duration) -> Result<KeyCheck, AppError> {
        let own = self.ports.tokens.key_set();
        let now = self.ports.clock.now();
        let lifetime = interval
            .checked_mul(i32::try_from(ANNOUNCEMENT_LIFETIME_INTERVALS).unwrap_or(i32::MAX))
            .unwrap_or(Duration::MAX);
        let until = now.checked_add_signed(lifetime).unwrap_or(now);
        let peers = self
            .ports
            .key_announcements
            .announce(self.instance, &own, now, until)
            .await
            .map_err(|e| AppError::Unavailable(e.0))?;
        Ok(KeyCheck::of(&own, &peers))
    }
}

#[cfg(test)]
mod tests {
    use domain::error::ServiceError;
    use domain::signing_keys::KeySet;
    use mockall::predicate::always;

    use super::*;
    use crate::testing::{now, Mocks};

    fn keys(signing: &str, verifying: &[&str]) -> KeySet {
        KeySet::new(signing, verifying.iter().copied()).unwrap()
    }

    #[tokio::test]
    async fn announces_its_own_set_for_three_intervals_and_compares_the_peers() {
        let mut m = Mocks::new();
        m.tokens.expect_key_set().returning(|| keys("aa", &["bb"]));
        m.key_announcements
            .expect_announce()
            .withf(|_, set, at, until| {
                *set == keys("aa", &["bb"])
                    && *at == now()
                    && *until == now() + Duration::seconds(30)
            })
            .times(1)
            .returning(|_, _, _, _| Ok(vec![keys("aa", &["bb"]), keys("cc", &[])]));
        let check = CheckSigningKeys::new(m.ports())
            .execute(Duration::seconds(10))
            .await
            .unwrap();
        assert_eq!(check.peers, 2);
        assert_eq!(check.differing, 1);
        assert_eq!(check.conflicting, 1);
        assert_eq!(check.peer_signing_kids, ["cc"]);
    }

    #[tokio::test]
    async fn the_same_instance_id_is_announced_every_run() {
        let mut m = Mocks::new();
        m.tokens.expect_key_set().returning(|| keys("aa", &[]));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        m.key_announcements
            .expect_announce()
            .with(always(), always(), always(), always())
            .times(2)
            .returning(move |id, _, _, _| {
                record.lock().unwrap().push(id);
                Ok(Vec::new())
            });
        let check = CheckSigningKeys::new(m.ports());
        assert!(check.execute(Duration::seconds(1)).await.unwrap().agrees());
        assert!(check.execute(Duration::seconds(1)).await.unwrap().agrees());
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0], seen[1]);
    }

    #[tokio::test]
    async fn unreachable_announcements_are_unavailable() {
        let mut m = Mocks::new();
        m.tokens.expect_key_set().returning(|| keys("aa", &[]));
        m.key_announcements
            .expect_announce()
            .returning(|_, _, _, _| Err(ServiceError("redis: unreachable".into())));
        let err = CheckSigningKeys::new(m.ports())
            .execute(Duration::seconds(10))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
    }
}
