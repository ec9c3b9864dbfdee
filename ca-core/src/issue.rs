//! Issuing leaf certificates: for a key the authority makes, and for a public key that came in
//! a request.

use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier};
use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, PublicKeyData, SanType};
use time::OffsetDateTime;
use tracing::instrument;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use crate::authority::{Authority, Links};
use crate::certificate::{Fingerprint, SerialNumber, certificate_pem};
use crate::error::{Error, NameRule, Result, StoreError};
use crate::export::pkcs12::{PfxPassword, PfxProfile};
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::name::SubjectName;
use crate::profile::{LeafValidity, Profile, Validity};
use crate::root::MAX_COMMON_NAME;
use crate::store::{Issuance, NewIssuance, RequestId, RequestSource};

/// Fresh serials drawn before giving up, should one already be in the log.
const SERIAL_ATTEMPTS: usize = 4;
/// id-pe-authorityInfoAccess (RFC 5280 §4.2.2.1).
const ID_PE_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-ad-ocsp (RFC 5280 §4.2.2.1, RFC 6960 §3.1).
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-ad-caIssuers (RFC 5280 §4.2.2.1).
const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// A certificate the authority is asked to issue, key included.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// DNS names and IP addresses, in the order wanted; the first DNS name becomes the CN.
    pub names: Vec<SubjectName>,
    pub key: KeyAlgorithm,
    /// Validity in days; by default 397.
    pub days: Option<u32>,
    pub profile: Profile,
    /// Accept names that resolve only on a private network.
    pub allow_internal: bool,
    /// Who asked, for the log.
    pub requester: String,
    /// Where it was asked: the command line, or an administrator's page (certrqma.asp).
    pub source: RequestSource,
}

/// A certificate the authority issued and recorded.
#[derive(Debug)]
pub struct Issued {
    /// The committed log row.
    pub issuance: Issuance,
    /// DER of the leaf.
    pub leaf: Vec<u8>,
    /// The leaf's key, when the authority made it; it is not kept anywhere else.
    pub key: Option<PrivateKey>,
    /// DER of the certificates above the leaf, nearest first (the root).
    pub chain: Vec<Vec<u8>>,
    /// The validity was cut short to end with the root.
    pub shortened_to_root: bool,
    /// For a signed request: what it asked for that the certificate does not carry, in a
    /// sentence (the request's `left_out_note`).
    pub left_out: Option<String>,
}

impl Issued {
    /// PEM of the leaf.
    pub fn leaf_pem(&self) -> String {
        certificate_pem(&self.leaf)
    }

    /// A PFX of the key the authority made, the leaf and its chain, whose friendlyName is the
    /// first name (what IIS lists). Fails when the key came from a request.
    pub fn pfx(&self, password: &PfxPassword, profile: PfxProfile) -> Result<Vec<u8>> {
        let key = self.key.as_ref().ok_or_else(|| {
            Error::Conflict("the key of this certificate is not the CA's to export".into())
        })?;
        pfx_of(
            key,
            &self.leaf,
            &self.chain,
            &self.issuance.names,
            password,
            profile,
        )
    }

    /// A file name stem for the files of this certificate (see [`crate::name::files_stem`]).
    pub fn file_stem(&self) -> String {
        crate::name::files_stem(&self.issuance.names)
    }

    /// PEM of the leaf followed by its chain.
    pub fn chain_pem(&self) -> String {
        chain_pem(&self.leaf, &self.chain)
    }
}

/// A certificate signed for a key the authority made, its row not yet committed: what a
/// caller writes out first ([`Authority::issue_staged`]), so that a file that cannot be
/// written stops the issuance, rather than following a certificate whose key is lost.
#[derive(Debug)]
pub struct Signed<'a> {
    /// DER of the leaf.
    pub leaf: &'a [u8],
    pub key: &'a PrivateKey,
    /// DER of the certificates above the leaf, nearest first (the root).
    pub chain: &'a [Vec<u8>],
    /// The leaf's names, in its order.
    pub names: &'a [SubjectName],
    /// The leaf's serial number.
    pub serial: &'a SerialNumber,
}

