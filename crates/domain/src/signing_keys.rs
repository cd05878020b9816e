//! The JWT keys an instance signs and verifies with, as its peers see them, and the rule
//! that finds an instance whose keys differ from the others'.
//!
//! Instances behind one proxy must agree on their keys: a token signed by one is
//! presented to any other. Each instance announces its [`KeySet`] (key ids only: a `kid`
//! is a digest of a public key, so nothing secret is shared) and compares it with the
//! sets its peers announced. Any difference is reported; a difference that makes one
//! instance refuse another's tokens is [`KeyAgreement::Conflicting`]. A key rotation done
//! in the documented order (a new key first added as verify-only everywhere, then made
//! the signing key) passes through [`KeyAgreement::Compatible`] sets only.

use std::collections::BTreeSet;

/// Peers' announcements live this many check intervals, so that one missed or late
/// announcement does not make an instance look gone.
pub const ANNOUNCEMENT_LIFETIME_INTERVALS: u32 = 3;

/// The longest `kid` accepted in an announcement (ours are 16 hex characters).
const MAX_KID_LEN: usize = 64;

/// The most keys one announcement may list (a peer's garbage cannot grow without bound).
const MAX_KEYS: usize = 32;

/// Why a key set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// A key id is empty, too long, or holds a character other than `[A-Za-z0-9_-]`.
    #[error("a key id must be 1 to {MAX_KID_LEN} characters of A-Z, a-z, 0-9, '-' or '_'")]
    BadKid,
    /// More keys than [`MAX_KEYS`].
    #[error("at most {MAX_KEYS} keys")]
    TooMany,
}

/// The keys of one instance: the `kid` it signs with and every `kid` it verifies (the
/// signing one among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    signing: String,
    verifying: BTreeSet<String>,
}

impl KeySet {
    /// The set signing with `signing` and verifying `verifying` (and `signing`).
    pub fn new<'a>(
        signing: &str,
        verifying: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, KeySetError> {
        let mut all = BTreeSet::new();
        let verifying = verifying.into_iter().map(|kid| kid as &str);
        for kid in std::iter::once(signing).chain(verifying) {
            if !valid_kid(kid) {
                return Err(KeySetError::BadKid);
            }
            all.insert(kid.to_owned());
            if all.len() > MAX_KEYS {
                return Err(KeySetError::TooMany);
            }
        }
        Ok(Self {
            signing: signing.to_owned(),
            verifying: all,
        })
    }

    /// The `kid` new tokens are signed with.
    pub fn signing(&self) -> &str {
        &self.signing
    }

    /// Whether a token signed with `kid` verifies here.
    pub fn verifies(&self, kid: &str) -> bool {
        self.verifying.contains(kid)
    }

    /// The stored form: `<signing kid>;<kid>,<kid>,...` (every verifying kid, sorted), the
    /// same text for the same set on every instance.
    pub fn encode(&self) -> String {
        let verifying: Vec<&str> = self.verifying.iter().map(String::as_str).collect();
        format!("{};{}", self.signing, verifying.join(","))
    }

    /// The set [`encode`](Self::encode) wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let (signing, verifying) = text.split_once(';')?;
        let set = Self::new(signing, verifying.split(','))
            .ok()
            .filter(|set| set.encode() == text)?;
        Some(set)
    }

    /// How a peer announcing `peer` and this instance get on.
    pub fn agreement(&self, peer: &KeySet) -> KeyAgreement {
        if self == peer {
            return KeyAgreement::Same;
        }
        let theirs_refused_here = !self.verifies(peer.signing());
        let ours_refused_there = !peer.verifies(self.signing());
        if theirs_refused_here || ours_refused_there {
            KeyAgreement::Conflicting {
                theirs_refused_here,
                ours_refused_there,
            }
        } else {
            KeyAgreement::Compatible
        }
    }
}

fn valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// How two instances' key sets compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAgreement {
    /// The same signing key and the same verifying keys.
    Same,
    /// Different sets, but each verifies the tokens the other signs (a rotation under way).
    Compatible,
    /// One would refuse the other's tokens.
    Conflicting {
        /// The peer signs with a key this instance does not verify.
        theirs_refused_here: bool,
        /// This instance signs with a key the peer does not verify.
        ours_refused_there: bool,
    },
}

/// This instance's keys against every live peer's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// Live peers that announced their keys.
    pub peers: usize,
    /// Peers whose set differs from ours in any way.
    pub differing: usize,
    /// Peers of those whose tokens this instance refuses, or which refuse ours.
    pub conflicting: usize,
    /// The signing kids of the differing peers (public digests), sorted, each once.
    pub peer_signing_kids: Vec<String>,
}

impl KeyCheck {
    /// Compares `own` with each of `peers`.
    pub fn of(own: &KeySet, peers: &[KeySet]) -> Self {
        let mut check = Self {
            peers: peers.len(),
            ..Self::default()
        };
        let mut kids = BTreeSet::new();
        for peer in peers {
            match own.agreement(peer) {
                KeyAgreement::Same => continue,
                KeyAgreement::Compatible => {}
                KeyAgreement::Conflicting { .. } => check.conflicting += 1,
            }
            check.differing += 1;
            kids.insert(peer.signing().to_owned());
        }
        check.peer_signing_kids = kids.into_iter().collect();
        check
    }

