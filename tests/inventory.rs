//! The administrator's inventory, users and audit pages, and `ca list` / `ca audit`, end to
//! end: the real `ca serve` over HTTPS, on a log of 100,000 rows written by bulk SQL.

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::util::{Sandbox, Server, client};

/// Rows added by bulk SQL to the log, beside the few real certificates.
const BULK: i64 = 100_000;

/// The operating-system user the tests run as, as the audit trail names them.
fn os_actor() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    format!("os:{}", String::from_utf8(out.stdout).unwrap().trim())
}

/// Adds `BULK` issued rows (ids from 1,000,000 on) as `ca issue` would write them, with the DER
/// of request 1's certificate: a third requested by alice on the web, one row in a hundred
/// expiring within 10 days, the rest spread over the years before and after.
fn bulk_fill(sb: &Sandbox) {
    let (serial, sha) = if sb.on_postgres() {
        ("lpad(to_hex(i), 32, '0')", "lpad(to_hex(i), 64, '0')")
    } else {
        ("printf('%032x', i)", "printf('%064x', i)")
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let series = format!(
        "WITH RECURSIVE n(i) AS (SELECT CAST(1000000 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < {})",
        1_000_000 + BULK - 1
    );
    // Expiry: i % 1000 = 0 within 5 days, every other row expired within the last two years
    // (a running server signs OCSP answers ahead only for valid certificates).
    let not_after = format!(
        "CASE WHEN i % 1000 = 0 THEN {now} + 5 * 86400 ELSE {now} - 86400 - (i * 7919 % (730 * 86400)) END"
    );
    sb.alter_log(&format!(
        "{series} INSERT INTO requests (id, created_at, requester, source, names, status, disposition)
         SELECT i, {now} - 86400, CASE WHEN i % 3 = 0 THEN 'alice' ELSE 'os:bulk' END,
                CASE WHEN i % 3 = 0 THEN 'web' ELSE 'cli' END,
                '[\"h' || i || '.bulk.example\"]', 'issued', 'Issued' FROM n"
    ));
    sb.alter_log(&format!(
        "{series} INSERT INTO certificates (request_id, serial, names, not_before, not_after, key_algorithm, sha256, der)
         SELECT i, {serial}, '[\"h' || i || '.bulk.example\"]', {now} - 86400, {not_after},
                'ecdsa-p256', {sha}, (SELECT der FROM certificates WHERE request_id = 1) FROM n"
    ));
    if sb.on_postgres() {
        sb.alter_log("SELECT setval(pg_get_serial_sequence('requests', 'id'), (SELECT max(id) FROM requests))");
        // What autovacuum does within a minute of such a load: without statistics, the
        // planner takes the tables for empty and scans them once per row.
        sb.alter_log("ANALYZE");
    }
}

fn get(web: &Client, url: &str, user: (&str, &str)) -> Response {
    web.get(url)
        .basic_auth(user.0, Some(user.1))
        .send()
        .unwrap()
}

fn text_of(response: Response, status: StatusCode) -> String {
    let code = response.status();
    let body = response.text().unwrap();
    assert_eq!(code, status, "{body}");
    body
}

/// The request ids of the inventory's rows, in the page's order.
fn row_ids(page: &str) -> Vec<i64> {
    page.split("<tr")
        .skip(1)
        .filter_map(|row| {
            let cell = row.split("<td>").nth(1)?;
            let text = cell.split('<').find(|part| {
                let digits = part
                    .trim_start_matches(|c: char| c != '>')
                    .trim_start_matches('>');
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            })?;
            text.trim_start_matches(|c: char| c != '>')
                .trim_start_matches('>')
                .parse()
                .ok()
        })
        .collect()
}

/// The address of the page's "Next page" link, unescaped (askama writes `&` as `&#38;`).
fn next_link(page: &str) -> Option<String> {
    let end = page.find("\" rel=\"next\"")?;
    let start = page[..end].rfind("href=\"")? + 6;
    let mut link = page[start..end].to_owned();
    for (escaped, plain) in [
        ("&#38;", "&"),
        ("&#x26;", "&"),
        ("&#61;", "="),
        ("&#x3D;", "="),
        ("&amp;", "&"),
    ] {
        link = link.replace(escaped, plain);
    }
    assert!(!link.contains('#'), "an escape left in {link}");
    Some(link)
}

#[test]
fn inventory_searches_filters_sorts_and_pages_over_http_on_100000_rows() {
    let sb = Sandbox::new();
    sb.init(&["--name", "Inventory Root CA"]);
    sb.ok(&[
        "issue",
        "bücher.example",
        "--key",
        "ecdsa-p256",
        "--out",
        ".",
    ]);
    sb.ok(&[
        "issue",
        "mail.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        ".",
    ]);
    sb.ok(&[
        "issue",
        "old.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        ".",
        "--force",
    ]);
    sb.ok(&["revoke", "3", "--reason", "superseded"]);
    // A real certificate to revoke from the list (the bulk rows carry another one's DER,
    // which revocation's integrity check refuses).
    sb.ok(&[
        "issue",
        "spare.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        ".",
    ]);
    std::fs::write(sb.file("pw"), "alice password\n").unwrap();
    sb.ok(&[
        "user",
        "add",
        "alice",
        "--role",
        "requester",
        "--password-file",
        "pw",
    ]);
    std::fs::write(sb.file("pw"), "boss password\n").unwrap();
    sb.ok(&[
        "user",
        "add",
        "boss",
        "--role",
        "admin",
        "--password-file",
        "pw",
    ]);
    bulk_fill(&sb);
    let server = Server::start(&sb);
    let web = client(&sb);
    let base = server.https();
    let admin = ("boss", "boss password");
    let inventory = |query: &str| get(&web, &format!("{base}/certsrv/admin?{query}"), admin);

    // The first page: the newest first, 50 rows, a next page that keeps the filter.
    let first = text_of(inventory(""), StatusCode::OK);
    let ids = row_ids(&first);
    assert_eq!(ids.len(), 50, "{first}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert!(first.contains("<th>Requester</th>"), "{first}");
    // Walk a few pages: each goes on where the one before ended, none repeats a row.
    let mut seen = ids.clone();
    let mut url = next_link(&first).expect("a next page");
    for _ in 0..3 {
        let page = text_of(get(&web, &format!("{base}{url}"), admin), StatusCode::OK);
        let ids = row_ids(&page);
        assert_eq!(ids.len(), 50);
        assert!(ids[0] < *seen.last().unwrap(), "{ids:?}");
        seen.extend(&ids);
        url = next_link(&page).unwrap();
    }
    // The last rows: a cursor near the end of the list reads as fast as the first page.
    let tail = text_of(inventory("after=5"), StatusCode::OK);
    let tail_ids = row_ids(&tail);
    assert_eq!(tail_ids, [4, 3, 2, 1], "{tail}");
    assert!(next_link(&tail).is_none());

    // Name search: U-label, A-label, substring; shown as people read it.
    for query in [
        "name=b%C3%BCcher",
        "name=xn--bcher-kva",
        "name=B%C3%9CCHER.example",
    ] {
        let page = text_of(inventory(query), StatusCode::OK);
        assert_eq!(row_ids(&page), [1], "{query}: {page}");
        assert!(page.contains("bücher.example"), "{page}");
    }
    let page = text_of(inventory("name=h1000042.bulk"), StatusCode::OK);
    assert_eq!(row_ids(&page), [1_000_042]);

    // Status filters.
    let revoked = text_of(inventory("status=revoked"), StatusCode::OK);
    assert_eq!(row_ids(&revoked), [3], "{revoked}");
    // Expiring within 10 days, soonest first: 100 bulk rows, marked with the days left,
    // and a next page that keeps the filter and the order.
    let expiring = text_of(
        inventory("status=expiring&days=10&sort=expiry&limit=20"),
        StatusCode::OK,
    );
    let ids = row_ids(&expiring);
    assert_eq!(ids.len(), 20);
    assert!(ids.iter().all(|id| id % 1000 == 0), "{ids:?}");
    assert!(expiring.contains("class=\"expiring\""));
    assert!(expiring.contains("days left"), "{expiring}");
    let next = next_link(&expiring).unwrap();
    for kept in [
        "status=expiring",
        "days=10",
        "sort=expiry",
        "limit=20",
        "after=",
    ] {
        assert!(next.contains(kept), "{next}");
    }
    let mut count = ids.len();
    let mut url = Some(next);
    let mut pages = 1;
    while let Some(next) = url {
        pages += 1;
        assert!(
            pages <= 5,
            "100 rows in pages of 20 took more than 5 pages: {next}"
        );
        let page = text_of(get(&web, &format!("{base}{next}"), admin), StatusCode::OK);
        let ids = row_ids(&page);
        assert!(ids.iter().all(|id| id % 1000 == 0));
        count += ids.len();
        url = next_link(&page);
    }
    assert_eq!(count, 100);
    // Expired, sorted by expiry (latest first): every row ended before now.
    let expired = text_of(inventory("status=expired&sort=expiry-desc"), StatusCode::OK);
    assert_eq!(row_ids(&expired).len(), 50);
    // Requester and source.
    let alices = text_of(
        inventory("requester=alice&source=web&sort=id&limit=10"),
        StatusCode::OK,
    );
    let ids = row_ids(&alices);
    assert_eq!(ids, (0..10).map(|k| 1_000_002 + 3 * k).collect::<Vec<_>>());
    let cli = text_of(inventory("source=cli&sort=id&limit=5"), StatusCode::OK);
    assert_eq!(row_ids(&cli), [1, 2, 3, 4, 1_000_000], "{cli}");
    // The CA's own server certificate is marked.
    let own = text_of(inventory("requester=ca+serve"), StatusCode::OK);
    // (askama writes the apostrophe as an entity, whichever its version uses.)
    assert!(own.contains("<span class=\"own\">this CA&#"), "{own}");
    assert!(own.contains("s HTTPS server</span>"), "{own}");
    assert!(own.contains("ca serve"), "{own}");
    // The OCSP responder's certificate names no host: its row shows its subject.
    let responder = text_of(inventory("requester=ca+ocsp"), StatusCode::OK);
    assert_eq!(row_ids(&responder).len(), 1, "{responder}");
    assert!(
        responder.contains("<td>Inventory Root CA OCSP Responder <span class=\"own\">"),
        "{responder}"
    );
    // Both renew themselves in the server: no days-left mark, no Renew button.
    for page in [&own, &responder] {
        assert!(!page.contains("days left"), "{page}");
        assert!(!page.contains("action=\"/certsrv/admin/renew\""), "{page}");
    }

    // Revoke from the list with a reason: back to the same filtered list, which says what
    // was done (the row itself has left a list of valid ones).
    let answer = web
        .post(format!("{base}/certsrv/admin/revoke"))
        .basic_auth(admin.0, Some(admin.1))
        .form(&[
            ("id", "2"),
            ("reason", "keyCompromise"),
            ("back", "name=mail&status=valid"),
        ])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let back = answer.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(back, "/certsrv/admin?name=mail&status=valid&done=revoked-2");
    let listed = text_of(get(&web, &format!("{base}{back}"), admin), StatusCode::OK);
    assert!(
        listed.contains("<p class=\"notice\" role=\"status\">Certificate 2 was revoked.</p>"),
        "{listed}"
    );
    // Only a notice made from a known deed and an id: anything else there shows nothing.
    for done in ["revoked-2%3Cscript%3E", "hacked-2", "revoked-", "revoked-x"] {
        let page = text_of(
            get(&web, &format!("{base}/certsrv/admin?done={done}"), admin),
            StatusCode::OK,
        );
        assert!(!page.contains("class=\"notice\""), "{done}: {page}");
    }
    let revoked: Value =
        serde_json::from_str(&sb.ok(&["list", "--status", "revoked", "--json"])).unwrap();
    let row = revoked
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 2)
        .expect("request 2 revoked");
    assert_eq!(row["revocation_reason"], "keyCompromise");
    // A back address that is not a filter of the list goes to the list.
    let answer = web
        .post(format!("{base}/certsrv/admin/revoke"))
        .basic_auth(admin.0, Some(admin.1))
        .form(&[
            ("id", "4"),
            ("reason", "superseded"),
            ("back", "https://evil.example/"),
        ])
        .send()
        .unwrap();
    assert_eq!(
        answer.headers()["location"].to_str().unwrap(),
        "/certsrv/admin?done=revoked-4"
    );
    // A certificate revoked for another reason offers keyCompromise, for a key found exposed
    // since; one revoked for keyCompromise offers nothing. The form raises the reason.
    let page = |id: &str| {
        web.get(format!("{base}/certsrv/cert/{id}"))
            .basic_auth(admin.0, Some(admin.1))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let superseded = page("4");
    assert!(
        superseded.contains("Revoked for superseded.")
            && superseded.contains("<button type=\"submit\">Revoke for keyCompromise</button>"),
        "{superseded}"
    );
    assert!(!page("2").contains("Revoke for keyCompromise"));
    // When and why, as `ca show` says them, on its page and in the list.
    let four: Value = serde_json::from_str(&sb.ok(&["show", "4", "--json"])).unwrap();
    // A serial number or a thumbprint typed where a name goes leads to the certificate's page,
    // as written, with colons, in capitals; hex that no certificate has is searched as a name.
    let serial = four["serial"].as_str().unwrap().to_owned();
    let with_colons = serial
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap().to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    for typed in [
        serial.clone(),
        with_colons,
        four["sha256"].as_str().unwrap().to_owned(),
        four["thumbprint_sha1"].as_str().unwrap().to_owned(),
    ] {
        let answer = get(&web, &format!("{base}/certsrv/admin?name={typed}"), admin);
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{typed}");
        assert_eq!(answer.headers()["location"], "/certsrv/cert/4", "{typed}");
    }
    let unknown = text_of(
        get(
            &web,
            &format!("{base}/certsrv/admin?name={}", "ab".repeat(16)),
            admin,
        ),
        StatusCode::OK,
    );
    assert!(unknown.contains("Nothing matches."), "{unknown}");
    let revoked_at = four["revoked_at"].as_str().unwrap();
    let when = format!("{} {} UTC", &revoked_at[..10], &revoked_at[11..16]);
    assert!(
        superseded.contains(&format!(
            "<dt>Status</dt><dd>revoked {when} (superseded)</dd>"
        )) && superseded.contains("<dt>Requested</dt>"),
        "{superseded}"
    );
    let listed = web
        .get(format!("{base}/certsrv/admin?status=revoked"))
        .basic_auth(admin.0, Some(admin.1))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        listed.contains(&format!("<small>{when} (superseded)</small>")),
        "{listed}"
    );
    let answer = web
        .post(format!("{base}/certsrv/admin/revoke"))
        .basic_auth(admin.0, Some(admin.1))
        .form(&[("id", "4"), ("reason", "keyCompromise")])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let four: Value = serde_json::from_str(&sb.ok(&["show", "4", "--json"])).unwrap();
    assert_eq!(four["revocation_reason"], "keyCompromise");
    assert!(!page("4").contains("Revoke for keyCompromise"));

    // Hostile input: readable 4xx pages.
    let huge = "9".repeat(40);
    let long_name = "a".repeat(300);
    for query in [
        "status=bogus",
        "status=valid&STATUS=revoked",
        "days=0",
        "days=99999999999",
        "limit=0",
        "limit=100000",
        "sort=name",
        "source=fax",
        "after=abc",
        &format!("after={huge}"),
        "after=1:2:3",
        "sort=id&after=5:7",
        "name=%27%20OR%201%3D1%20--",
        "name=%25",
        "name=a_b",
        &format!("name={long_name}"),
        "requester=a%0Ab",
        "name=%FF%FE",
    ] {
        let answer = inventory(query);
        let status = answer.status();
        let body = answer.text().unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains("<h1>"), "{query}: a page: {body}");
        assert!(!body.contains("panicked"), "{body}");
    }
    // A control character typed into the address is not repeated on the page.
    let body = inventory("after=a%00%1Bb").text().unwrap();
    assert!(
        body.contains("ab&#") && body.contains(" is not where a list ended"),
        "{body}"
    );
    assert!(!body.contains('\0') && !body.contains('\u{1b}'), "{body:?}");
    // The largest cursor there is, in ascending order, reads an empty page.
    let end = text_of(
        inventory(&format!("sort=id&after={}", i64::MAX)),
        StatusCode::OK,
    );
    assert!(end.contains("Nothing matches."), "{end}");
    assert!(row_ids(&end).is_empty());
    // A requester is not an admin; no credentials ask for them.
    let refused = get(
        &web,
        &format!("{base}/certsrv/admin?status=valid"),
        ("alice", "alice password"),
    );
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().unwrap().contains("only an administrator"));
    let anonymous = web.get(format!("{base}/certsrv/admin")).send().unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // Every action is refused to a requester as not theirs, before their form is read.
    for action in [
        "admin/approve",
        "admin/deny",
        "admin/revoke",
        "admin/renew",
        "admin/check",
        "admin/users/add",
        "admin/users/password",
        "admin/users/role",
        "admin/users/state",
        "admin/users/remove",
        "certrqma.asp",
    ] {
        let refused = web
            .post(format!("{base}/certsrv/{action}"))
            .basic_auth("alice", Some("alice password"))
            .form(&[("x", "1")])
            .send()
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{action}");
        let said = refused.text().unwrap();
        assert!(said.contains("only an administrator"), "{action}: {said}");
    }
    // A revocation another site's page posts is refused, and nothing is revoked.
    let forged = web
        .post(format!("{base}/certsrv/admin/revoke"))
        .basic_auth(admin.0, Some(admin.1))
        .header("Origin", "https://evil.example")
        .form(&[("id", "1"), ("reason", "keyCompromise")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let one: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    assert_eq!(one["status"], "valid");

    // The same list on the command line.
    let found: Value =
        serde_json::from_str(&sb.ok(&["list", "--name", "Bücher", "--json"])).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["names"][0], "xn--bcher-kva.example");
    let out = sb
        .ca()
        .args([
            "list", "--source", "web", "--sort", "expiry", "--limit", "3", "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 3);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let after = stderr
        .split("--after ")
        .nth(1)
        .expect("where the page ended")
        .trim();
    let more: Value = serde_json::from_str(&sb.ok(&[
        "list", "--source", "web", "--sort", "expiry", "--limit", "3", "--after", after, "--json",
    ]))
    .unwrap();
    assert_ne!(more[0]["id"], page[0]["id"]);
    assert!(more[0]["not_after"].as_str() >= page[2]["not_after"].as_str());
    let expiring: Value =
        serde_json::from_str(&sb.ok(&["list", "--status", "valid", "--expiring", "10", "--json"]))
            .unwrap();
    assert_eq!(expiring.as_array().unwrap().len(), 100);
    for row in expiring.as_array().unwrap() {
        assert_eq!(row["days_left"], 4, "{row}");
        assert!(row["own"].is_null(), "{row}");
    }
    // The table has what the page has: requester, source, days left, the CA's own
    // certificates marked, and the responder's row named by its subject.
    let table = sb.ok(&["list", "--expiring", "10", "--limit", "2"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("REQUESTER") && header.contains("SOURCE"),
        "{table}"
    );
    let row = table.lines().nth(1).unwrap();
    assert!(row.contains("(4 days left)"), "{table}");
    assert!(row.contains(" cli ") || row.contains(" web "), "{table}");
    assert!(row.contains("os:bulk") || row.contains("alice"), "{table}");
    let all: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let own: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["own"].as_str())
        .collect();
    assert!(own.contains(&"https-server"), "{own:?}");
    assert!(own.contains(&"ocsp-responder"), "{own:?}");
    // The CA's own certificates are among the first rows and the last (a renewal).
    let table = sb.ok(&["list", "--limit", "100"])
        + &sb.ok(&["list", "--sort", "id-desc", "--limit", "100"]);
    let responder = table
        .lines()
        .find(|line| line.contains("this CA's OCSP responder"))
        .expect("the responder's row");
    assert!(responder.contains(" OCSP Responder"), "{responder}");
    assert!(
        table
            .lines()
            .any(|line| line.ends_with("this CA's HTTPS server)")),
        "{table}"
    );
    assert!(table.lines().all(|l| !l.contains('\u{1b}')));
    for bad in [
        vec!["list", "--name", "' OR 1=1 --"],
        vec!["list", "--source", "fax"],
        vec!["list", "--sort", "name"],
        vec!["list", "--after", "abc"],
        vec!["list", "--limit", "0"],
        vec!["list", "--sort", "id", "--after", "5:7"],
    ] {
        sb.refused(&bad);
    }
    drop(server);
}

fn post<'a>(web: &Client, url: String, admin: (&'a str, &'a str)) -> RequestBuilder {
    web.post(url).basic_auth(admin.0, Some(admin.1))
}

/// The last event of the audit trail with `action`, as `ca audit --json` gives it.
fn last_audited(sb: &Sandbox, action: &str) -> Value {
    let events: Value =
        serde_json::from_str(&sb.ok(&["audit", "--action", action, "--json"])).unwrap();
    events
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn users_change_their_own_password_and_admins_remove_users_after_asking() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let web = client(&sb);
    let base = server.https();
    let admin = ("admin", server.admin_password.as_str());
    let users = format!("{base}/certsrv/admin/users");
    let own = format!("{base}/certsrv/password");
    text_of(
        post(&web, format!("{users}/add"), admin)
            .form(&[
                ("name", "erin"),
                ("role", "requester"),
                ("password", "erin's first password"),
            ])
            .send()
            .unwrap(),
        StatusCode::OK,
    );
    let first = ("erin", "erin's first password");
    let second = ("erin", "erin's second password");

    // Every page links to the form; no one signed in, no form.
    let home = text_of(
        get(&web, &format!("{base}/certsrv/"), first),
        StatusCode::OK,
    );
    assert!(home.contains("href=\"/certsrv/password\""), "{home}");
    let form = text_of(get(&web, &own, first), StatusCode::OK);
    assert!(form.contains("name=\"current\""), "{form}");
    assert_eq!(
        web.get(&own).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Each refusal is a readable page that says why, and changes nothing.
    for (fields, status, why) in [
        (
            [first.1, "erin's second password", "erin's other password"],
            StatusCode::BAD_REQUEST,
            "the two new passwords differ",
        ),
        (
            ["not erin's password", second.1, second.1],
            StatusCode::FORBIDDEN,
            "the present password typed is not yours",
        ),
        ([first.1, "Tiny7", "Tiny7"], StatusCode::BAD_REQUEST, "8"),
        (
            [first.1, &"long".repeat(300), &"long".repeat(300)],
            StatusCode::BAD_REQUEST,
            "longer than 1024 characters",
        ),
        (
            [first.1, first.1, first.1],
            StatusCode::BAD_REQUEST,
            "the new password is the present one",
        ),
    ] {
        let answer = post(&web, own.clone(), first)
            .form(&[
                ("current", fields[0]),
                ("new", fields[1]),
                ("again", fields[2]),
            ])
            .send()
            .unwrap();
        let body = text_of(answer, status);
        assert!(
            body.contains("class=\"refused\"") && body.contains(why),
            "{why}: {body}"
        );
        assert!(!body.contains(fields[1]), "no password comes back: {body}");
        assert_eq!(get(&web, &own, first).status(), StatusCode::OK);
    }
    // Another site's page cannot change it either.
    let forged = post(&web, own.clone(), first)
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("current", first.1), ("new", second.1), ("again", second.1)])
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(get(&web, &own, first).status(), StatusCode::OK);
    // Changed: the old password no longer signs in, the new one does, and the trail says
    // who changed whose.
    let done = text_of(
        post(&web, own.clone(), first)
            .form(&[("current", first.1), ("new", second.1), ("again", second.1)])
            .send()
            .unwrap(),
        StatusCode::OK,
    );
    assert!(done.contains("Your password is changed"), "{done}");
    assert_eq!(get(&web, &own, first).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(&web, &own, second).status(), StatusCode::OK);
    let event = last_audited(&sb, "passwd");
    assert_eq!(
        (&event["actor"], &event["subject"]),
        (&"erin".into(), &"erin".into())
    );

    // Removing a user is not a requester's to do, nor to be asked about.
    let asked = format!("{users}/remove?name=admin");
    assert_eq!(get(&web, &asked, second).status(), StatusCode::FORBIDDEN);
    // An administrator is asked first, on a page whose form does it.
    let asking = text_of(
        get(&web, &format!("{users}/remove?name=erin"), admin),
        StatusCode::OK,
    );
    assert!(asking.contains("Remove the user erin?"), "{asking}");
    assert!(
        asking.contains("action=\"/certsrv/admin/users/remove\""),
        "{asking}"
    );
    assert_eq!(
        get(&web, &own, second).status(),
        StatusCode::OK,
        "asking removes no one"
    );
    let listed = text_of(get(&web, &users, admin), StatusCode::OK);
    assert!(listed.contains("/certsrv/admin/users/remove"), "{listed}");
    // Hostile questions: readable 4xx pages.
    for query in ["name=nobody", "name=erin&NAME=admin", "", "name=%3Cb%3E"] {
        let answer = get(&web, &format!("{users}/remove?{query}"), admin);
        let status = answer.status();
        let body = answer.text().unwrap();
        assert!(status.is_client_error(), "{query}: {status} {body}");
        assert!(
            body.contains("<h1>") && !body.contains("<b>"),
            "{query}: {body}"
        );
    }
    let removed = text_of(
        post(&web, format!("{users}/remove"), admin)
            .form(&[("name", "erin")])
            .send()
            .unwrap(),
        StatusCode::OK,
    );
    assert!(removed.contains("Removed the user erin"), "{removed}");
    assert_eq!(get(&web, &own, second).status(), StatusCode::UNAUTHORIZED);
    let listed = text_of(get(&web, &users, admin), StatusCode::OK);
    assert!(!listed.contains(">erin<"), "{listed}");
    let event = last_audited(&sb, "remove user");
    assert_eq!(
        (&event["actor"], &event["subject"]),
        (&"admin".into(), &"erin".into())
    );
    // Not twice, not the last administrator, not by another site.
    for (name, status) in [
        ("erin", StatusCode::NOT_FOUND),
        ("admin", StatusCode::CONFLICT),
    ] {
        let answer = post(&web, format!("{users}/remove"), admin)
            .form(&[("name", name)])
            .send()
            .unwrap();
        assert_eq!(answer.status(), status, "{name}");
        assert!(answer.text().unwrap().contains("<h1>"));
    }
    sb.ok(&["user", "add", "frank", "--role", "requester"]);
    let forged = post(&web, format!("{users}/remove"), admin)
        .header("Origin", "https://evil.example")
        .form(&[("name", "frank")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let listed = text_of(get(&web, &users, admin), StatusCode::OK);
    assert!(listed.contains(">frank<"), "{listed}");
    assert_eq!(get(&web, &own, admin).status(), StatusCode::OK);
    // Guessing the present password from a browser left signed in is throttled as guessing
    // at the sign-in is: the attempts come to a 429 soon.
    let mut statuses = Vec::new();
    for guess in 0..10 {
        let answer = post(&web, own.clone(), admin)
            .form(&[
                ("current", format!("guess number {guess}").as_str()),
                ("new", "a fresh password"),
                ("again", "a fresh password"),
            ])
            .send()
            .unwrap();
        statuses.push(answer.status());
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

/// The password a page shows once.
fn shown_password(page: &str) -> String {
    let start = page
        .find("<code class=\"password\">")
        .expect("a password shown")
        + 23;
    page[start..].split('<').next().unwrap().to_owned()
}

#[test]
fn users_and_audit_pages_use_the_commands_operations_and_name_who_acted() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let web = client(&sb);
    let base = server.https();
    let admin = ("admin", server.admin_password.as_str());
    let users = format!("{base}/certsrv/admin/users");

    // Add a requester with a password made by the page, shown once.
    let added = text_of(
        post(&web, format!("{users}/add"), admin)
            .form(&[("name", "carol"), ("role", "requester"), ("password", "")])
            .send()
            .unwrap(),
        StatusCode::OK,
    );
    let password = shown_password(&added);
    assert!(password.len() >= 12, "{password}");
    let carol = ("carol", password.as_str());
    assert_eq!(get(&web, &users, carol).status(), StatusCode::FORBIDDEN);
    assert_eq!(
        get(&web, &format!("{base}/certsrv/admin/audit"), carol).status(),
        StatusCode::FORBIDDEN
    );
    let list = text_of(get(&web, &users, admin), StatusCode::OK);
    assert!(list.contains("carol"), "{list}");
    // Adding her again is refused (409), with the form as typed and the buttons that change
    // a user named; her role and password stay.
    let again = post(&web, format!("{users}/add"), admin)
        .form(&[
            ("name", "carol"),
            ("role", "admin"),
            ("password", "a replacement password"),
        ])
        .send()
        .unwrap();
    let body = text_of(again, StatusCode::CONFLICT);
    assert!(body.contains("the user carol exists already"), "{body}");
    assert!(
        body.contains(". Correct the form and submit it again"),
        "the reason ends as a sentence: {body}"
    );
    assert!(
        body.contains("Set role") && body.contains("Reset password"),
        "{body}"
    );
    assert!(body.contains("value=\"carol\""), "{body}");
    assert!(body.contains("<option value=\"admin\" selected>"), "{body}");
    assert!(!body.contains("a replacement password"), "{body}");
    assert_eq!(get(&web, &users, carol).status(), StatusCode::FORBIDDEN);
    // Make her an admin: the admin pages open to her.
    let answer = post(&web, format!("{users}/role"), admin)
        .form(&[("name", "carol"), ("role", "admin")])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(get(&web, &users, carol).status(), StatusCode::OK);
    // Disabled, she cannot sign in; enabled, she can.
    post(&web, format!("{users}/state"), admin)
        .form(&[("name", "carol"), ("state", "disable")])
        .send()
        .unwrap();
    assert_eq!(get(&web, &users, carol).status(), StatusCode::UNAUTHORIZED);
    post(&web, format!("{users}/state"), admin)
        .form(&[("name", "carol"), ("state", "enable")])
        .send()
        .unwrap();
    assert_eq!(get(&web, &users, carol).status(), StatusCode::OK);
    // A password typed by the admin replaces hers.
    let reset = text_of(
        post(&web, format!("{users}/password"), admin)
            .form(&[("name", "carol"), ("password", "a new long password")])
            .send()
            .unwrap(),
        StatusCode::OK,
    );
    assert!(
        !reset.contains("class=\"password\""),
        "a typed password is not shown: {reset}"
    );
    assert_eq!(get(&web, &users, carol).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&web, &users, ("carol", "a new long password")).status(),
        StatusCode::OK
    );
    // The same operations from the command line, named by the operating-system user.
    sb.ok(&["user", "role", "carol", "requester"]);
    assert_eq!(
        get(&web, &users, ("carol", "a new long password")).status(),
        StatusCode::FORBIDDEN
    );

    // Hostile forms: readable 4xx pages, nothing changed.
    for (path, form) in [
        (
            "add",
            vec![
                ("name", "bad name;drop"),
                ("role", "requester"),
                ("password", ""),
            ],
        ),
        (
            "add",
            vec![("name", "dave"), ("role", "root"), ("password", "")],
        ),
        (
            "add",
            vec![("name", "dave"), ("role", "admin"), ("password", "short")],
        ),
        ("role", vec![("name", "nobody"), ("role", "admin")]),
        ("state", vec![("name", "carol"), ("state", "delete")]),
        (
            "password",
            vec![("name", "nobody"), ("password", "a long enough one")],
        ),
        // The last administrator who can sign in stays one.
        ("role", vec![("name", "admin"), ("role", "requester")]),
        ("state", vec![("name", "admin"), ("state", "disable")]),
    ] {
        let answer = post(&web, format!("{users}/{path}"), admin)
            .form(&form)
            .send()
            .unwrap();
        let status = answer.status();
        let body = answer.text().unwrap();
        assert!(status.is_client_error(), "{path} {form:?}: {status} {body}");
        assert!(body.contains("<h1>"), "{body}");
    }
    // A refused add form comes back with the name and role typed, never the password.
    let refused = post(&web, format!("{users}/add"), admin)
        .form(&[("name", "dave"), ("role", "admin"), ("password", "Tiny7")])
        .send()
        .unwrap();
    let body = text_of(refused, StatusCode::BAD_REQUEST);
    assert!(body.contains("class=\"refused\""), "{body}");
    assert!(body.contains("value=\"dave\""), "{body}");
    assert!(body.contains("<option value=\"admin\" selected>"), "{body}");
    assert!(!body.contains("Tiny7"), "{body}");
    assert!(
        body.contains("Signed in as <strong>admin</strong>"),
        "{body}"
    );
    assert_eq!(get(&web, &users, admin).status(), StatusCode::OK);
    // A form without credentials, or posted by another site, changes nothing.
    let forged = web
        .post(format!("{users}/role"))
        .basic_auth(admin.0, Some(admin.1))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("name", "carol"), ("role", "admin")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let unsigned = web
        .post(format!("{users}/role"))
        .form(&[("name", "carol"), ("role", "admin")])
        .send()
        .unwrap();
    assert!(unsigned.status().is_client_error());
    let requester = post(
        &web,
        format!("{users}/role"),
        ("carol", "a new long password"),
    )
    .form(&[("name", "carol"), ("role", "admin")])
    .send()
    .unwrap();
    assert_eq!(requester.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        get(&web, &users, ("carol", "a new long password")).status(),
        StatusCode::FORBIDDEN
    );

    // The audit page: newest first, filtered by actor and action, a page at a time.
    let audit = format!("{base}/certsrv/admin/audit");
    let page = text_of(get(&web, &audit, admin), StatusCode::OK);
    let role_at = page.find(&os_actor()).expect("the command's role change");
    let add_at = page
        .find(">user<")
        .or_else(|| page.find(">add<"))
        .unwrap_or(usize::MAX);
    assert!(role_at < add_at, "newest first: {page}");
    let by_admin = text_of(
        get(&web, &format!("{audit}?actor=admin&action=role"), admin),
        StatusCode::OK,
    );
    assert_eq!(by_admin.matches("<td>carol</td>").count(), 1, "{by_admin}");
    let paged = text_of(
        get(&web, &format!("{audit}?actor=admin&limit=2"), admin),
        StatusCode::OK,
    );
    let next = next_link(&paged).expect("an older page");
    assert!(
        next.contains("actor=admin") && next.contains("limit=2"),
        "{next}"
    );
    let older = text_of(get(&web, &format!("{base}{next}"), admin), StatusCode::OK);
    assert!(older.contains("<td>carol</td>"), "{older}");
    for query in [
        "after=abc",
        "after=0",
        "limit=100000",
        "actor=a%0Ab",
        &format!("after={}", "9".repeat(30)),
    ] {
        let answer = get(&web, &format!("{audit}?{query}"), admin);
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let zero = get(&web, &format!("{audit}?after=0%07"), admin)
        .text()
        .unwrap();
    assert!(
        zero.contains("&#39;0\\u{7}&#39; cannot be after: it is the number of the entry")
            || zero.contains("&#x27;0\\u{7}&#x27; cannot be after: it is the number of the entry"),
        "{zero}"
    );
    assert!(!zero.contains('\u{7}'), "{zero:?}");
    let injected = text_of(
        get(
            &web,
            &format!("{audit}?actor=x%27%20OR%20%271%27%3D%271"),
            admin,
        ),
        StatusCode::OK,
    );
    assert!(injected.contains("Nothing matches."));

    // `ca audit` prints the same trail, oldest first.
    let trail: Value = serde_json::from_str(&sb.ok(&["audit", "--json"])).unwrap();
    let events = trail.as_array().unwrap();
    let by = |actor: &str, action: &str| {
        events
            .iter()
            .filter(|e| e["actor"] == actor && e["action"] == action && e["subject"] == "carol")
            .count()
    };
    assert_eq!(by("admin", "role"), 1, "{trail:#}");
    assert_eq!(by("admin", "disable"), 1);
    assert_eq!(by("admin", "enable"), 1);
    assert_eq!(by("admin", "passwd"), 1);
    assert_eq!(by(&os_actor(), "role"), 1, "{trail:#}");
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    assert!(!events.iter().any(|e| e["actor"] == "cli"), "{trail:#}");
    let table = sb.ok(&["audit", "--since", "2020-01-01"]);
    assert!(
        table.contains("carol") && table.contains(&os_actor()),
        "{table}"
    );
    let none: Value =
        serde_json::from_str(&sb.ok(&["audit", "--since", "2999-01-01", "--json"])).unwrap();
    assert!(none.as_array().unwrap().is_empty());
    sb.refused(&["audit", "--since", "yesterday"]);
    sb.refused(&["audit", "--since", "2027-13-01"]);
    // An action in any case finds its events; one that is no action is refused, naming the
    // actions, rather than answered "Nothing matches"; an action with no event yet is
    // nothing found. Every action the trail holds is one of those named.
    assert!(sb.ok(&["audit", "--action", "ROLE"]).contains("carol"));
    let typo = sb.refused(&["audit", "--action", "revokee"]);
    assert!(
        typo.contains("'revokee' is no action") && typo.contains("role"),
        "{typo}"
    );
    assert!(
        sb.ok(&["audit", "--action", "root key"])
            .contains("Nothing matches.")
    );
    for event in events {
        let action = event["action"].as_str().unwrap();
        assert!(typo.contains(action), "{action}: {typo}");
    }
    // Secrets never reach the trail.
    assert!(!serde_json::to_string(&trail).unwrap().contains(&password));
    assert!(
        !serde_json::to_string(&trail)
            .unwrap()
            .contains("a new long password")
    );
}
