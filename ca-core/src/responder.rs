//! The authority's OCSP responder: its delegated certificate, made and renewed in the data
//! folder and recorded in the log like any certificate, the answers to requests, and the
//! responses signed ahead. The protocol and its rules are in [`crate::ocsp`].

use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;
use tracing::instrument;

use crate::authority::Authority;
use crate::certificate::SerialNumber;
use crate::error::{Error, Result};
use crate::files::lock_file_waiting;
use crate::issue::LeafSpec;
use crate::key::KeyAlgorithm;
use crate::ocsp::cache::Entry;
use crate::ocsp::signer::{self, Responder};
use crate::ocsp::{
    self, CertId, CertStatus, OcspAnswer, OcspRequest, RESPONDER_DAYS, ResponderInfo,
    ResponseStatus, Reuse,
};
use crate::profile::{Profile, Validity};
use crate::store::{CertificateRef, CertificateState, PresignedResponse, RequestSource};

pub use crate::store::RESPONDER_REQUESTER;
/// Taken while a responder certificate is made, so that processes make one at a time.
const RESPONDER_LOCK: &str = "ocsp.lock";
/// Certificates read from the log in one page when responses are signed ahead; those of a
/// page that are due are signed in one go off the threads that answer requests, then kept in
/// one transaction.
const SIGN_AHEAD_BATCH: usize = 512;

impl Authority {
    /// The responder certificate: the one in the data folder while it has more than
    /// [`ocsp::RESPONDER_RENEW_BEFORE`] left, else a new one the root issues (ECDSA P-256,
    /// [`RESPONDER_DAYS`] days, recorded in the log with the requester
    /// [`RESPONDER_REQUESTER`], its key mode 0600 beside the root's). Safe against several
    /// processes doing this at once.
    #[instrument(skip_all)]
    pub async fn ocsp_responder(&self) -> Result<ResponderInfo> {
        let now = OffsetDateTime::now_utc();
        if let Some(responder) = self.stored_responder()
            && !responder.needs_renewal(now)
        {
            return Ok(responder.info().clone());
        }
        let lock = lock_file_waiting(self.dir().join(RESPONDER_LOCK)).await?;
        // Another process may have made one while this one waited for the lock.
        if let Some(read) = Responder::read(self.dir(), self.root())
            && !read.needs_renewal(now)
        {
            let info = read.info().clone();
            self.hold_responder(Arc::new(read));
            return Ok(info);
        }
        let key_pair = KeyAlgorithm::EcdsaP256.generate_off_thread().await?;
        let validity = Validity::leaf(Some(RESPONDER_DAYS), self.root().not_after(), now)?;
        let spec = LeafSpec {
            names: &[],
            validity,
            profile: Profile::Server,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            requester: RESPONDER_REQUESTER,
            source: RequestSource::Cli,
            csr_der: None,
            renewed_from: None,
            pending_request: None,
            acme_order: None,
            decided_by: RESPONDER_REQUESTER,
        };
        let issued = self
            .sign_recorded(&spec, &key_pair, |serial| {
                Ok(signer::params(self.root(), serial, &validity.validity))
            })
            .await?;
        Responder::write(self.dir(), &issued.leaf, &key_pair)?;
        drop(lock);
        let responder =
            Responder::from_parts(issued.leaf, key_pair, self.root()).ok_or_else(|| {
                Error::Crypto("the new OCSP responder certificate does not verify".into())
            })?;
        let info = responder.info().clone();
        tracing::info!(serial = %info.serial, not_after = %info.not_after, "made a new OCSP responder certificate");
        self.hold_responder(Arc::new(responder));
        Ok(info)
    }

    /// The responder certificate as the data folder holds it, to show people; never makes one.
    pub fn ocsp_responder_info(&self) -> Option<ResponderInfo> {
        Responder::read(self.dir(), self.root()).map(|responder| responder.info().clone())
    }

