//! `ca acme`: the ACME server's settings and its recent orders.

use std::path::Path;

use crate::output::when;

/// How many recent orders are shown.
const RECENT: i64 = 20;

pub(crate) async fn run(data: &Path) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let settings = authority.settings();
    let acme = &settings.acme;
    let host = settings
        .server_names
        .first()
        .map_or_else(|| "HOST".to_owned(), ToString::to_string);
    say!(
        "acme            {}",
        if acme.enabled {
            format!(
                "on: https://{host}:PORT/acme/directory while `ca serve` runs (PORT: its --https port, 8443 unless set, left out when 443; `ca serve` prints the whole URL)"
            )
        } else {
            format!("off ({} config set acme on)", crate::invocation::ca())
        }
    );
    say!(
        "acme-eab        {}",
        if acme.eab_required {
            format!(
                "required: each account needs a key from `{} user eab NAME`",
                crate::invocation::ca()
            )
        } else {
            "optional".to_owned()
        }
    );
    if settings.acme_skips_approval() {
        say!("Note: {}.", crate::cmd::init::acme_skips_approval());
    }
    say!(
        "acme-domains    {}",
        if acme.domains.is_empty() {
            "any name the rules and the root's constraints allow".to_owned()
        } else {
            acme.domains_in_words(usize::MAX)
        }
    );
    let barren = acme.barren_domains();
    if !barren.is_empty() {
        say!(
            "Note: ACME issues for no name under {} (internal names or addresses, taken by an earlier version): `{} config set acme-domains` without {} would say what it admits.",
            barren.join(", "),
            crate::invocation::ca(),
            if barren.len() == 1 { "it" } else { "them" }
        );
    }
    say!("acme-days       {}", acme.days);
    say!(
        "acme-http-port  {} (http-01 is checked on this port)",
        acme.http_port
    );
    say!(
        "acme-tls-port   {} (tls-alpn-01 is checked on this port)",
        acme.tls_port
    );
    say!(
        "acme-dns        {}",
        acme.dns.map_or_else(
            || "system (the resolver of this machine)".to_owned(),
            |d| d.to_string()
        )
    );
    say!(
        "acme-accounts-per-hour  {}",
        crate::cmd::config::per_hour(acme.accounts_per_hour)
    );
    say!(
        "acme-orders-per-hour    {}",
        crate::cmd::config::per_hour(acme.orders_per_hour)
    );
    let orders = authority.acme_recent_orders(RECENT).await?;
    say!();
    if orders.is_empty() {
        say!("No ACME orders yet.");
        return Ok(());
    }
    say!("Recent orders, newest first:");
    say!(
        "{:<20}  {:<10}  {:<11}  {:<22}  NAMES",
        "CREATED",
        "STATUS",
        "CERTIFICATE",
        "ACCOUNT"
    );
    for order in orders {
        let names: Vec<&str> = order.identifiers.iter().map(|i| i.value.as_str()).collect();
        say!(
            "{:<20}  {:<10}  {:<11}  {:<22}  {}",
            when(order.created_at),
            order.status.name(),
            order
                .certificate
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
            order.account_id,
            names.join(", ")
        );
        if let Some(error) = &order.error {
            say!("{:<20}  why: {}", "", error.detail);
        }
    }
    Ok(())
}
