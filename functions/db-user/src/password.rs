//! A password in the forms a server stores, so that the plain password never travels in SQL a
//! server can log: PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802, RFC 7677), MySQL's and
//! MariaDB's `mysql_native_password` hash, and MySQL 8's `caching_sha2_password` string
//! (SHA-256-crypt). Pure functions; the rotation function uses them too.

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

/// Which stored form a MySQL-family server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MySqlAuth {
    /// `mysql_native_password`: MariaDB, and MySQL before 8.0.
    Native,
    /// `caching_sha2_password`: MySQL 8.0 and later (8.4 disables `mysql_native_password` by
    /// default, 9.0 removes it).
    CachingSha2,
}

impl MySqlAuth {
    /// The form for a server whose `SELECT VERSION()` says `version`: MariaDB keeps
    /// `mysql_native_password`; MySQL (Aurora MySQL 3 too: `8.0.mysql_aurora.3.…`) from 8.0 on
    /// takes `caching_sha2_password`.
    pub fn for_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            return Self::Native;
        }
        let major: u32 = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major >= 8 {
            Self::CachingSha2
        } else {
            Self::Native
        }
    }
}

/// A password in the form a server stores, ready for SQL ([`crate::plan::Login`]).
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPassword {
    /// PostgreSQL's SCRAM-SHA-256 verifier.
    Scram(String),
    /// The `mysql_native_password` hash.
    Native(String),
    /// The `caching_sha2_password` string, as lower-case hex.
    CachingSha2(String),
}

impl std::fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredPassword(***)")
    }
}

impl StoredPassword {
    /// `password` as `engine` stores it; on MySQL as the server's `auth` says
    /// ([`MySqlAuth::for_version`]). A fresh salt each time.
    pub fn new(engine: db_migration::secret::Engine, auth: MySqlAuth, password: &str) -> Self {
        use db_migration::secret::Engine;
        match (engine, auth) {
            (Engine::Postgres, _) => Self::Scram(new_scram_sha256_verifier(password)),
            (Engine::MySql, MySqlAuth::Native) => Self::Native(mysql_native_hash(password)),
            (Engine::MySql, MySqlAuth::CachingSha2) => Self::CachingSha2(
                new_caching_sha2_string(password)
                    .iter()
                    .fold(String::new(), |mut hex, b| {
                        let _ = write!(hex, "{b:02x}");
                        hex
                    }),
            ),
        }
    }

    /// The login that sets it.
    pub fn login(&self) -> crate::plan::Login<'_> {
        match self {
            Self::Scram(v) | Self::Native(v) => crate::plan::Login::Stored(v),
            Self::CachingSha2(hex) => crate::plan::Login::CachingSha2(hex),
        }
    }

    /// Its text as the SQL carries it (for a redactor).
    pub fn text(&self) -> &str {
        match self {
            Self::Scram(v) | Self::Native(v) | Self::CachingSha2(v) => v,
        }
    }
}

/// `caching_sha2_password`'s rounds, in thousands, as the stored string writes them (`005`).
pub const CACHING_SHA2_ROUNDS_THOUSANDS: u32 = 5;
/// `caching_sha2_password`'s salt length, in bytes.
pub const CACHING_SHA2_SALT_BYTES: usize = 20;

/// The string MySQL stores for `caching_sha2_password` (`mysql.user.authentication_string`):
/// `$A$005$`, the 20-byte salt, and the 43-character SHA-256-crypt digest of the password with
/// that salt and 5000 rounds. MySQL's SHA-256-crypt is Drepper's (`$5$`) except that the salt
/// is 20 bytes, not cut to 16. Its salt bytes may be any but NUL and `$`, so the SQL gives the
/// string as a hex literal.
///
/// Like the SCRAM verifier it is not the password, but allows offline guessing at 5000
/// SHA-256 rounds per guess.
pub fn caching_sha2_string(password: &str, salt: &[u8; CACHING_SHA2_SALT_BYTES]) -> Vec<u8> {
    let digest = sha256_crypt(
        password.as_bytes(),
        salt,
        CACHING_SHA2_ROUNDS_THOUSANDS * 1000,
    );
    let mut out = format!("$A${CACHING_SHA2_ROUNDS_THOUSANDS:03X}$").into_bytes();
    out.extend_from_slice(salt);
    out.extend_from_slice(digest.as_bytes());
    out
}

/// [`caching_sha2_string`] with a fresh salt made as MySQL makes one (random bytes, 7 bits,
/// never NUL or `$`).
///
/// # Panics
///
/// When the system's random number generator fails (there is no safe salt without it).
pub fn new_caching_sha2_string(password: &str) -> Vec<u8> {
    let mut salt = [0u8; CACHING_SHA2_SALT_BYTES];
    rand::fill(&mut salt).expect("the system random number generator failed");
    for b in &mut salt {
        *b &= 0x7f;
        if *b == 0 || *b == b'$' {
            *b += 1;
        }
    }
    caching_sha2_string(password, &salt)
}