impl Signed<'_> {
    /// PEM of the leaf.
    pub fn leaf_pem(&self) -> String {
        certificate_pem(self.leaf)
    }

    /// PEM of the leaf followed by its chain.
    pub fn chain_pem(&self) -> String {
        chain_pem(self.leaf, self.chain)
    }

    /// A PFX of the key, the leaf and its chain, as [`Issued::pfx`] makes it.
    pub fn pfx(&self, password: &PfxPassword, profile: PfxProfile) -> Result<Vec<u8>> {
        pfx_of(
            self.key, self.leaf, self.chain, self.names, password, profile,
        )
    }
}

/// A PFX of an issued certificate (`issuance`) with the key its holder kept (see
/// [`PrivateKey::of_certificate`]) and `chain` above it, as [`Issued::pfx`] makes one.
pub fn pfx_with_key(
    issuance: &Issuance,
    key: &PrivateKey,
    chain: &[Vec<u8>],
    password: &PfxPassword,
    profile: PfxProfile,
) -> Result<Vec<u8>> {
    let certificate = issuance
        .certificate
        .as_ref()
        .ok_or_else(|| Error::Conflict(format!("request {} has no certificate", issuance.id)))?;
    pfx_of(
        key,
        &certificate.der,
        chain,
        &issuance.names,
        password,
        profile,
    )
}

/// PEM of `leaf` followed by `chain`.
fn chain_pem(leaf: &[u8], chain: &[Vec<u8>]) -> String {
    std::iter::once(leaf)
        .chain(chain.iter().map(Vec::as_slice))
        .map(certificate_pem)
        .collect()
}

/// A PFX of `key`, `leaf` and `chain`, whose friendlyName is the first of `names` (what IIS
/// lists).
fn pfx_of(
    key: &PrivateKey,
    leaf: &[u8],
    chain: &[Vec<u8>],
    names: &[SubjectName],
    password: &PfxPassword,
    profile: PfxProfile,
) -> Result<Vec<u8>> {
    let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let friendly_name = names.first().map(ToString::to_string).unwrap_or_default();
    crate::export::pkcs12::pfx(key, leaf, &chain, &friendly_name, password, profile)
}

/// The parts of a leaf that do not depend on who made its key.
pub(crate) struct LeafSpec<'a> {
    pub names: &'a [SubjectName],
    pub validity: LeafValidity,
    pub profile: Profile,
    pub key_algorithm: KeyAlgorithm,
    pub requester: &'a str,
    pub source: RequestSource,
    pub csr_der: Option<&'a [u8]>,
    pub renewed_from: Option<RequestId>,
    pub pending_request: Option<RequestId>,
    pub acme_order: Option<&'a str>,
    pub decided_by: &'a str,
}

/// How many renewals of a certificate [`Authority::newest_renewal`] follows, at most.
const RENEWALS_FOLLOWED: usize = 1000;

impl Authority {
    /// The newest of a certificate's renewals, from `first`, its renewal, following each
    /// renewal's own (at most [`RENEWALS_FOLLOWED`]); `None` when the log cannot say.
    pub async fn newest_renewal(&self, first: RequestId) -> Option<Issuance> {
        let mut newest = self.store().issuance(first).await.ok()?;
        for _ in 0..RENEWALS_FOLLOWED {
            let Some(next) = newest.certificate.as_ref().and_then(|cert| cert.renewed_by) else {
                break;
            };
            newest = self.store().issuance(next).await.ok()?;
        }
        Some(newest)
    }

    /// The certificate that carries on the line of `row` (see `renewal_in_force!`): from
    /// `first`, its renewal, the first one later in the line that is not revoked and valid at
    /// least as long as `row` (at most [`RENEWALS_FOLLOWED`] looked at); `None` when the log
    /// cannot say.
    pub async fn renewal_carrying(&self, row: &Issuance, first: RequestId) -> Option<Issuance> {
        let until = row.certificate.as_ref()?.not_after;
        let mut next = Some(first);
        for _ in 0..=RENEWALS_FOLLOWED {
            let renewal = self.store().issuance(next?).await.ok()?;
            let cert = renewal.certificate.as_ref()?;
            if cert.revocation.is_none() && cert.not_after >= until {
                return Some(renewal);
            }
            next = cert.renewed_by;
        }
        None
    }

