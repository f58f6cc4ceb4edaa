//! The web workbench in a real headless browser (Debian's chromium, driven through
//! chromedriver over WebDriver): a newcomer runs the console of the README's first command,
//! opens the office's sign-in link it prints, signs in, filters the ledger, opens a claimed
//! measure, approves the claim and sees it closed; screenshots are saved under
//! `target/web-screenshots/`. chromium and chromium-driver are installed by .ci/run;
//! elsewhere the test returns when they are absent.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Sandbox, free_port};
use fantoccini::{ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Kills a child process when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshots() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_signs_in_filters_and_approves_a_claim_in_a_browser() {
    if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
        assert!(
            !common::on_ci(),
            "CI=true but chromium and chromium-driver are not installed (.ci/run installs them)"
        );
        common::skip(
            "a_newcomer_signs_in_filters_and_approves_a_claim_in_a_browser",
            "chromium or chromedriver is not installed",
        );
        return;
    }
    // The console, as the README's first command starts it, with its workbench.
    let sb = Sandbox::sqlite();
    let mut console = Killed(
        sb.command()
            .arg("run")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = console.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let link = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the console prints a sign-in link");
        if let Some(at) = line.find("http://127.0.0.1:")
            && line.contains("/signin/")
        {
            break line[at..].trim().to_string();
        }
    };

    let port = free_port();
    let _driver = Killed(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000", "--lang=zh-CN"],
        }),
    );
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::native()
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let client = client.expect("chromedriver starts");
    let base = link.split("/signin/").next().unwrap().to_string();

    // The link opens a page; its button signs in.
    client.goto(&link).await.unwrap();
    client
        .find(Locator::Css("#signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let units = client
        .wait()
        .for_element(Locator::Css("#units"))
        .await
        .expect("the overview after signing in");
    assert!(units.text().await.unwrap().contains("完成率"));
    let shot = screenshots();
    std::fs::write(
        shot.join("overview.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The ledger, filtered to the claims waiting for the office.
    client.goto(&format!("{base}/ledger")).await.unwrap();
    let all = client
        .find(Locator::Css("#count"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .find(Locator::Css("select[name=status] option[value=claimed]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("form.filters button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The filtered page, once the browser has navigated to it (the old page's elements go
    // stale when it does).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let url = client.current_url().await.unwrap();
        if url.as_str().contains("status=claimed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let count = client
        .wait()
        .for_element(Locator::Css("#count"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(count, all, "the filter changed nothing");
    let rows = client
        .find_all(Locator::Css("#ledger tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty(), "the sample has claims: {count}");
    for row in &rows {
        assert!(row.text().await.unwrap().contains("申请销号"));
    }
    std::fs::write(shot.join("ledger.png"), client.screenshot().await.unwrap()).unwrap();

    // The first claim's page: approve it, and see it closed.
    let first = client
        .find(Locator::Css("#ledger tbody tr td a"))
        .await
        .unwrap();
    let code = first.text().await.unwrap();
    first.click().await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("#approve"))
        .await
        .expect("the office may approve a claim");
    client
        .find(Locator::Css("#approve textarea[name=note]"))
        .await
        .unwrap()
        .send_keys("材料齐全，核验通过")
        .await
        .unwrap();
    client
        .find(Locator::Css("#approve button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = client
        .wait()
        .for_element(Locator::Css("#flash"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(flash.contains(&code) && flash.contains("销号"), "{flash}");
    let status = client
        .find(Locator::Css("#status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "已销号");
    let history = client
        .find(Locator::Css("#history"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        history.contains("网页") && history.contains("材料齐全"),
        "{history}"
    );
    std::fs::write(shot.join("measure.png"), client.screenshot().await.unwrap()).unwrap();
    client.close().await.unwrap();

    // The same change is in the database, as the CLI reads it.
    let at = chrono::Utc::now().date_naive().to_string();
    let measures = sb.measures(&at);
    assert_eq!(common::by_code(&measures, &code)["status"], "closed");
    drop(console.0.stdin.take());
}
