//! The agent's inspector page in a real headless chromium (Debian's chromium and
//! chromedriver): a request that goes through the tunnel while the page is open appears on
//! it (live, over server-sent events), its details show with the secrets masked and the
//! visitor's markup as text, and the Replay button sends it to the local service again. A
//! screenshot of the page is saved in `target/test-output/inspector/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, time::Duration};

use hopgate_e2e::{browser::Browser, inspector::Inspector, recording_service::RecordingService, *};
use serde_json::json;

const DOMAIN: &str = "app.hopgate.test";
const STEP: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_request_live_and_replays_it() {
    let service = RecordingService::start();
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let agent = Agent::start_with_args(&dp, DOMAIN, service.addr, &Agent::INSPECT_ON_ANY_PORT);
    agent.wait_connected(STEP);
    let inspector = Inspector::of(&agent, STEP);
    let browser = Browser::start().await;
    browser.open(&inspector.url("/")).await;
    browser.wait_for("#live", STEP).await;
    poll_until("the page's live stream is open", STEP, || async {
        browser
            .run("return document.getElementById('live').textContent;", &[])
            .await
            == "live"
    })
    .await;

    // A request while the page is open appears on it without a reload.
    let visitor = dp.visitor(&[DOMAIN]);
    let sent = visitor
        .post(format!(
            "https://{DOMAIN}:{}/from-the-page?n=1",
            dp.https.port()
        ))
        .header("authorization", "Bearer browser-secret")
        .header("x-probe", "<img id=\"injected\" src=\"x\">")
        .body("page body <b id=\"injected-body\">bold</b>")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let id = inspector.wait_for_path("/from-the-page?n=1", STEP).await["id"]
        .as_u64()
        .unwrap();
    let row = format!("#list li[data-id=\"{id}\"]");
    browser.click(&row, STEP).await;
    browser.wait_for("#replay", STEP).await;
    let shown = browser
        .run("return document.getElementById('detail').innerText;", &[])
        .await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains("POST /from-the-page?n=1"), "{shown}");
    assert!(shown.contains("page body"), "{shown}");
    assert!(
        !shown.contains("browser-secret"),
        "the secret is masked: {shown}"
    );
    // What visitors sent is shown as text, never made into the page's elements.
    assert!(shown.contains("<img id=\"injected\""), "{shown}");
    let injected = browser
        .run(
            "return document.getElementById('injected') !== null \
             || document.getElementById('injected-body') !== null;",
            &[],
        )
        .await;
    assert_eq!(injected, json!(false), "a visitor's markup became elements");

    browser.click("#replay", STEP).await;
    poll_until("the replay reaches the local service", STEP, || async {
        service.received_for("/from-the-page?n=1").len() == 2
    })
    .await;
    let replayed = service.received_for("/from-the-page?n=1");
    assert_eq!(
        replayed[1].body,
        b"page body <b id=\"injected-body\">bold</b>"
    );
    let marked = poll_for("the replay listed on the page", STEP, || async {
        let text = browser
            .run(
                "return document.getElementById('list').innerText;",
                &[json!(null)],
            )
            .await;
        text.as_str()
            .filter(|t| t.contains(&format!("replay of #{id}")))
            .map(str::to_owned)
    })
    .await;
    assert!(marked.contains("/from-the-page?n=1"), "{marked}");

    let shot = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/test-output/inspector"
    ))
    .join("page.png");
    browser.screenshot(&shot).await;
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}
