//! Pages in a real browser: Debian's Chromium, headless, driven through chromedriver.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::util::{Sandbox, Server};

/// A chromedriver process, stopped on drop. A missing chromedriver is a failure, not a skip:
/// `tests/run` installs Debian's chromium and chromium-driver.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        use std::io::BufRead;
        // Port 0: chromedriver picks a free port itself and says which, so no other process
        // can take it between a choice made here and chromedriver's bind.
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is needed for the browser tests");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim().trim_end_matches('.').parse::<u16>().ok())
            })
            .expect("chromedriver says which port it listens on");
        // Keep reading its output, so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn capabilities(downloads: &Path, profile: &Path) -> fantoccini::wd::Capabilities {
    let options = json!({
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1000,1100",
            format!("--user-data-dir={}", profile.display()),
        ],
        "prefs": {
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
            "safebrowsing.enabled": false,
        },
    });
    let mut caps = fantoccini::wd::Capabilities::new();
    caps.insert("goog:chromeOptions".to_owned(), options);
    caps
}

/// Waits for a finished download called `name` in `dir`.
fn wait_for_download(dir: &Path, name: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = dir.join(name);
    while Instant::now() < deadline {
        let partial = std::fs::read_dir(dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".crdownload")
        });
        if path.exists() && !partial {
            return std::fs::read(&path).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    panic!("no download {name} in {}: {found:?}", dir.display());
}

#[test]
fn downloads_the_base64_root_from_the_welcome_page_in_chromium() {
    let sb = Sandbox::new();
    sb.init(&["--name", "Example Root CA"]);
    let server = Server::start(&sb);
    let driver = Driver::start();
    let downloads = sb.path().join("downloads");
    let profile = sb.path().join("chromium-profile");
    std::fs::create_dir(&downloads).unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities(&downloads, &profile))
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        let result = async {
            browser.goto(&format!("{}/certsrv/", server.http)).await?;
            let heading = browser.find(Locator::Css("h1")).await?.text().await?;
            assert_eq!(heading, "Welcome");
            std::fs::write(shots.join("welcome.png"), browser.screenshot().await?).unwrap();

            browser
                .find(Locator::LinkText(
                    "Download a CA certificate, certificate chain, or CRL",
                ))
                .await?
                .click()
                .await?;
            let title = browser.find(Locator::Css("h1")).await?.text().await?;
            assert_eq!(
                title,
                "Download a CA certificate, certificate chain, or CRL"
            );
            browser
                .find(Locator::Css("a[href*='certnew.cer'][href*='Enc=b64']"))
                .await?
                .click()
                .await?;
            // Saved under the name the install page gives it.
            let downloaded = wait_for_download(&downloads, "root.crt");
            assert_eq!(String::from_utf8(downloaded).unwrap(), sb.ok(&["root"]));

            browser
                .goto(&format!("{}/certsrv/install", server.http))
                .await?;
            let install = browser.source().await?;
            assert!(install.contains("Certificate Trust Settings"));
            // The QR code is drawn in the first screen, at a size a phone's camera reads.
            let qr = browser.find(Locator::Css("figure.qr svg")).await?;
            let (_, top, width, height) = qr.rectangle().await?;
            assert!(
                width >= 120.0 && height >= 120.0 && top + height < 1000.0,
                "{width}x{height} at {top}"
            );
            std::fs::write(shots.join("install.png"), browser.screenshot().await?).unwrap();
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = browser.close().await;
        result.expect("the browser walk");
    });
}

/// Clicks what `css` finds, then waits (20 s at most) for `answer`, which only the page the
/// click leads to holds: the page clicked on stays until the answer comes, and an element of
/// it found meanwhile would be gone when read.
async fn click_then(
    browser: &fantoccini::Client,
    css: &str,
    answer: Locator<'_>,
) -> Result<fantoccini::elements::Element, fantoccini::error::CmdError> {
    browser.find(Locator::Css(css)).await?.click().await?;
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(answer)
        .await
}