    /// Answers a DER OCSP request: the response kept for the certificate while it is current
    /// (a lookup in memory while the log has not changed since, else in the log), else one
    /// signed now (and kept, when it is one that is signed ahead). Any input gets an answer:
    /// `malformedRequest`, `unauthorized`, `tryLater` (no responder can sign yet) or
    /// `internalError` (the log failed) when there is nothing to sign.
    #[instrument(skip_all)]
    pub async fn answer_ocsp(&self, der: &[u8]) -> OcspAnswer {
        // Whatever was committed before the request arrived is in the answer: the cache in
        // memory holds while nothing was committed since.
        let arrived = Instant::now();
        let version = self.store().change_counter(arrived);
        if let Some(version) = version
            && let Some(hit) = self.ocsp_answers().get(version, der)
            && hit.is_current(OffsetDateTime::now_utc())
        {
            return kept_answer(&hit.kept, hit.sha256, Some(version));
        }
        let request = match OcspRequest::from_der(der) {
            Ok(request) => request,
            Err(refused) => {
                tracing::debug!(%refused, "refused an OCSP request");
                return OcspAnswer::error(refused.status());
            }
        };
        match self.answer(der, &request, version).await {
            Ok(answer) => answer,
            // RFC 6960 §2.3: tryLater, "the service exists but is temporarily unable to respond".
            Err(err @ Error::Store(crate::StoreError::Unavailable(_))) => {
                tracing::warn!(%err, "an OCSP request waits for the issuance log");
                OcspAnswer::error(ResponseStatus::TryLater)
            }
            Err(err) => {
                tracing::error!(%err, "could not answer an OCSP request");
                OcspAnswer::error(ResponseStatus::InternalError)
            }
        }
    }

    /// True when an answer this responder gave (see [`OcspAnswer::reuse`]) is still the
    /// answer to the same request, which arrived at `arrived`: the log's change counter, read
    /// by a look that began after that, reads what it read then, and the response is current.
    pub fn ocsp_answer_holds(&self, reuse: &Reuse, arrived: Instant) -> bool {
        self.store()
            .change_counter(arrived)
            .is_some_and(|version| reuse.holds(version, OffsetDateTime::now_utc()))
    }

    /// What the responder says of a certificate named by its request id or serial number.
    pub async fn ocsp_status(
        &self,
        reference: &CertificateRef,
    ) -> Result<(SerialNumber, CertStatus)> {
        let serial = match reference {
            CertificateRef::Serial(serial) | CertificateRef::NearThumbprint(serial, _) => {
                serial.clone()
            }
            // A serial the log does not hold is the responder's to call unknown.
            CertificateRef::SerialOrSha1(serial, _) => match self.find(reference).await {
                Ok(row) => row
                    .certificate
                    .map_or_else(|| serial.clone(), |cert| cert.serial),
                Err(Error::NotFound(_)) => serial.clone(),
                Err(err) => return Err(err),
            },
            CertificateRef::Id(_) | CertificateRef::Sha256(_) => {
                let row = self.find(reference).await?;
                let id = row.id;
                match row.certificate {
                    Some(cert) => cert.serial,
                    None => {
                        return Err(Error::Conflict(format!(
                            "request {id} has no certificate to ask about: it is {}",
                            row.status.name()
                        )));
                    }
                }
            }
        };
        let state = self
            .store()
            .ocsp_lookup(&serial)
            .await?
            .map(|(state, _)| state);
        Ok((serial, CertStatus::of(state.as_ref())))
    }

    /// Renews the responder certificate when due, signs ahead the response of every
    /// certificate that has not expired and has none current (see the rule in the store's
    /// OCSP module), and forgets those of expired certificates. Returns how many it signed.
    #[instrument(skip_all)]
    pub async fn refresh_ocsp(&self) -> Result<usize> {
        self.refresh_ocsp_in_pages(SIGN_AHEAD_BATCH).await
    }

