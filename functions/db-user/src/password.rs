//! A password in the forms a server stores, so that the plain password never travels in SQL a
//! server can log: PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802, RFC 7677) and MySQL's and
//! MariaDB's `mysql_native_password` hash. Pure functions; the rotation function uses them too.

use std::fmt::Write as _;
use std::num::NonZeroU32;

use aws_lc_rs::{digest, hmac, pbkdf2, rand};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// PostgreSQL's default iteration count (`scram_iterations`, 4096).
pub const SCRAM_ITERATIONS: u32 = 4096;
/// PostgreSQL's salt length, in bytes.
pub const SCRAM_SALT_BYTES: usize = 16;

/// A SCRAM-SHA-256 verifier as PostgreSQL stores it in `pg_authid.rolpassword`:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 each.
///
/// PostgreSQL stores a `PASSWORD '…'` of this shape as given, never seeing the password. The
/// verifier is not the password, but whoever holds it can mount an offline guessing attack
/// (4096 PBKDF2 rounds per guess): treat it as sensitive, though it may appear in a log.
pub fn scram_sha256_verifier(password: &str, salt: &[u8], iterations: NonZeroU32) -> String {
    // PostgreSQL normalises with SASLprep and, when that fails (a prohibited character),
    // hashes the raw bytes: the same here, or the verifier would not match its login.
    let prepared = stringprep::saslprep(password);
    let bytes: &[u8] = match &prepared {
        Ok(p) => p.as_bytes(),
        Err(_) => password.as_bytes(),
    };
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        bytes,
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref()),
    )
}

/// [`scram_sha256_verifier`] with a fresh random salt and PostgreSQL's iteration count.
///
/// # Panics
///
/// When the system's random number generator fails (there is no safe salt without it).
pub fn new_scram_sha256_verifier(password: &str) -> String {
    let mut salt = [0u8; SCRAM_SALT_BYTES];
    rand::fill(&mut salt).expect("the system random number generator failed");
    let iterations = NonZeroU32::new(SCRAM_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    scram_sha256_verifier(password, &salt, iterations)
}

/// Whether `text` has the shape of a SCRAM-SHA-256 verifier (and nothing that needs quoting).
pub fn is_scram_verifier(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((iterations, rest)) = rest.split_once(':') else {
        return false;
    };
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    };
    let parts: Vec<&str> = rest.split(['$', ':']).collect();
    iterations.parse::<u32>().is_ok_and(|i| i > 0)
        && parts.len() == 3
        && parts.iter().all(|p| b64(p))
}

/// The `mysql_native_password` hash: `*` and the upper-case hex of SHA1(SHA1(password)), as
/// `CREATE USER … IDENTIFIED WITH mysql_native_password AS '…'` takes it.
///
/// Unsalted: the hash is enough to log in with this plugin's challenge-response (whoever reads
/// it from `mysql.user` or a log can answer the challenge), so it is password-equivalent.
pub fn mysql_native_hash(password: &str) -> String {
    let once = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
    let twice = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, once.as_ref());
    twice
        .as_ref()
        .iter()
        .fold(String::from("*"), |mut hex, byte| {
            let _ = write!(hex, "{byte:02X}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python's `hashlib.pbkdf2_hmac` and `hmac`, for the password
    /// `pencil` (RFC 7677's) and the salt `W22ZaJ0SNY7soEsUEjb6gQ==`.
    #[test]
    fn the_scram_verifier_matches_an_independent_computation() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = scram_sha256_verifier("pencil", &salt, NonZeroU32::new(4096).unwrap());
        assert_eq!(verifier, PENCIL);
        assert!(is_scram_verifier(&verifier));
    }

    const PENCIL: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

    #[test]
    fn each_new_verifier_has_its_own_salt_and_never_the_password() {
        let a = new_scram_sha256_verifier("hunter2-pw");
        let b = new_scram_sha256_verifier("hunter2-pw");
        assert_ne!(a, b);
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!a.contains("hunter2"));
        assert!(is_scram_verifier(&a) && is_scram_verifier(&b));
    }

    #[test]
    fn only_verifier_shaped_text_is_a_verifier() {
        for text in [
            "",
            "md5abc",
            "SCRAM-SHA-256$4096:c2FsdA==$a:b'; DROP ROLE x; --",
            "SCRAM-SHA-256$0:c2FsdA==$YQ==:Yg==",
            "SCRAM-SHA-256$4096:c2FsdA==$YQ==",
        ] {
            assert!(!is_scram_verifier(text), "{text}");
        }
        assert!(is_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg=="));
    }

    /// MySQL's own `SELECT PASSWORD('password')` on 5.7 and MariaDB.
    #[test]
    fn the_native_hash_is_mysql_s_password_function() {
        assert_eq!(
            mysql_native_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        assert_eq!(mysql_native_hash("pencil").len(), 41);
    }
}
