//! Notices that reach a person: a warning when a certificate enters one of its windows before
//! expiry (30, 7 and 1 days by default), and the findings of a watched server when its verdict
//! changes, sent by e-mail through the organisation's SMTP relay and/or as a JSON POST to a
//! webhook.
//!
//! A notice is first recorded in the log, one row per channel, under a name that says what it
//! is about once (`expiry 12 7`: request 12 entering its 7-day window): the row is the claim,
//! so a restart, or a second server on the same log, sends nothing twice. Rows are then sent;
//! one that could not be sent stays due and is tried again at the next round, so nothing is
//! lost while the relay is down.

pub mod config;
mod email;
mod webhook;

use std::fmt::Write as _;

use futures_util::StreamExt as _;

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use config::{Channel, NotifySettings, SmtpSecurity, SmtpSettings, WebhookUrl};

use crate::authority::Authority;
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::probe::{Options, Report, Target, Verdict};
use crate::settings::Setting;
use crate::store::{ListFilter, NewNotice, Notice};

/// How long a server that took a notice for sending keeps it from the others.
const LEASE: i64 = 600;
/// The most notices one round sends.
const PER_ROUND: i64 = 200;
/// A watched server is checked again once a day.
const WATCH_EVERY: i64 = 86_400;
/// The most watched servers checked at once.
const WATCH_AT_ONCE: usize = 8;

/// Which watched servers a round checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Every one (at start).
    All,
    /// Those not checked for a day.
    Due,
}

/// What a round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Notices recorded (one per channel) about certificates entering a window.
    pub expiry_notices: u64,
    /// Servers checked, and notices recorded about their changed verdicts.
    pub checked: usize,
    pub watch_notices: u64,
    /// Notices sent in this round.
    pub sent: usize,
    /// Notices that could not be sent (they are tried again next round): the channel and why.
    pub failed: Vec<(Channel, String)>,
}

/// What sending a test message through one channel gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub channel: Channel,
    /// Where it went, as it may be shown: the relay and recipients, or the webhook's origin.
    pub to: String,
    pub outcome: std::result::Result<(), String>,
}

impl Authority {
    /// The notice settings as the log holds them now.
    pub async fn notify_settings(&self) -> Result<NotifySettings> {
        NotifySettings::read(self.store()).await
    }

    /// Changes a notice setting, checked here (addresses, the relay, the webhook, the
    /// watched servers); an empty value turns it off. A relay without TLS must be on this
    /// machine, whichever of its host and its TLS setting changes last.
    pub async fn set_notice_setting(
        &self,
        setting: Setting,
        value: &str,
        actor: &str,
    ) -> Result<()> {
        let key = setting.key();
        let value = config::normalise(key, value)?;
        let pair = [(key, Some(value.as_str()), setting.audit())];
        if !matches!(setting, Setting::SmtpHost | Setting::SmtpTls) {
            return self.store().set_settings(actor, &pair).await;
        }
        // Checked against the other as the change's own transaction reads it: two processes
        // setting a remote host and no TLS at once must not both pass.
        let check = |current: &[Option<String>]| {
            let (host, tls) = match (setting, current) {
                (Setting::SmtpHost, [_, tls]) => (Some(value.as_str()), tls.as_deref()),
                (_, [host, _]) => (host.as_deref(), Some(value.as_str())),
                _ => (None, None),
            };
            config::check_security(host, tls)
        };
        self.store()
            .set_settings_checked(actor, &pair, &[config::SMTP_HOST, config::SMTP_TLS], check)
            .await
    }

    /// How many notices wait to be sent, and how many were sent.
    pub async fn notice_counts(&self) -> Result<(i64, i64)> {
        self.store().notice_counts().await
    }

    /// One round: records the expiry warnings due, checks the watched servers (`watch`) and
    /// records the changes of verdict, then sends every notice due.
    pub async fn notify_round(&self, watch: Watch) -> Result<Round> {
        let settings = self.notify_settings().await?;
        let mut round = Round::default();
        let channels: Vec<&str> = settings.channels().iter().map(|c| c.name()).collect();
        if !channels.is_empty() {
            round.expiry_notices = self.record_expiry_notices(&settings, &channels).await?;
        }
        let (checked, recorded) = self.check_watched(&settings, &channels, watch).await?;
        round.checked = checked;
        round.watch_notices = recorded;
        self.deliver(&settings, &mut round).await?;
        Ok(round)
    }

