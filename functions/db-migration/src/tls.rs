//! `Tls` and `CaBundle` mapped onto sqlx's connection options, and the RDS CA bundle the
//! binary carries (Lambda gets only `bootstrap`: there is no file to point at).

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sqlx::mysql::MySqlSslMode;
use sqlx::postgres::PgSslMode;

use crate::properties::TlsMode;

/// Amazon RDS's global CA bundle (`global-bundle.pem`, every region's RDS root CAs: the 2019
/// ones and the RSA2048/RSA4096/ECC384 G1 ones). `VerifyFull` trusts it unless `CaBundle`
/// gives other certificates. Refresh it from AWS's RDS documentation ("Using SSL/TLS to
/// encrypt a connection to a DB instance") when AWS adds regions.
pub const RDS_GLOBAL_BUNDLE: &str = include_str!("../certs/rds-global-bundle.pem");

/// The TLS settings for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The `Tls` property: whether to encrypt and what to verify.
    pub mode: TlsMode,
    /// The PEM certificates to trust, with `VerifyFull` only.
    pub roots: Option<Vec<u8>>,
}

impl TlsSettings {
    /// `Tls` with `CaBundle`: `VerifyFull` trusts `CaBundle` when given, else the RDS bundle.
    pub fn new(mode: TlsMode, ca_bundle: Option<&str>) -> Self {
        let roots = match mode {
            TlsMode::VerifyFull => Some(ca_bundle.unwrap_or(RDS_GLOBAL_BUNDLE).as_bytes().to_vec()),
            TlsMode::Require | TlsMode::Disable => None,
        };
        Self { mode, roots }
    }

    /// PostgreSQL's mode: `require`, `verify-full`, `disable`.
    pub fn postgres_mode(&self) -> PgSslMode {
        match self.mode {
            TlsMode::Require => PgSslMode::Require,
            TlsMode::VerifyFull => PgSslMode::VerifyFull,
            TlsMode::Disable => PgSslMode::Disable,
        }
    }

    /// MySQL's mode: `REQUIRED`, `VERIFY_IDENTITY`, `DISABLED`.
    pub fn mysql_mode(&self) -> MySqlSslMode {
        match self.mode {
            TlsMode::Require => MySqlSslMode::Required,
            TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
            TlsMode::Disable => MySqlSslMode::Disabled,
        }
    }
}

/// Checks that `pem` holds at least one certificate, and nothing unreadable.
///
/// # Errors
///
/// What is wrong, ready for a `Reason` (never the text itself: it is long and not useful).
pub fn check_pem(pem: &str) -> Result<usize, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("expected PEM text of CA certificates, but it does not parse: {e}"))?;
    if certs.is_empty() {
        return Err(
            "expected PEM text of CA certificates (`-----BEGIN CERTIFICATE-----` …), found none"
                .into(),
        );
    }
    Ok(certs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_each_engine() {
        let cases = [
            (TlsMode::Require, PgSslMode::Require, MySqlSslMode::Required),
            (
                TlsMode::VerifyFull,
                PgSslMode::VerifyFull,
                MySqlSslMode::VerifyIdentity,
            ),
            (TlsMode::Disable, PgSslMode::Disable, MySqlSslMode::Disabled),
        ];
        for (mode, pg, my) in cases {
            let tls = TlsSettings::new(mode, None);
            assert_eq!(
                format!("{:?}", tls.postgres_mode()),
                format!("{pg:?}"),
                "{mode}"
            );
            assert_eq!(
                format!("{:?}", tls.mysql_mode()),
                format!("{my:?}"),
                "{mode}"
            );
        }
    }

    #[test]
    fn verify_full_trusts_the_rds_bundle_or_the_given_one() {
        let tls = TlsSettings::new(TlsMode::VerifyFull, None);
        assert_eq!(tls.roots.as_deref(), Some(RDS_GLOBAL_BUNDLE.as_bytes()));
        let mine = "-----BEGIN CERTIFICATE-----\n…";
        let tls = TlsSettings::new(TlsMode::VerifyFull, Some(mine));
        assert_eq!(tls.roots.as_deref(), Some(mine.as_bytes()));
        assert_eq!(TlsSettings::new(TlsMode::Require, Some(mine)).roots, None);
        assert_eq!(TlsSettings::new(TlsMode::Disable, None).roots, None);
    }

    #[test]
    fn the_embedded_bundle_is_the_rds_one() {
        let count = check_pem(RDS_GLOBAL_BUNDLE).unwrap();
        assert!(count > 100, "{count} certificates");
        assert!(RDS_GLOBAL_BUNDLE.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(check_pem("no certificates here").is_err());
        assert!(
            check_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err()
        );
    }
}