    /// The valid certificates (not expired, revoked or renewed) that already hold any of
    /// `names`, oldest first: before issuing another, say so, since renewing is usually meant.
    #[instrument(skip_all)]
    pub async fn holders_of(&self, names: &[SubjectName]) -> Result<Vec<crate::store::Holder>> {
        let mut holders = self
            .store()
            .holders(names, OffsetDateTime::now_utc())
            .await?;
        for holder in &mut holders {
            if let Some(first) = holder.renewed_by {
                holder.to_renew = self
                    .newest_renewal(first)
                    .await
                    .map_or(first, |newest| newest.id);
            }
        }
        Ok(holders)
    }

    /// The valid certificates, other than `id`, for the same key as certificate `id`: among
    /// those that hold one of its names (a server renewed keeping its key, as IIS may), found
    /// through the names' index rather than by reading every certificate of the log.
    pub async fn valid_with_the_same_key(&self, id: RequestId) -> Result<Vec<RequestId>> {
        let row = self.store().issuance(id).await?;
        let Some(cert) = &row.certificate else {
            return Ok(Vec::new());
        };
        let Ok((_, parsed)) = x509_parser::parse_x509_certificate(&cert.der) else {
            return Ok(Vec::new());
        };
        let key = parsed.public_key().subject_public_key.data.to_vec();
        let mut same = Vec::new();
        let holders = self
            .store()
            .holders_of(&row.names, OffsetDateTime::now_utc(), true)
            .await?;
        for holder in holders {
            if holder.id == id {
                continue;
            }
            let other = self.store().issuance(holder.id).await?;
            if other
                .certificate
                .as_ref()
                .is_some_and(|c| crate::certificate::holds_key(&c.der, &key))
            {
                same.push(holder.id);
            }
        }
        Ok(same)
    }

    /// True when the certificate `id` was signed from a request (PKCS#10: IIS, certreq, an
    /// ACME client), whose key its holder made and keeps; false for a key the CA made.
    pub async fn signed_from_request(&self, id: RequestId) -> Result<bool> {
        Ok(self.store().csr_of(id).await?.is_some())
    }

    /// Issues a server certificate for a new key: checks every name (DESIGN §3), makes the key,
    /// signs, and returns only once the log row is committed.
    pub async fn issue(&self, request: IssueRequest) -> Result<Issued> {
        Ok(self.issue_staged(request, |_| Ok(())).await?.0)
    }

