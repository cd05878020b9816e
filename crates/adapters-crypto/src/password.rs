//! argon2id password hashing with the OWASP parameters (m = 19 MiB, t = 2, p = 1), and
//! the new-password policy (the zxcvbn strength estimate).
//!
//! Both cost CPU, hashing deliberately, so they run on tokio's blocking pool and never
//! on the async workers; a semaphore sized to the CPU count bounds how many run at
//! once, so a burst of logins or a bulk create queues cheaply instead of piling up
//! blocking threads. Each running hash works in one of a few reused 19 MiB areas (one
//! per permit): allocating a fresh area per hash let the allocator keep hundreds of
//! megabytes after a login flood (835 MB after 8 s of logins), so memory is bounded by
//! the permits, not by how many clients wait or have waited.

use std::sync::Arc;

use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash as PhcHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use domain::error::ServiceError;
use domain::password::{NewPassword, Password, PasswordError, PasswordHash};
use domain::ports::{PasswordHasher, PasswordStrength};
use domain::user::Username;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// OWASP cheat sheet: argon2id with 19 MiB of memory, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
const SALT_BYTES: usize = 16;

/// The [`PasswordHasher`] port over argon2id. Cloning shares the permits.
#[derive(Clone)]
pub struct Argon2Hasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// Working memory, one area per permit, reused by every hash.
    areas: Arc<Areas>,
    /// A hash of a random password, verified against for unknown users.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// A hasher allowing as many concurrent hashes as the machine has CPUs. Computes
    /// the dummy hash once, synchronously (tens of milliseconds): call it at start-up.
    pub fn new() -> Result<Self, ServiceError> {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::with_concurrency(cpus)
    }

    /// A hasher running at most `concurrency` (at least 1) hashes at once.
    pub fn with_concurrency(concurrency: usize) -> Result<Self, ServiceError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
            .map_err(|e| ServiceError(format!("argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let concurrency = concurrency.max(1);
        let areas = Areas {
            blocks: argon2.params().block_count(),
            keep: concurrency,
            free: Mutex::new(Vec::new()),
        };
        let mut random = [0u8; 32];
        OsRng.fill_bytes(&mut random);
        let mut area = areas.take();
        let dummy = hash_with(&argon2, &random, &mut area)?;
        areas.put(area);
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(concurrency)),
            areas: Arc::new(areas),
            dummy: dummy.into(),
        })
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit moves into
    /// the closure, so even if the caller gives up, the bound holds until it finishes.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>, &mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ServiceError("password hasher is shut down".into()))?;
        let argon2 = self.argon2.clone();
        let areas = Arc::clone(&self.areas);
        tokio::task::spawn_blocking(move || {
            let mut area = areas.take();
            let out = work(&argon2, &mut area);
            areas.put(area);
            drop(permit);
            out
        })
        .await
        .map_err(|e| ServiceError(format!("password hashing task failed: {e}")))
    }
}

/// The reusable working areas of the hasher: at most `keep` are kept, each of `blocks`
/// blocks (what the configured parameters need). Only one running hash holds an area, so
/// their number never exceeds the permits'.
struct Areas {
    blocks: usize,
    keep: usize,
    free: Mutex<Vec<Vec<Block>>>,
}

impl Areas {
    /// A free area, or a new one when none is free.
    fn take(&self) -> Vec<Block> {
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        reused.unwrap_or_else(|| vec![Block::default(); self.blocks])
    }

    /// Gives an area back for the next hash (dropped when enough are kept, or when a
    /// stored hash with other parameters made it another size).
    fn put(&self, area: Vec<Block>) {
        if area.len() != self.blocks {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.keep {
                free.push(area);
            }
        }
    }
}

/// Grows `area` to `blocks` blocks when a stored hash needs more than the configured
/// parameters (an older, costlier setting); the area is then not kept.
fn area_for(area: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if area.len() < blocks {
        *area = vec![Block::default(); blocks];
    }
    area.as_mut_slice()
}