/// Signs the browser in as `name`: every request it sends from now on carries HTTP Basic
/// credentials, set through chromedriver's DevTools endpoint. (Chromium no longer answers a
/// Basic challenge with credentials written in the address, and a headless one shows no
/// dialog to type them in.)
async fn sign_in(driver: &Driver, browser: &fantoccini::Client, name: &str, password: &str) {
    use base64::Engine;
    let session = browser
        .session_id()
        .await
        .expect("the session's id")
        .expect("a session");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    let cdp = format!("{}/session/{session}/goog/cdp/execute", driver.url);
    let client = reqwest::Client::new();
    for (cmd, params) in [
        ("Network.enable", json!({})),
        (
            "Network.setExtraHTTPHeaders",
            json!({ "headers": { "Authorization": format!("Basic {token}") } }),
        ),
    ] {
        let answer = client
            .post(&cdp)
            .json(&json!({ "cmd": cmd, "params": params }))
            .send()
            .await
            .expect("chromedriver answers");
        let status = answer.status();
        assert!(
            status.is_success(),
            "{cmd}: {status} {:?}",
            answer.text().await
        );
    }
}

#[test]
fn shows_the_inventory_users_and_audit_pages_in_chromium() {
    let sb = Sandbox::new();
    sb.init(&["--name", "Example Root CA"]);
    for name in ["mail.example.com", "bücher.example", "intranet.example.com"] {
        sb.ok(&[
            "issue",
            name,
            "--key",
            "ecdsa-p256",
            "--out",
            ".",
            "--force",
        ]);
    }
    sb.ok(&[
        "issue",
        "vpn.example.com",
        "--key",
        "ecdsa-p256",
        "--days",
        "9",
        "--out",
        ".",
    ]);
    sb.ok(&["revoke", "3", "--reason", "superseded"]);
    // Users made before the server starts: it makes no admin of its own then.
    let admin_password = "admin password of the browser walk";
    for (name, role, password) in [
        ("admin", "admin", admin_password),
        ("alice", "requester", "alice password"),
    ] {
        std::fs::write(sb.file("pw"), format!("{password}\n")).unwrap();
        sb.ok(&["user", "add", name, "--role", role, "--password-file", "pw"]);
    }
    let server = Server::start(&sb);
    let driver = Driver::start();
    let downloads = sb.path().join("downloads");
    let profile = sb.path().join("chromium-profile");
    std::fs::create_dir(&downloads).unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let base = &server.http;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities(&downloads, &profile))
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        sign_in(&driver, &browser, "admin", admin_password).await;
        let result = async {
            browser.goto(&format!("{base}/certsrv/admin")).await?;
            let heading = browser.find(Locator::Css("h1")).await?.text().await?;
            assert_eq!(heading, "Manage requests and certificates");
            let who = browser.find(Locator::Css(".who")).await?.text().await?;
            assert_eq!(who, "Signed in as admin (administrator) · Change password");
            let page = browser.source().await?;
            assert!(page.contains("days left"), "{page}");
            assert!(page.contains("this CA's HTTPS server"), "{page}");
            let table = browser
                .find(Locator::Css("table.inventory"))
                .await?
                .text()
                .await?;
            for name in [
                "mail.example.com",
                "bücher.example",
                "intranet.example.com",
                "vpn.example.com",
                // The OCSP responder's row: its certificate names no host, its subject this.
                "Example Root CA OCSP Responder",
            ] {
                assert!(table.contains(name), "{name} in {table}");
            }
            std::fs::write(shots.join("inventory.png"), browser.screenshot().await?).unwrap();
            // The filter form is a GET form: its answer's address holds the filter.
            browser
                .find(Locator::Css("#name"))
                .await?
                .send_keys("bücher")
                .await?;
            browser
                .find(Locator::Css("form.filter button"))
                .await?
                .click()
                .await?;
            // The click starts the navigation; a loaded machine may answer before it ends.
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut url = browser.current_url().await?;
            while !url.as_str().contains("name=") && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                url = browser.current_url().await?;
            }
            assert!(url.as_str().contains("name=b%C3%BCcher"), "{url}");
            let rows = browser.find_all(Locator::Css("table.inventory tr")).await?;
            assert_eq!(rows.len(), 2, "a heading and one row");

            browser.goto(&format!("{base}/certsrv/admin/users")).await?;
            let heading = browser.find(Locator::Css("h1")).await?.text().await?;
            assert_eq!(heading, "Users");
            let users = browser.find_all(Locator::Css("table.users tr")).await?;
            let mut rows = Vec::new();
            for row in &users[1..] {
                rows.push(row.text().await?);
            }
            assert_eq!(rows.len(), 2, "{rows:?}");
            assert!(rows[0].starts_with("admin (you) admin active"), "{rows:?}");
            assert!(rows[1].starts_with("alice requester active"), "{rows:?}");
            std::fs::write(shots.join("users.png"), browser.screenshot().await?).unwrap();
            // Disable alice from the page: the form posts same-origin, and the trail says who.
            // The post answers with the users page again, alice disabled.
            click_then(
                &browser,
                "form[action$='/users/state'] input[value='alice'] ~ button",
                Locator::XPath("//tr[contains(., 'alice') and contains(., 'disabled')]"),
            )
            .await?;
            // Then remove her: the page asks first, and its form does it.
            click_then(
                &browser,
                "form[action$='/users/remove'] input[value='alice'] ~ button",
                Locator::XPath("//h1[. = 'Remove the user alice?']"),
            )
            .await?;
            click_then(
                &browser,
                "main form button",
                Locator::XPath("//p[contains(., 'Removed the user alice')]"),
            )
            .await?;
            browser.goto(&format!("{base}/certsrv/admin/audit")).await?;
            let heading = browser.find(Locator::Css("h1")).await?.text().await?;
            assert_eq!(heading, "Audit trail");
            let newest = browser
                .find(Locator::Css("table.audit tr:nth-child(2)"))
                .await?
                .text()
                .await?;
            assert!(newest.contains("admin remove user alice"), "{newest}");
            std::fs::write(shots.join("audit.png"), browser.screenshot().await?).unwrap();
            // A server checked at an address given in place of its name's own (the CA's own
            // HTTPS server, by a name it does not hold); then a refused address, said above
            // the form with the URL kept.
            let port = server.https_port;
            let url = format!("https://mail.example.com:{port}");
            browser.goto(&format!("{base}/certsrv/admin/check")).await?;
            browser
                .find(Locator::Css("#url"))
                .await?
                .send_keys(&url)
                .await?;
            browser
                .find(Locator::Css("#address"))
                .await?
                .send_keys("127.0.0.1")
                .await?;
            let result = click_then(&browser, "main form button", Locator::Css("#result"))
                .await?
                .text()
                .await?;
            assert!(
                result.starts_with("Some clients will not connect"),
                "{result}"
            );
            let page = browser.source().await?;
            assert!(
                page.contains(&format!("(127.0.0.1:{port}, the address given)")),
                "{page}"
            );
            let address = browser.find(Locator::Css("#address")).await?;
            address.clear().await?;
            address.send_keys("0.0.0.0").await?;
            click_then(
                &browser,
                "main form button",
                Locator::XPath("//p[contains(., 'Not checked:')]"),
            )
            .await?;
            let kept = browser
                .find(Locator::Css("#url"))
                .await?
                .prop("value")
                .await?;
            assert_eq!(kept.as_deref(), Some(url.as_str()));
            // Last, the admin's own password, from the link beside the name on every page.
            click_then(
                &browser,
                ".who a[href='/certsrv/password']",
                Locator::Css("#current"),
            )
            .await?
            .send_keys(admin_password)
            .await?;
            for field in ["#new", "#again"] {
                browser
                    .find(Locator::Css(field))
                    .await?
                    .send_keys("the admin's new password")
                    .await?;
            }
            click_then(
                &browser,
                "main form button",
                Locator::XPath("//p[contains(., 'Your password is changed')]"),
            )
            .await?;
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = browser.close().await;
        result.expect("the browser walk");
    });
    // The new password signs in; the old one no longer does.
    let web = reqwest::blocking::Client::new();
    let status = |password: &str| {
        web.get(format!("{base}/certsrv/password"))
            .basic_auth("admin", Some(password))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(status("the admin's new password"), 200);
    assert_eq!(status(admin_password), 401);
}