    /// [`Self::refresh_ocsp`], reading the log `page` certificates at a time.
    pub(crate) async fn refresh_ocsp_in_pages(&self, page: usize) -> Result<usize> {
        self.ocsp_responder().await?;
        let responder = self
            .stored_responder()
            .ok_or_else(|| Error::Crypto("no OCSP responder certificate can sign".into()))?;
        let now = OffsetDateTime::now_utc();
        let mut signed = 0;
        // A page of the log at a time: the certificates of a log of any size are never all
        // in memory (a million of them held about a gigabyte).
        let mut after = None;
        loop {
            let read = self.store().ocsp_certificates(now, after, page).await?;
            let Some((last, _)) = read.last() else { break };
            after = Some(last.id);
            let full = read.len() == page;
            let due: Vec<CertificateState> = read
                .into_iter()
                .filter(|(state, kept)| {
                    !kept
                        .as_ref()
                        .is_some_and(|kept| kept.is_current(state.revocation.as_ref(), now))
                })
                .map(|(state, _)| state)
                .collect();
            if !due.is_empty() {
                let responder = Arc::clone(&responder);
                let root = self.root().clone();
                let responses = tokio::task::spawn_blocking(move || {
                    due.iter()
                        .map(|state| {
                            Ok((state.id, ocsp::sign_ahead(&responder, &root, state, now)?))
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .await
                .map_err(|err| Error::Crypto(format!("signing OCSP responses stopped: {err}")))??;
                self.store().keep_ocsp_responses(&responses).await?;
                signed += responses.len();
            }
            if !full {
                break;
            }
        }
        self.store().forget_ocsp_responses_of_expired(now).await?;
        Ok(signed)
    }

    /// The answer to `request` (read from `der`), from the log, which was read after the
    /// change counter read `version`.
    async fn answer(
        &self,
        der: &[u8],
        request: &OcspRequest,
        version: Option<i64>,
    ) -> Result<OcspAnswer> {
        let now = OffsetDateTime::now_utc();
        let mut found = Vec::with_capacity(request.entries().len());
        for entry in request.entries() {
            found.push((entry, self.lookup(entry).await?));
        }
        // The common case: one certificate, no nonce, and the CertID this responder signs
        // ahead: the response kept for it, while it is current; kept in memory too.
        let ahead = match found.as_slice() {
            [(entry, Some((state, kept)))] if request.nonce().is_none() => (entry.der()
                == ocsp::presigned_cert_id(self.root(), &state.serial)?)
            .then_some((state, kept)),
            _ => None,
        };
        if let Some((state, Some(kept))) = ahead
            && kept.is_current(state.revocation.as_ref(), now)
        {
            let sha256 = ocsp::sha256(&kept.der);
            if let Some(version) = version {
                let cached = Entry {
                    revocation: state.revocation.clone(),
                    kept: kept.clone(),
                    sha256,
                };
                self.ocsp_answers().insert(version, der, cached);
            }
            return Ok(kept_answer(kept, sha256, version));
        }
        let Some(responder) = self.signing_responder().await else {
            return Ok(OcspAnswer::error(ResponseStatus::TryLater));
        };
        let entries: Vec<(&[u8], CertStatus)> = found
            .iter()
            .map(|(entry, found)| (entry.der(), CertStatus::of(found.as_ref().map(|(s, _)| s))))
            .collect();
        let answer = ocsp::sign(&responder, &entries, request.nonce(), now)?;
        if let (Some((state, _)), Some((this_update, next_update))) = (ahead, answer.validity)
            && state.not_after >= now
        {
            let kept = PresignedResponse {
                der: answer.der.clone(),
                this_update,
                next_update,
                revoked_at: state.revocation.as_ref().map(|r| r.revoked_at),
                reason: state.revocation.as_ref().map(|r| r.reason),
            };
            // Not kept in memory: this commit changes the log, which empties the cache.
            if let Err(err) = self.store().keep_ocsp_responses(&[(state.id, kept)]).await {
                tracing::warn!(%err, "could not keep an OCSP response");
            }
        }
        Ok(answer)
    }

    /// What the log holds of the certificate `entry` asks about: nothing when it names
    /// another issuer or a serial this CA never issued.
    async fn lookup(
        &self,
        entry: &CertId,
    ) -> Result<Option<(CertificateState, Option<PresignedResponse>)>> {
        if !entry.names_issuer(self.root()) {
            return Ok(None);
        }
        match SerialNumber::from_bytes(entry.serial()) {
            Ok(serial) => self.store().ocsp_lookup(&serial).await,
            Err(_) => Ok(None),
        }
    }

    /// The responder to sign with now, renewing or making it first when that is due; `None`
    /// when none can sign (the root key cannot be read, say).
    async fn signing_responder(&self) -> Option<Arc<Responder>> {
        let now = OffsetDateTime::now_utc();
        if let Some(responder) = self.stored_responder()
            && !responder.needs_renewal(now)
        {
            return Some(responder);
        }
        if let Err(err) = self.ocsp_responder().await {
            tracing::warn!(%err, "could not make the OCSP responder certificate");
        }
        self.stored_responder()
    }
}

/// The answer a response signed ahead gives, read while the log's change counter read
/// `version`.
fn kept_answer(kept: &PresignedResponse, sha256: [u8; 32], version: Option<i64>) -> OcspAnswer {
    OcspAnswer {
        der: kept.der.clone(),
        status: ResponseStatus::Successful,
        validity: Some((kept.this_update, kept.next_update)),
        sha256: Some(sha256),
        reuse: version.map(|version| Reuse {
            version,
            from: kept.this_update,
            until: kept.current_until(),
        }),
    }
}