/// The PHC string of `password` under `argon2`'s parameters and a fresh 16-byte salt,
/// computed in `area` (what `PasswordHasher::hash_password` writes, without allocating
/// the working memory).
fn hash_with(
    argon2: &Argon2<'_>,
    password: &[u8],
    area: &mut Vec<Block>,
) -> Result<String, ServiceError> {
    let failed = |e: &dyn std::fmt::Display| ServiceError(format!("argon2 hashing failed: {e}"));
    let mut salt = [0u8; SALT_BYTES];
    OsRng.fill_bytes(&mut salt);
    let encoded = SaltString::encode_b64(&salt).map_err(|e| ServiceError(format!("salt: {e}")))?;
    let params = argon2.params();
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks = params.block_count();
    let output = Output::init_with(len, |out| {
        argon2
            .hash_password_into_with_memory(password, &salt, out, area_for(area, blocks))
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| failed(&e))?;
    let phc = PhcHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(encoded.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`, recomputed under the parameters,
/// algorithm and version `phc` names, in `area`; the outputs are compared in constant
/// time (`Output`'s equality). A stored hash that does not parse is a mismatch, not an
/// error: the caller answers "invalid credentials".
fn verify_with(password: &[u8], phc: &str, area: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PhcHash::new(phc) else {
        tracing::warn!("stored password hash is not a valid PHC string");
        return false;
    };
    let recomputed = (|| {
        let expected = parsed.hash?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let computed = Output::init_with(expected.len(), |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, area_for(area, blocks))
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .ok()?;
        Some(computed == expected)
    })();
    match recomputed {
        Some(matches) => matches,
        None => {
            tracing::warn!("stored password hash cannot be checked (unsupported parameters)");
            false
        }
    }
}

/// An owned copy for the blocking task, wiped from memory when dropped.
fn secret_copy(password: &Password) -> SecretString {
    SecretString::from(password.expose().to_owned())
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    #[tracing::instrument(name = "password.hash", skip_all)]
    async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, ServiceError> {
        let password = secret_copy(password.as_password());
        let phc = self
            .run(move |argon2, area| hash_with(argon2, password.expose_secret().as_bytes(), area))
            .await??;
        Ok(PasswordHash::new(phc))
    }

    #[tracing::instrument(name = "password.verify", skip_all)]
    async fn verify(
        &self,
        candidate: &Password,
        hash: &PasswordHash,
    ) -> Result<bool, ServiceError> {
        let password = secret_copy(candidate);
        let phc = hash.as_str().to_owned();
        self.run(move |_, area| verify_with(password.expose_secret().as_bytes(), &phc, area))
            .await
    }

    #[tracing::instrument(name = "password.verify_dummy", skip_all)]
    async fn verify_dummy(&self, candidate: &Password) -> Result<bool, ServiceError> {
        let password = secret_copy(candidate);
        let phc = Arc::clone(&self.dummy);
        self.run(move |_, area| {
            // The result is discarded: even the one-in-2^256 match must not sign anyone in.
            let _ = verify_with(password.expose_secret().as_bytes(), &phc, area);
            false
        })
        .await
    }
}

/// The [`PasswordStrength`] port: [`NewPassword::parse`] on the blocking pool, at most
/// as many at once as the machine has CPUs. Cloning shares the permits.
#[derive(Debug, Clone)]
pub struct BlockingPasswordStrength {
    permits: Arc<Semaphore>,
}

impl BlockingPasswordStrength {
    /// A judge running as many estimates at once as the machine has CPUs. Builds the
    /// estimator's dictionaries once, synchronously (tens of milliseconds, once per
    /// process), so that no request pays for it: call it at start-up.
    pub fn new() -> Self {
        let _ = domain::password::estimate("warm-up", &[]);
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::with_concurrency(cpus)
    }

    /// A judge running at most `concurrency` (at least 1) estimates at once.
    pub fn with_concurrency(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }
}

impl Default for BlockingPasswordStrength {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl PasswordStrength for BlockingPasswordStrength {
    #[tracing::instrument(name = "password.judge", skip_all)]
    async fn judge(
        &self,
        candidate: &Password,
        username: &Username,
        context: &[String],
    ) -> Result<Result<NewPassword, PasswordError>, ServiceError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ServiceError("password judge is shut down".into()))?;
        let password = secret_copy(candidate);
        let username = username.clone();
        let context = context.to_vec();
        tokio::task::spawn_blocking(move || {
            let context: Vec<&str> = context.iter().map(String::as_str).collect();
            let verdict = NewPassword::parse(password.expose_secret(), &username, &context);
            drop(permit);
            verdict
        })
        .await
        .map_err(|e| ServiceError(format!("password judging task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::user::Username;

    fn new_password(raw: &str) -> NewPassword {
        NewPassword::parse(raw, &Username::parse("ann").unwrap(), &[]).unwrap()
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crates_own_hashing_and_verifying() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = Argon2Hasher::new().unwrap();
        // Ours, checked by the crate's verifier.
        let ours = hasher
            .hash(&new_password("correct-Horse-battery-9"))
            .await
            .unwrap();
        let parsed = PhcHash::new(ours.as_str()).unwrap();
        assert!(hasher
            .argon2
            .verify_password(b"correct-Horse-battery-9", &parsed)
            .is_ok());
        // The crate's (what earlier versions stored), checked by ours, costlier and
        // cheaper parameters included.
        for (m, t) in [(19_456, 2), (8_192, 1), (47_104, 1)] {
            let crate_hasher = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, t, 1, None).unwrap(),
            );
            let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
            let stored = crate_hasher
                .hash_password(b"correct-Horse-battery-9", &salt)
                .unwrap()
                .to_string();
            let stored = PasswordHash::new(stored);
            assert!(
                hasher
                    .verify(&Password::new("correct-Horse-battery-9"), &stored)
                    .await
                    .unwrap(),
                "m={m} t={t}"
            );
            assert!(!hasher
                .verify(&Password::new("correct-Horse-battery-8"), &stored)
                .await
                .unwrap());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn working_areas_are_reused_and_never_outnumber_the_permits() {
        let hasher = Argon2Hasher::with_concurrency(2).unwrap();
        let hash = hasher
            .hash(&new_password("correct-Horse-battery-9"))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (hasher, hash) = (hasher.clone(), hash.clone());
                tokio::spawn(async move {
                    hasher
                        .verify(&Password::new("correct-Horse-battery-9"), &hash)
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
        let kept = hasher.areas.free.lock().unwrap();
        assert!((1..=2).contains(&kept.len()), "{} areas kept", kept.len());
        assert!(kept.iter().all(|a| a.len() == 19_456));
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hasher = Argon2Hasher::new().unwrap();
        let hash = hasher
            .hash(&new_password("correct-Horse-battery-9"))
            .await
            .unwrap();
        assert!(hasher
            .verify(&Password::new("correct-Horse-battery-9"), &hash)
            .await
            .unwrap());
        assert!(!hasher
            .verify(&Password::new("correct-Horse-battery-8"), &hash)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn every_hash_gets_its_own_salt() {
        let hasher = Argon2Hasher::new().unwrap();
        let a = hasher
            .hash(&new_password("correct-Horse-battery-9"))
            .await
            .unwrap();
        let b = hasher
            .hash(&new_password("correct-Horse-battery-9"))
            .await
            .unwrap();
        assert_ne!(a.as_str(), b.as_str());
    }

    #[tokio::test]
    async fn hashes_use_argon2id_with_the_owasp_parameters() {
        let hasher = Argon2Hasher::new().unwrap();
        let hash = hasher
            .hash(&new_password("correct-Horse-battery-9"))
            .await
            .unwrap();
        let phc = PhcHash::new(hash.as_str()).unwrap();
        assert_eq!(phc.algorithm.as_str(), "argon2id");
        assert_eq!(phc.version, Some(0x13));
        let params = Params::try_from(&phc).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19_456, 2, 1)
        );
        assert_eq!(phc.salt.unwrap().len(), 22); // 16 bytes, base64 without padding
    }

    #[tokio::test]
    async fn the_dummy_verification_always_says_no() {
        let hasher = Argon2Hasher::with_concurrency(1).unwrap();
        assert!(!hasher
            .verify_dummy(&Password::new("anything"))
            .await
            .unwrap());
        assert!(!hasher.verify_dummy(&Password::new("")).await.unwrap());
    }

    #[tokio::test]
    async fn an_unparsable_stored_hash_is_a_mismatch_not_an_error() {
        let hasher = Argon2Hasher::new().unwrap();
        let verdict = hasher
            .verify(&Password::new("x"), &PasswordHash::new("not a phc string"))
            .await
            .unwrap();
        assert!(!verdict);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_verifications_are_bounded_by_the_permits_and_all_finish() {
        let hasher = Argon2Hasher::with_concurrency(1).unwrap();
        let hash = hasher
            .hash(&new_password("correct-Horse-battery-9"))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let hasher = hasher.clone();
                let hash = hash.clone();
                tokio::spawn(async move {
                    hasher
                        .verify(&Password::new("correct-Horse-battery-9"), &hash)
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap());
        }
        assert_eq!(hasher.permits.available_permits(), 1);
    }

    #[tokio::test]
    async fn the_judge_gives_the_policy_verdict() {
        let judge = BlockingPasswordStrength::with_concurrency(1);
        let ann = Username::parse("ann").unwrap();

        let strong = judge
            .judge(&Password::new("correct-Horse-battery-9"), &ann, &[])
            .await
            .unwrap();
        let weak = judge
            .judge(&Password::new("password123"), &ann, &[])
            .await
            .unwrap();
        let named = judge
            .judge(
                &Password::new("Violet-Harbor-42"),
                &ann,
                &["violet.harbor@example.org".to_owned()],
            )
            .await
            .unwrap();

        assert!(strong.is_ok());
        assert!(matches!(weak, Err(PasswordError::Weak { .. })));
        assert_eq!(
            named.is_ok(),
            NewPassword::parse("Violet-Harbor-42", &ann, &["violet.harbor@example.org"]).is_ok()
        );
        assert_eq!(judge.permits.available_permits(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn judging_leaves_the_async_worker_free() {
        // On a single-threaded runtime, a ticker keeps running while a judgement is
        // under way only if the judgement runs elsewhere.
        let judge = BlockingPasswordStrength::with_concurrency(1);
        let ann = Username::parse("ann").unwrap();
        let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            loop {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        });
        let worst = "9'!;2)*1@,5:4.(|7-+0#6&$3%8?".repeat(5);
        let worst: String = worst.chars().take(128).collect();

        let verdict = judge.judge(&Password::new(worst), &ann, &[]).await.unwrap();
        ticker.abort();

        assert!(verdict.is_ok() || matches!(verdict, Err(PasswordError::Weak { .. })));
        assert!(ticks.load(std::sync::atomic::Ordering::SeqCst) > 0);
    }

    #[test]
    fn debug_output_holds_no_hash() {
        let hasher = Argon2Hasher::new().unwrap();
        let debug = format!("{hasher:?}");
        assert!(!debug.contains("argon2id"), "{debug}");
    }
}