    /// Sends a test message through every configured channel, now, without recording it.
    /// Refused (bad input) when no channel is set up or e-mail lacks a setting.
    pub async fn notify_test(&self, actor: &str) -> Result<Vec<Delivery>> {
        let settings = self.notify_settings().await?;
        if settings.channels().is_empty() {
            return Err(Error::InvalidInput(
                "no notice channel is set up: set smtp-host, smtp-from and smtp-to for e-mail, or webhook"
                    .to_owned(),
            ));
        }
        if settings.smtp.host.is_some() {
            let missing = settings.smtp.missing();
            if !missing.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "e-mail is not fully set up: set {}",
                    missing.join(" and ")
                )));
            }
        }
        let ca = self.root().common_name().to_owned();
        let now = OffsetDateTime::now_utc();
        let subject = format!("[{ca}] Test notice");
        let body = format!(
            "This is a test notice from the certificate authority \"{ca}\", sent by {actor} at {}.\n\
             Expiry warnings and the findings of watched servers will come this way.\n",
            rfc3339(now)
        );
        let payload = json!({
            "kind": "test",
            "ca": ca,
            "subject": subject,
            "text": body,
            "at": rfc3339(now),
        })
        .to_string();
        let mut deliveries = Vec::new();
        for channel in settings.channels() {
            let outcome = self
                .send(&settings, channel, &subject, &body, &payload)
                .await;
            deliveries.push(Delivery {
                channel,
                to: destination(&settings, channel),
                outcome,
            });
        }
        Ok(deliveries)
    }

    /// Records a notice for each certificate that entered a window and was neither revoked
    /// nor renewed: the narrowest window it is in, once.
    async fn record_expiry_notices(
        &self,
        settings: &NotifySettings,
        channels: &[&str],
    ) -> Result<u64> {
        let Some(widest) = settings.days.first().copied() else {
            return Ok(0);
        };
        let now = OffsetDateTime::now_utc();
        // Valid (neither revoked nor expired) and within the widest window, renewed or not:
        // whether a later valid certificate covers it is asked below (a renewal revoked since
        // leaves it the one in use, and its expiry worth a notice).
        let rows = self
            .list(&ListFilter {
                expiring_within_days: Some(widest),
                renewed_too: true,
                ..ListFilter::default()
            })
            .await?;
        let mut recorded = 0;
        for row in rows {
            // The OCSP responder's certificate lives 30 days and renews itself.
            if row.requester == crate::responder::RESPONDER_REQUESTER {
                continue;
            }
            let Some(cert) = &row.certificate else {
                continue;
            };
            let left = cert.not_after - now;
            let Some(window) = settings
                .days
                .iter()
                .copied()
                .filter(|d| left <= time::Duration::days(i64::from(*d)))
                .min()
            else {
                continue;
            };
            let about = format!("expiry {} {window}", row.id);
            if self.store().notice_exists(&about).await? {
                continue;
            }
            if self.is_renewed(&row).await? {
                continue;
            }
            // Whole days, as the list of certificates, the inventory and the metrics count
            // them (0 on the last day).
            let days_left = left.whole_days();
            let (when, from_now) = match days_left {
                0 => (
                    "within a day".to_owned(),
                    "less than a day from now".to_owned(),
                ),
                n => (format!("in {}", days(n)), format!("{} from now", days(n))),
            };
            let names = row.names_shown();
            let ca = self.root().common_name();
            let subject = format!("[{ca}] Certificate {} for {names} expires {when}", row.id,);
            // Renewed by one revoked since (not renewed, as asked above): a certificate is
            // renewed once, so the newest of its renewals is the one to renew.
            let to_renew = match cert.renewed_by {
                Some(first) => self
                    .newest_renewal(first)
                    .await
                    .map_or(row.id, |newest| newest.id),
                None => row.id,
            };
            let renew = if to_renew == row.id {
                format!(
                    "Renew it (ca renew {to_renew} on the CA's machine, or from the certificate's page)"
                )
            } else {
                format!(
                    "It was renewed as certificate {to_renew}, which was revoked: renew that one (ca renew {to_renew} on the CA's machine, or from its page)"
                )
            };
            let body = format!(
                "The certificate {} for {names} expires on {} ({from_now}).\n\
                 {renew}, then install the new certificate and key on the server.\n\n\
                 Serial number: {}\nRequested by: {}\nCA: {ca}\n",
                row.id,
                rfc3339(cert.not_after),
                cert.serial,
                row.requester,
            );
            let payload = json!({
                "kind": "expiry",
                "ca": ca,
                "request_id": row.id.get(),
                "names": row.name_texts(),
                "serial": cert.serial.to_string(),
                "not_after": rfc3339(cert.not_after),
                "days_left": days_left,
                "window": window,
                "renew": format!("ca renew {to_renew}"),
                "subject": subject,
                "text": body,
            })
            .to_string();
            let notice = NewNotice {
                about: &about,
                subject: &subject,
                body: &body,
                payload: &payload,
            };
            let added = self
                .store()
                .add_notice(&notice, channels, now.unix_timestamp())
                .await?;
            if added > 0 {
                tracing::info!(id = row.id.get(), names = %names, window, "expiry notice recorded");
            }
            recorded += added;
        }
        Ok(recorded)
    }

    /// True when a certificate issued later, neither revoked nor expired, covers every name
    /// of `row` (a renewal, or the same names issued again).
    async fn is_renewed(&self, row: &crate::store::Issuance) -> Result<bool> {
        let (Some(_), Some(first)) = (&row.certificate, row.names.first()) else {
            return Ok(false);
        };
        let wanted = row.name_texts();
        let later = self
            .store()
            .later_certificates_naming(
                row.id.get(),
                &first.to_string(),
                OffsetDateTime::now_utc().unix_timestamp(),
            )
            .await?;
        Ok(later.iter().any(|names| {
            serde_json::from_str::<Vec<String>>(names)
                .is_ok_and(|names| wanted.iter().all(|w| names.contains(w)))
        }))
    }

    /// Checks the watched servers (`watch`) and records a notice for each whose verdict
    /// changed (or, at its first check, is not good): the servers checked and notices recorded.
    async fn check_watched(
        &self,
        settings: &NotifySettings,
        channels: &[&str],
        watch: Watch,
    ) -> Result<(usize, u64)> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let recent = match watch {
            Watch::All => Vec::new(),
            Watch::Due => self.store().watched_since(now - WATCH_EVERY).await?,
        };
        // The checks run side by side (each bounded in time by `Options`), a few at once;
        // their outcomes are recorded one by one.
        let due: Vec<Target> = settings
            .watch
            .iter()
            .filter(|target| !recent.contains(&target.to_string()))
            .cloned()
            .collect();
        let reports: Vec<(Target, Report)> = futures_util::stream::iter(due)
            .map(|target| async move {
                let report = self.check_server(&target, Options::default()).await;
                (target, report)
            })
            .buffered(WATCH_AT_ONCE)
            .collect()
            .await;
        let checked = reports.len();
        let mut recorded = 0;
        for (target, report) in reports {
            let url = target.to_string();
            let verdict = report.verdict().name();
            let codes = codes(&report);
            let last = self.store().watched_server(&url).await?;
            let changed = last
                .as_ref()
                .is_none_or(|last| last.verdict != verdict || last.codes != codes);
            let now = OffsetDateTime::now_utc().unix_timestamp();
            if changed {
                tracing::info!(url = %url, verdict, "watched server's verdict changed");
                let worth = last.is_some() || report.verdict() >= Verdict::Warn;
                if worth && !channels.is_empty() {
                    let about =
                        format!("watch {url} {}", last.as_ref().map_or(0, |l| l.changes + 1));
                    recorded += self
                        .record_watch_notice(
                            &target,
                            &report,
                            last.map(|l| l.verdict),
                            &about,
                            channels,
                            now,
                        )
                        .await?;
                }
            }
            self.store()
                .record_watch(&url, verdict, &codes, now, changed)
                .await?;
        }
        Ok((checked, recorded))
    }

    async fn record_watch_notice(
        &self,
        target: &Target,
        report: &Report,
        before: Option<String>,
        about: &str,
        channels: &[&str],
        now: i64,
    ) -> Result<u64> {
        let ca = self.root().common_name();
        let verdict = report.verdict();
        let summary = match verdict {
            Verdict::Fail => "some clients will not connect",
            Verdict::Warn => "clients connect, but something needs attention",
            Verdict::Note | Verdict::Ok => "clients connect",
        };
        let subject = format!("[{ca}] {target}: {summary}");
        let mut body = match before.as_deref() {
            Some(before) => format!(
                "The check of {target} changed: it is now {} (was {before}).\n\n",
                verdict.name()
            ),
            None => format!(
                "The first check of {target} since it is watched: it is {}.\n\n",
                verdict.name()
            ),
        };
        for finding in &report.findings {
            let _ = writeln!(body, "{:<5} {}", finding.verdict.name(), finding.fact);
            if let Some(fix) = &finding.fix {
                let _ = writeln!(body, "      fix: {fix}");
            }
        }
        let _ = write!(body, "\nCheck it again with: ca check {target}\nCA: {ca}\n");
        let findings: Vec<_> = report
            .findings
            .iter()
            .map(|f| {
                json!({
                    "topic": f.topic.name(),
                    "verdict": f.verdict.name(),
                    "code": f.code,
                    "fact": f.fact,
                    "fix": f.fix,
                })
            })
            .collect();
        let payload = json!({
            "kind": "watch",
            "ca": ca,
            "url": target.to_string(),
            "verdict": verdict.name(),
            "previous": before,
            "findings": findings,
            "subject": subject,
            "text": body,
        })
        .to_string();
        let notice = NewNotice {
            about,
            subject: &subject,
            body: &body,
            payload: &payload,
        };
        self.store().add_notice(&notice, channels, now).await
    }

    /// Sends every notice due on a channel that is set up; a failure is logged and the notice
    /// is due again at the next round.
    async fn deliver(&self, settings: &NotifySettings, round: &mut Round) -> Result<()> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let channels = settings.channels();
        let due = self.store().due_notices(now, PER_ROUND).await?;
        let mut broken: Vec<Channel> = Vec::new();
        for notice in due {
            let Some(channel) = channels
                .iter()
                .copied()
                .find(|c| c.name() == notice.channel)
            else {
                continue;
            };
            // One failure per channel and round: the others would fail alike.
            if broken.contains(&channel) {
                continue;
            }
            if !self.store().claim_notice(&notice, now + LEASE).await? {
                continue;
            }
            match self
                .send(
                    settings,
                    channel,
                    &notice.subject,
                    &notice.body,
                    &notice.payload,
                )
                .await
            {
                Ok(()) => {
                    self.store()
                        .notice_sent(notice.id, OffsetDateTime::now_utc().unix_timestamp())
                        .await?;
                    tracing::info!(about = %notice.about, %channel, "notice sent");
                    round.sent += 1;
                }
                Err(err) => {
                    failed(self, &notice, &err).await?;
                    tracing::error!(about = %notice.about, %channel, attempts = notice.attempts + 1, "notice not sent (tried again at the next round): {err}");
                    round.failed.push((channel, err));
                    broken.push(channel);
                }
            }
        }
        Ok(())
    }

    async fn send(
        &self,
        settings: &NotifySettings,
        channel: Channel,
        subject: &str,
        body: &str,
        payload: &str,
    ) -> std::result::Result<(), String> {
        let root = self.root().der();
        match channel {
            Channel::Email => email::send(&settings.smtp, root, subject, body).await,
            Channel::Webhook => match &settings.webhook {
                Some(url) => webhook::send(url, root, payload).await,
                None => Err("no webhook is set".to_owned()),
            },
        }
    }
}