    /// [`Authority::issue`], calling `stage` with the certificate and its key once signed and
    /// before the row is committed (again for another serial, should one collide): where the
    /// key is written, so that a key that cannot be written leaves no certificate in the log.
    /// Its failure ends the issuance; what it returns is handed back beside the certificate.
    #[instrument(skip_all)]
    pub async fn issue_staged<T>(
        &self,
        request: IssueRequest,
        stage: impl FnMut(&Signed<'_>) -> Result<T>,
    ) -> Result<(Issued, T)> {
        let names = self.check_names(&request.names, request.allow_internal)?;
        let validity = Validity::leaf(
            request.days,
            self.root().not_after(),
            OffsetDateTime::now_utc(),
        )?;
        // Load the root key before making a leaf key, so a wrong passphrase fails fast.
        self.issuer()?;
        let key_pair = request.key.generate_off_thread().await?;
        let spec = LeafSpec {
            names: &names,
            validity,
            profile: request.profile,
            key_algorithm: request.key,
            requester: &request.requester,
            source: request.source,
            csr_der: None,
            renewed_from: None,
            pending_request: None,
            acme_order: None,
            decided_by: &request.requester,
        };
        self.sign_new_key(&spec, &key_pair, stage).await
    }

    /// Renews the certificate of request `id`: the same names, key type and validity length,
    /// a new key and a new serial, linked to the old row. The old certificate stays valid
    /// until it expires or is revoked.
    pub async fn renew(&self, id: RequestId, requester: &str) -> Result<Issued> {
        Ok(self.renew_staged(id, requester, None, |_| Ok(())).await?.0)
    }

    /// Refuses what cannot be renewed, before anything is made or written: a request with no
    /// certificate (pending, denied), the CA's own certificates, and a certificate renewed
    /// already (checked again as the renewal is written). The certificate to renew.
    pub async fn refuse_unrenewable<'a>(
        &self,
        old: &'a Issuance,
    ) -> Result<&'a crate::store::CertificateRecord> {
        let id = old.id;
        let cert = old.certificate.as_ref().ok_or_else(|| {
            Error::Conflict(format!(
                "request {id} has no certificate to renew: it is {}",
                old.status.name()
            ))
        })?;
        // The CA's own certificates are the server's to renew: a renewal here would hand
        // out a key the server never uses (its web server's), or fail on a certificate
        // without names (its OCSP responder's).
        match old.own() {
            Some(crate::store::OwnCertificate::Server) => {
                return Err(Error::Conflict(format!(
                    "certificate {id} is the CA's own web server's certificate: the server replaces it itself, before it expires, or at its next start or reload once it is revoked or its host names change"
                )));
            }
            Some(crate::store::OwnCertificate::OcspResponder) => {
                return Err(Error::Conflict(format!(
                    "certificate {id} is the CA's OCSP responder's certificate: the server renews it itself before it expires"
                )));
            }
            None => {}
        }
        // Checked again as the renewal is written, for two renewals at once.
        if let Some(by) = cert.renewed_by {
            let newest = self.newest_renewal(by).await.map_or(by, |row| row.id);
            if newest == by {
                return Err(crate::store::renewed_already(id.get(), by.get()));
            }
            return Err(Error::Conflict(format!(
                "certificate {id} was renewed already, as certificate {by}, which was renewed since: \
                 renew certificate {newest}, the newest of its renewals, instead"
            )));
        }
        Ok(cert)
    }

    /// [`Authority::renew`], calling `stage` as [`Authority::issue_staged`] does, valid for
    /// `days` when given (else as long as the certificate it renews).
    #[instrument(skip_all)]
    pub async fn renew_staged<T>(
        &self,
        id: RequestId,
        requester: &str,
        days: Option<u32>,
        stage: impl FnMut(&Signed<'_>) -> Result<T>,
    ) -> Result<(Issued, T)> {
        let old = self.store().issuance(id).await?;
        let cert = self.refuse_unrenewable(&old).await?;
        // Names accepted once stay accepted (internal ones included); the root's constraints
        // are checked again.
        let names = self.check_names(&old.names, true)?;
        let key = cert.key_algorithm;
        let days = days.unwrap_or_else(|| {
            (cert.not_after - cert.not_before)
                .whole_days()
                .clamp(1, i64::from(crate::profile::LEAF_MAX_DAYS)) as u32
        });
        let validity = Validity::leaf(
            Some(days),
            self.root().not_after(),
            OffsetDateTime::now_utc(),
        )?;
        let client_auth = x509_parser::parse_x509_certificate(&cert.der)
            .ok()
            .and_then(|(_, parsed)| {
                parsed
                    .extended_key_usage()
                    .ok()
                    .flatten()
                    .map(|eku| eku.value.client_auth)
            })
            .unwrap_or(false);
        self.issuer()?;
        let key_pair = key.generate_off_thread().await?;
        let spec = LeafSpec {
            names: &names,
            validity,
            profile: if client_auth {
                Profile::ServerAndClient
            } else {
                Profile::Server
            },
            key_algorithm: key,
            requester,
            source: RequestSource::Renewal,
            csr_der: None,
            renewed_from: Some(id),
            pending_request: None,
            acme_order: None,
            decided_by: requester,
        };
        self.sign_new_key(&spec, &key_pair, stage).await
    }

    /// Signs and records a leaf for `key_pair`, a key the authority made, calling `stage`
    /// before the commit (see [`Authority::issue_staged`]); the key comes back in the
    /// certificate.
    async fn sign_new_key<T>(
        &self,
        spec: &LeafSpec<'_>,
        key_pair: &KeyPair,
        mut stage: impl FnMut(&Signed<'_>) -> Result<T>,
    ) -> Result<(Issued, T)> {
        let key = PrivateKey::new(spec.key_algorithm, key_pair);
        let (mut issued, staged) = self
            .sign_leaf_staged(spec, key_pair, |leaf, chain, serial| {
                stage(&Signed {
                    leaf,
                    key: &key,
                    chain,
                    names: spec.names,
                    serial,
                })
            })
            .await?;
        issued.key = Some(key);
        Ok((issued, staged))
    }

    /// Signs a leaf for `public_key` and records it, drawing a new serial if one collides.
    pub(crate) async fn sign_leaf(
        &self,
        spec: &LeafSpec<'_>,
        public_key: &impl PublicKeyData,
    ) -> Result<Issued> {
        Ok(self
            .sign_leaf_staged(spec, public_key, |_, _, _| Ok(()))
            .await?
            .0)
    }

    /// [`Authority::sign_leaf`], calling `stage` with the leaf and its chain before the row is
    /// committed (see [`Authority::sign_recorded_staged`]).
    async fn sign_leaf_staged<T>(
        &self,
        spec: &LeafSpec<'_>,
        public_key: &impl PublicKeyData,
        stage: impl FnMut(&[u8], &[Vec<u8>], &SerialNumber) -> Result<T>,
    ) -> Result<(Issued, T)> {
        let url = self.current_settings().await?.url;
        let links = url.as_deref().zip(self.links());
        self.sign_recorded_staged(
            spec,
            public_key,
            |serial| leaf_params(spec, serial, links),
            stage,
        )
        .await
    }

    /// Signs the certificate `template` makes for a serial, for `public_key`, and records it
    /// as `spec` says, drawing a new serial if one collides. The certificate is returned only
    /// once its row is committed.
    pub(crate) async fn sign_recorded(
        &self,
        spec: &LeafSpec<'_>,
        public_key: &impl PublicKeyData,
        template: impl Fn(&SerialNumber) -> Result<CertificateParams>,
    ) -> Result<Issued> {
        Ok(self
            .sign_recorded_staged(spec, public_key, template, |_, _, _| Ok(()))
            .await?
            .0)
    }

    /// [`Authority::sign_recorded`], calling `stage` with each certificate signed and its chain
    /// before its row is written: its failure writes no row, and what it made for a serial
    /// that collided is dropped.
    async fn sign_recorded_staged<T>(
        &self,
        spec: &LeafSpec<'_>,
        public_key: &impl PublicKeyData,
        template: impl Fn(&SerialNumber) -> Result<CertificateParams>,
        mut stage: impl FnMut(&[u8], &[Vec<u8>], &SerialNumber) -> Result<T>,
    ) -> Result<(Issued, T)> {
        let issuer = self.issuer()?;
        let chain = vec![self.root().der().to_vec()];
        for _ in 0..SERIAL_ATTEMPTS {
            let serial = SerialNumber::random()?;
            let der = template(&serial)?
                .signed_by(public_key, issuer)?
                .der()
                .to_vec();
            let staged = stage(&der, &chain, &serial)?;
            let recorded = self
                .store()
                .record_issuance(NewIssuance {
                    requester: spec.requester,
                    source: spec.source,
                    names: spec.names,
                    csr_der: spec.csr_der,
                    serial: &serial,
                    not_before: spec.validity.validity.not_before,
                    not_after: spec.validity.validity.not_after,
                    key_algorithm: spec.key_algorithm,
                    sha256: Fingerprint::of(&der),
                    der: &der,
                    renewed_from: spec.renewed_from,
                    pending_request: spec.pending_request,
                    acme_order: spec.acme_order,
                    decided_by: spec.decided_by,
                    holder_key: spec.csr_der.map(|_| public_key.der_bytes()),
                })
                .await;
            match recorded {
                Ok(issuance) => {
                    let issued = Issued {
                        issuance,
                        leaf: der,
                        key: None,
                        chain,
                        shortened_to_root: spec.validity.shortened_to_root,
                        left_out: None,
                    };
                    return Ok((issued, staged));
                }
                Err(Error::Store(StoreError::DuplicateSerial)) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Error::Crypto(
            "could not draw an unused serial number".into(),
        ))
    }
}

/// The certificate template of DESIGN §3 "Server certificates".
fn leaf_params(
    spec: &LeafSpec<'_>,
    serial: &SerialNumber,
    links: Option<(&str, Links)>,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    // Outlook matches "msstd:" principal names against the subject, so the CN stays even
    // though browsers read only the SAN (RFC 6125 §6.4.4). A leaf without a DNS name has no
    // CN: OpenSSL and GnuTLS check an IP text in a CN against a root's DNS name constraints
    // when the SAN holds no DNS name, and refuse it.
    let common_name = spec
        .names
        .iter()
        .find_map(SubjectName::dns)
        .map(|dns| dns.as_str().to_owned());
    if let Some(cn) = common_name.filter(|cn| cn.len() <= MAX_COMMON_NAME) {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params.subject_alt_names = spec
        .names
        .iter()
        .map(|name| match name {
            SubjectName::Dns(dns) => dns
                .as_str()
                .to_owned()
                .try_into()
                .map(SanType::DnsName)
                // A DnsName is ASCII letters, digits, hyphens and dots: always an IA5String.
                .map_err(|_| Error::name(dns.as_str(), NameRule::Idna)),
            SubjectName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = spec.profile.key_usages(spec.key_algorithm);
    params.extended_key_usages = spec.profile.extended_key_usages();
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = spec.validity.validity.not_before;
    params.not_after = spec.validity.validity.not_after;
    if let Some((base, links)) = links {
        // RFC 5280 §4.2.1.13 and §4.2.2.1: where to find the CRL and the issuer's certificate.
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![(links.crl)(base)],
        }];
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                ID_PE_AUTHORITY_INFO_ACCESS,
                authority_info_access(&(links.ocsp)(base), &(links.ca_issuers)(base))?,
            ));
    }
    Ok(params)
}

/// DER of an AuthorityInfoAccessSyntax (RFC 5280 §4.2.2.1) holding the OCSP responder's URI
/// (RFC 6960 §3.1), then the caIssuers URI, the order OpenSSL and Windows list them in.
fn authority_info_access(ocsp: &str, ca_issuers: &str) -> Result<Vec<u8>> {
    let encode = |err: der::Error| Error::Crypto(format!("could not encode the AIA: {err}"));
    let description = |method, uri: &str| -> Result<AccessDescription> {
        Ok(AccessDescription {
            access_method: method,
            access_location: GeneralName::UniformResourceIdentifier(
                Ia5String::new(uri).map_err(encode)?,
            ),
        })
    };
    AuthorityInfoAccessSyntax(vec![
        description(ID_AD_OCSP, ocsp)?,
        description(ID_AD_CA_ISSUERS, ca_issuers)?,
    ])
    .to_der()
    .map_err(encode)
}

#[cfg(test)]
mod verification;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn encodes_long_aia_uris_whole() {
        // Over 65,535 octets: a hand-written TLV with two length octets would truncate it.
        let long = format!("http://example.com/{}", "a".repeat(70_000));
        let der = authority_info_access("http://example.com/ocsp", &long).unwrap();
        assert!(der.len() > long.len());
        let read = <AuthorityInfoAccessSyntax as der::Decode>::from_der(&der).unwrap();
        assert_eq!(read.0.len(), 2);
        assert_eq!(read.0[0].access_method, ID_AD_OCSP);
        assert_eq!(read.0[1].access_method, ID_AD_CA_ISSUERS);
        match &read.0[1].access_location {
            GeneralName::UniformResourceIdentifier(uri) => assert_eq!(uri.as_str(), long),
            other => panic!("{other:?}"),
        }
    }
}
