//! The argon2id bound of logins on this machine, for `cargo xtask bench`: the product's
//! own [`Argon2Hasher`] (same crate, parameters and permits as `ems`) verifying one stored
//! hash from as many concurrent callers as the bench's login row has connections, for a
//! fixed time. Prints `verifies/s <rate>` and nothing else on standard output.
//!
//!     cargo run --release -p adapters-crypto --example argon2_bound -- SECONDS CALLERS

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_crypto::Argon2Hasher;
use domain::password::{NewPassword, Password};
use domain::ports::PasswordHasher;
use domain::user::Username;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(Ok(10), |a| a.parse())?;
    let callers: usize = args.next().map_or(Ok(50), |a| a.parse())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rate = runtime.block_on(measure(Duration::from_secs(seconds), callers))?;
    println!("verifies/s {rate:.2}");
    Ok(())
}

async fn measure(span: Duration, callers: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let hasher = Arc::new(Argon2Hasher::new()?);
    let secret = "bench-Bound-password-42";
    let new = NewPassword::parse(secret, &Username::parse("benchuser")?, &[])
        .map_err(|e| format!("bench password refused: {e}"))?;
    let stored = hasher.hash(&new).await?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let (hasher, stored, done) = (hasher.clone(), stored.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < span {
                let ok = hasher.verify(&Password::new(secret), &stored).await;
                if matches!(ok, Ok(true)) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