async fn failed(authority: &Authority, notice: &Notice, err: &str) -> Result<()> {
    // Due again at once: the next round tries it.
    authority
        .store()
        .notice_failed(notice.id, err, OffsetDateTime::now_utc().unix_timestamp())
        .await
}

/// Where a channel's notices go, as it may be shown.
pub fn destination(settings: &NotifySettings, channel: Channel) -> String {
    match channel {
        Channel::Email => {
            let smtp = &settings.smtp;
            match &smtp.host {
                Some(host) => format!(
                    "{} via {host}:{} ({})",
                    if smtp.to.is_empty() {
                        "(no recipient)".to_owned()
                    } else {
                        smtp.to.join(", ")
                    },
                    smtp.port(),
                    smtp.security
                ),
                None => "(no SMTP relay)".to_owned(),
            }
        }
        Channel::Webhook => settings
            .webhook
            .as_ref()
            .map_or_else(|| "(no webhook)".to_owned(), ToString::to_string),
    }
}

/// The codes of the findings that are not "ok", sorted, each once, space-separated.
fn codes(report: &Report) -> String {
    let mut codes: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.verdict != Verdict::Ok)
        .map(|f| f.code)
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes.join(" ")
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A remote relay and no TLS, set at once by two processes, never both pass: each change
    /// is checked against what the other left, in its own write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_remote_relay_without_tls_set_in_two_halves_at_once_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let authority = std::sync::Arc::new(crate::testing::authority(dir.path()).await);
        for round in 0..10 {
            for (setting, value) in [(Setting::SmtpTls, "tls"), (Setting::SmtpHost, "localhost")] {
                authority
                    .set_notice_setting(setting, value, "test")
                    .await
                    .unwrap();
            }
            let set = |setting: Setting, value: &'static str| {
                let authority = authority.clone();
                tokio::spawn(
                    async move { authority.set_notice_setting(setting, value, "test").await },
                )
            };
            let (host, tls) = tokio::join!(
                set(Setting::SmtpHost, "mail.example.com"),
                set(Setting::SmtpTls, "none")
            );
            let (host, tls) = (host.unwrap(), tls.unwrap());
            assert!(host.is_err() || tls.is_err(), "round {round}: both passed");
            let host = authority.store().setting(config::SMTP_HOST).await.unwrap();
            let tls = authority.store().setting(config::SMTP_TLS).await.unwrap();
            assert!(
                config::check_security(host.as_deref(), tls.as_deref()).is_ok(),
                "round {round}: {host:?} {tls:?}"
            );
        }
    }
}
