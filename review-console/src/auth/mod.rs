//! Who may do what: argon2id password hashes, random session tokens (only
//! their sha256 is stored), per-session CSRF tokens, roles, and a keyed rate
//! limiter on sign-in (per client address and per user name).

use std::net::IpAddr;
use std::num::NonZeroU32;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Reviewer,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

pub fn valid_username(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

/// Hashes a new password (argon2id, the crate's recommended parameters).
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < 10 {
        return Err("passwords have at least 10 characters".into());
    }
    if password.len() > 256 {
        return Err("passwords have at most 256 bytes".into());
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    password.len() <= 256 && PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so a wrong user
/// name costs the same time as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-matches").expect("hashes"))
}

/// 32 random bytes, hex: session tokens and CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equal-time comparison for tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sign-in attempts allowed per minute, per address and per user name.
pub struct SignInLimiter {
    by_client: DefaultKeyedRateLimiter<IpAddr>,
    by_user: DefaultKeyedRateLimiter<String>,
}

impl SignInLimiter {
    pub fn new(per_minute: u32) -> SignInLimiter {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"));
        SignInLimiter { by_client: RateLimiter::keyed(quota), by_user: RateLimiter::keyed(quota) }
    }

    /// Whether one more attempt is allowed now (both keys are charged).
    pub fn allow(&self, client: IpAddr, username: &str) -> bool {
        let by_client = self.by_client.check_key(&client).is_ok();
        let by_user = self.by_user.check_key(&username.to_ascii_lowercase()).is_ok();
        self.by_client.retain_recent();
        self.by_user.retain_recent();
        by_client && by_user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn sign_in_is_limited_per_client_and_per_user() {
        let limiter = SignInLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(a, "zhang")));
        assert!(!limiter.allow(a, "li"), "the address is spent");
        assert!(!limiter.allow(b, "zhang"), "the user name is spent, from any address");
        assert!(limiter.allow(b, "wang"));
    }

    #[test]
    fn tokens_are_random_and_compared_fully() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()) && !same_token(&a, &b) && !same_token(&a, &a[..63]));
    }
}