/// Drepper's SHA-256-crypt (<https://www.akkadia.org/drepper/SHA-crypt.txt>) of `password`
/// with `salt` (used whole: the caller decides its length) and `rounds`: the 43-character
/// digest, without the `$5$…$` around it.
pub fn sha256_crypt(password: &[u8], salt: &[u8], rounds: u32) -> String {
    let sha = |parts: &[&[u8]]| {
        let mut ctx = digest::Context::new(&digest::SHA256);
        for part in parts {
            ctx.update(part);
        }
        let d = ctx.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    };
    // Repeats `block` to `len` bytes.
    let stretch = |block: &[u8; 32], len: usize| -> Vec<u8> {
        block.iter().copied().cycle().take(len).collect()
    };
    let b = sha(&[password, salt, password]);
    let mut a_input = [password, salt].concat();
    a_input.extend(stretch(&b, password.len()));
    let mut n = password.len();
    while n > 0 {
        if n & 1 == 1 {
            a_input.extend_from_slice(&b);
        } else {
            a_input.extend_from_slice(password);
        }
        n >>= 1;
    }
    let a = sha(&[&a_input]);
    let dp = sha(&[&password.repeat(password.len())]);
    let p = stretch(&dp, password.len());
    let ds = sha(&[&salt.repeat(16 + usize::from(a[0]))]);
    let s = stretch(&ds, salt.len());
    let mut c = a;
    for i in 0..rounds {
        let mut ctx = digest::Context::new(&digest::SHA256);
        if i % 2 == 1 {
            ctx.update(&p);
        } else {
            ctx.update(&c);
        }
        if i % 3 != 0 {
            ctx.update(&s);
        }
        if i % 7 != 0 {
            ctx.update(&p);
        }
        if i % 2 == 1 {
            ctx.update(&c);
        } else {
            ctx.update(&p);
        }
        c.copy_from_slice(ctx.finish().as_ref());
    }
    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const ORDER: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    let mut out = String::with_capacity(43);
    let mut put = |b2: u8, b1: u8, b0: u8, chars: usize| {
        let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
        for _ in 0..chars {
            out.push(char::from(ITOA64[(w & 0x3f) as usize]));
            w >>= 6;
        }
    };
    for (x, y, z) in ORDER {
        put(c[x], c[y], c[z], 4);
    }
    put(0, c[31], c[30], 3);
    out
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

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Drepper's own vectors (SHA-crypt.txt), which glibc's `crypt(3)` gives too (Python's
    /// `crypt.crypt('Hello world!', '$5$saltstring')` here).
    #[test]
    fn sha256_crypt_matches_drepper_s_vectors() {
        assert_eq!(
            sha256_crypt(b"Hello world!", b"saltstring", 5000),
            "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
        );
        // The spec cuts salts to 16 bytes; the vector's salt is given cut here.
        assert_eq!(
            sha256_crypt(b"Hello world!", b"saltstringsaltst", 10000),
            "3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"
        );
    }

    /// MySQL's stored strings as hashcat publishes them (mode 7401: `$mysql$A$005*<salt
    /// hex>*<digest hex>`): hashcat's example hash for the password `hashcat`, and one of
    /// another published list for `password`. Their 20-byte salts show that MySQL does not
    /// cut the salt to 16 bytes.
    #[test]
    fn the_caching_sha2_string_matches_mysql_s_published_hashes() {
        for (password, salt, digest) in [
            (
                "hashcat",
                "F9CC98CE08892924F50A213B6BC571A2C11778C5",
                "625479393559393965414D45316477456B484F41316E64484742577A2E3162785353526B7554584647562F",
            ),
            (
                "password",
                "06437A150142644D74187A6A2F0D7971094F2575",
                "48667A67485366745A304F6A487A73704250663465337A7530325157687A51364A384D737554424939702E",
            ),
        ] {
            let salt: [u8; 20] = unhex(salt).try_into().unwrap();
            let mut expected = b"$A$005$".to_vec();
            expected.extend_from_slice(&salt);
            expected.extend(unhex(digest));
            assert_eq!(caching_sha2_string(password, &salt), expected, "{password}");
        }
    }

    #[test]
    fn each_new_caching_sha2_string_has_its_own_salt_of_mysql_s_shape() {
        let a = new_caching_sha2_string("hunter2-pw");
        let b = new_caching_sha2_string("hunter2-pw");
        assert_ne!(a, b);
        assert_eq!(a.len(), 7 + 20 + 43);
        assert!(a.starts_with(b"$A$005$"));
        assert!(a[7..27].iter().all(|&c| c != 0 && c != b'$' && c < 0x80));
    }

    #[test]
    fn the_server_s_version_chooses_the_mysql_form() {
        for (version, auth) in [
            ("10.11.19-MariaDB-0+deb12u1", MySqlAuth::Native),
            ("11.4.2-MariaDB", MySqlAuth::Native),
            ("5.7.44-log", MySqlAuth::Native),
            ("8.0.36", MySqlAuth::CachingSha2),
            ("8.0.mysql_aurora.3.05.2", MySqlAuth::CachingSha2),
            ("8.4.0", MySqlAuth::CachingSha2),
            ("9.1.0", MySqlAuth::CachingSha2),
            ("", MySqlAuth::Native),
        ] {
            assert_eq!(MySqlAuth::for_version(version), auth, "{version}");
        }
    }
}