    /// Whether every live peer announced exactly our set.
    pub fn agrees(&self) -> bool {
        self.differing == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(signing: &str, verifying: &[&str]) -> KeySet {
        KeySet::new(signing, verifying.iter().copied()).expect("valid")
    }

    #[test]
    fn the_signing_key_always_verifies() {
        let keys = set("a1", &[]);
        assert!(keys.verifies("a1"));
        assert!(!keys.verifies("b2"));
        assert_eq!(keys.signing(), "a1");
    }

    #[test]
    fn the_encoding_is_canonical_and_round_trips() {
        let one = set("b2", &["c3", "a1"]);
        let two = set("b2", &["a1", "b2", "c3", "a1"]);
        assert_eq!(one.encode(), "b2;a1,b2,c3");
        assert_eq!(one.encode(), two.encode());
        assert_eq!(KeySet::decode(&one.encode()), Some(one));
    }

    #[test]
    fn anything_but_the_canonical_encoding_is_refused() {
        for text in [
            "",
            "a1",
            ";a1",
            "a1;",
            "a1;b2",
            "a1;b2,a1",
            "a1;a1,,b2",
            "a 1;a 1",
            "a1;a1;a1",
            "a1|x;a1|x",
        ] {
            assert_eq!(KeySet::decode(text), None, "{text:?}");
        }
        assert!(KeySet::decode("a1;a1").is_some());
    }

    #[test]
    fn bad_kids_and_too_many_keys_are_refused() {
        assert_eq!(KeySet::new("", []), Err(KeySetError::BadKid));
        assert_eq!(KeySet::new("a;b", []), Err(KeySetError::BadKid));
        assert_eq!(
            KeySet::new(&"k".repeat(MAX_KID_LEN + 1), []),
            Err(KeySetError::BadKid)
        );
        assert!(KeySet::new(&"k".repeat(MAX_KID_LEN), []).is_ok());
        let many: Vec<String> = (0..MAX_KEYS).map(|n| format!("k{n}")).collect();
        assert_eq!(
            KeySet::new("first", many.iter().map(String::as_str)),
            Err(KeySetError::TooMany)
        );
        assert!(KeySet::new("k0", many.iter().map(String::as_str)).is_ok());
    }

    #[test]
    fn equal_sets_agree() {
        assert_eq!(
            set("a1", &["b2"]).agreement(&set("a1", &["b2"])),
            KeyAgreement::Same
        );
    }

    #[test]
    fn a_rotation_in_the_documented_order_is_compatible() {
        // Step 1: the new key b2 is added as verify-only on some instances.
        let old = set("a1", &[]);
        let added = set("a1", &["b2"]);
        assert_eq!(old.agreement(&added), KeyAgreement::Compatible);
        // Step 2: once every instance verifies b2, it becomes the signing key.
        let switched = set("b2", &["a1"]);
        assert_eq!(added.agreement(&switched), KeyAgreement::Compatible);
        assert_eq!(switched.agreement(&added), KeyAgreement::Compatible);
    }

    #[test]
    fn a_peer_signing_with_an_unknown_key_conflicts() {
        let ours = set("a1", &[]);
        let theirs = set("b2", &[]);
        assert_eq!(
            ours.agreement(&theirs),
            KeyAgreement::Conflicting {
                theirs_refused_here: true,
                ours_refused_there: true,
            }
        );
        // Switching the signing key before every instance verifies it: one way only.
        let early = set("b2", &["a1"]);
        assert_eq!(
            ours.agreement(&early),
            KeyAgreement::Conflicting {
                theirs_refused_here: true,
                ours_refused_there: false,
            }
        );
        assert_eq!(
            early.agreement(&ours),
            KeyAgreement::Conflicting {
                theirs_refused_here: false,
                ours_refused_there: true,
            }
        );
    }

    #[test]
    fn the_check_counts_differing_and_conflicting_peers() {
        let ours = set("a1", &["b2"]);
        let peers = [
            set("a1", &["b2"]),
            set("a1", &[]),
            set("c3", &[]),
            set("c3", &["a1"]),
            set("d4", &[]),
        ];
        let check = KeyCheck::of(&ours, &peers);
        assert_eq!(check.peers, 5);
        assert_eq!(check.differing, 4);
        assert_eq!(check.conflicting, 3);
        assert_eq!(check.peer_signing_kids, ["a1", "c3", "d4"]);
        assert!(!check.agrees());
    }

    #[test]
    fn no_peers_or_equal_peers_agree() {
        let ours = set("a1", &[]);
        assert!(KeyCheck::of(&ours, &[]).agrees());
        let check = KeyCheck::of(&ours, &[ours.clone(), ours.clone()]);
        assert!(check.agrees());
        assert_eq!(check.peers, 2);
        assert!(check.peer_signing_kids.is_empty());
    }
}
