//! `Tls` and `CaBundle` mapped onto sqlx's connection options, and the CA certificates the
//! binary carries (Lambda gets only `bootstrap`: there is no file to point at): the RDS bundle
//! and the Amazon Trust Services roots.
//!
//! `Tls: VerifyFull` is the default. Anything weaker is the stage's choice
//! ([`custom_resource::trust::Switch::InsecureTls`]): without it, a request asking for
//! `Require` or `Disable` connects with `VerifyFull` ([`TlsSettings::for_request`]), so a
//! forged event cannot make the function hand its credentials to a server it has not verified.
//!
//! sqlx (rustls, `webpki-roots`) also trusts Mozilla's roots whatever is given here: the
//! roots below are added to those, not a replacement for them. The host name is always checked
//! with `VerifyFull`, so a certificate for an RDS name still has to come from Amazon's CAs.

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

/// The Amazon Trust Services roots (Amazon Root CA 1 to 4, Starfield Services Root
/// Certificate Authority - G2): RDS Proxy's certificates chain to them. Picked from Mozilla's
/// store by `build.rs`.
pub const AMAZON_TRUST_ROOTS: &str =
    include_str!(concat!(env!("OUT_DIR"), "/amazon-trust-roots.pem"));

/// What `VerifyFull` trusts without `CaBundle`: the RDS bundle and the Amazon Trust Services
/// roots.
pub fn default_roots() -> Vec<u8> {
    let mut roots = Vec::with_capacity(RDS_GLOBAL_BUNDLE.len() + AMAZON_TRUST_ROOTS.len() + 1);
    roots.extend_from_slice(RDS_GLOBAL_BUNDLE.as_bytes());
    if !RDS_GLOBAL_BUNDLE.ends_with('\n') {
        roots.push(b'\n');
    }
    roots.extend_from_slice(AMAZON_TRUST_ROOTS.as_bytes());
    roots
}

/// The TLS settings for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The `Tls` property: whether to encrypt and what to verify.
    pub mode: TlsMode,
    /// The PEM certificates to trust, with `VerifyFull` only.
    pub roots: Option<Vec<u8>>,
}

impl TlsSettings {
    /// `Tls` with `CaBundle`: `VerifyFull` trusts `CaBundle` when given, else the RDS bundle
    /// and the Amazon Trust Services roots ([`default_roots`]).
    pub fn new(mode: TlsMode, ca_bundle: Option<&str>) -> Self {
        let roots = match mode {
            TlsMode::VerifyFull => {
                Some(ca_bundle.map_or_else(default_roots, |pem| pem.as_bytes().to_vec()))
            }
            TlsMode::Require | TlsMode::Disable => None,
        };
        Self { mode, roots }
    }

    /// The settings a request gets: its `Tls` and `CaBundle` when the stage allows weaker TLS
    /// (`insecure_allowed`) or it asks for `VerifyFull`; else `VerifyFull` with the embedded
    /// roots, as if it had not asked (a `CaBundle` comes only with `VerifyFull`, so none is
    /// dropped).
    pub fn for_request(mode: TlsMode, ca_bundle: Option<&str>, insecure_allowed: bool) -> Self {
        if mode == TlsMode::VerifyFull || insecure_allowed {
            Self::new(mode, ca_bundle)
        } else {
            Self::new(TlsMode::VerifyFull, None)
        }
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
    fn verify_full_trusts_the_rds_bundle_and_amazon_s_roots_or_the_given_one() {
        let tls = TlsSettings::new(TlsMode::VerifyFull, None);
        assert_eq!(tls.roots, Some(default_roots()));
        let roots = String::from_utf8(default_roots()).unwrap();
        assert!(roots.starts_with(RDS_GLOBAL_BUNDLE) && roots.ends_with(AMAZON_TRUST_ROOTS));
        assert_eq!(
            check_pem(&roots).unwrap(),
            check_pem(RDS_GLOBAL_BUNDLE).unwrap() + 5
        );
        let mine = "-----BEGIN CERTIFICATE-----\n…";
        let tls = TlsSettings::new(TlsMode::VerifyFull, Some(mine));
        assert_eq!(tls.roots.as_deref(), Some(mine.as_bytes()));
        assert_eq!(TlsSettings::new(TlsMode::Require, Some(mine)).roots, None);
        assert_eq!(TlsSettings::new(TlsMode::Disable, None).roots, None);
    }

    #[test]
    fn weaker_tls_is_verify_full_unless_the_stage_allows_it() {
        for mode in [TlsMode::Require, TlsMode::Disable] {
            assert_eq!(
                TlsSettings::for_request(mode, None, false),
                TlsSettings::new(TlsMode::VerifyFull, None)
            );
            assert_eq!(
                TlsSettings::for_request(mode, None, true),
                TlsSettings::new(mode, None)
            );
        }
        let mine = "-----BEGIN CERTIFICATE-----\n…";
        for allowed in [false, true] {
            assert_eq!(
                TlsSettings::for_request(TlsMode::VerifyFull, Some(mine), allowed),
                TlsSettings::new(TlsMode::VerifyFull, Some(mine))
            );
        }
    }

    /// The five roots, each found by subject in Mozilla's store; Amazon Root CA 1 is the one
    /// every RDS Proxy endpoint's chain ends in.
    #[test]
    fn amazon_s_trust_services_roots_are_embedded() {
        assert_eq!(check_pem(AMAZON_TRUST_ROOTS).unwrap(), 5);
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                AMAZON_TRUST_ROOTS.contains(&format!("# {name}\n")),
                "{name}"
            );
        }
        let mozilla: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(AsRef::as_ref)
            .collect();
        for cert in CertificateDer::pem_slice_iter(AMAZON_TRUST_ROOTS.as_bytes()) {
            let cert = cert.unwrap();
            assert!(mozilla.contains(&cert.as_ref()));
        }
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
