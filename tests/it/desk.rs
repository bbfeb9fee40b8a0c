//! The desk page (`/`) in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, Debian's `chromium` + `chromium-driver`). The server runs on the fixture
//! models with an API key; the page is given the shared sample article and must show it side
//! by side exactly as `/v1/articles` answers, highlight the flagged sentences, let an English
//! sentence be edited, copy the English and build a valid ninjs item with the edit. A
//! screenshot lands in `target/tmp/desk-page.png`. Without the browser the test says it was
//! skipped and why (it is optional in CI).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use copydesk::batching::BatchPolicy;
use copydesk::http::HttpConfig;

use crate::http_socket::Server;

const KEY: &str = "desk-key";

/// A WebDriver session on a chromedriver child process.
struct Browser {
    driver: Child,
    base: String,
    session: String,
}

fn executable(env: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.is_file().then_some(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// `Err` (what is missing) when chromium or chromedriver is not installed.
    fn start() -> Result<Browser, String> {
        let driver = executable("COPYDESK_CHROMEDRIVER", "/usr/bin/chromedriver")
            .ok_or("chromedriver (apt-get install chromium-driver; or COPYDESK_CHROMEDRIVER)")?;
        let chromium = executable("COPYDESK_CHROMIUM", "/usr/bin/chromium")
            .ok_or("chromium (apt-get install chromium; or COPYDESK_CHROMIUM)")?;
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver does not start: {e}"))?;
        let mut browser = Browser {
            driver: child,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{}/status", browser.base))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": ["--headless=new", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800"]}}}});
        let v = browser.call("POST", "/session", &caps);
        browser.session = v["sessionId"].as_str().expect("a session").to_string();
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.base);
        let res = match method {
            "GET" => ureq::get(&url).call(),
            "DELETE" => ureq::delete(&url).call(),
            _ => ureq::post(&url).send_json(body.clone()),
        };
        let v: Value = match res {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r.into_json().unwrap(),
            Err(e) => panic!("webdriver {path}: {e}"),
        };
        assert!(v["value"]["error"].is_null(), "webdriver {path}: {v}");
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), &body)
    }

    /// Runs `script` in the page (`arguments[0..]` are `args`) and returns its result.
    fn js(&self, script: &str, args: Value) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1](result)` when done.
    fn js_async(&self, script: &str) -> Value {
        self.session("POST", "/timeouts", json!({"script": 60_000}));
        self.session(
            "POST",
            "/execute/async",
            json!({"script": script, "args": []}),
        )
    }

    fn click(&self, css: &str) {
        let found = self.session(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string();
        self.session("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Waits until `condition` (a script returning a boolean) holds.
    fn wait_for(&self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.js(condition, json!([])) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {condition}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn screenshot(&self, path: &std::path::Path) {
        use std::io::Write;
        let b64 = self.session("GET", "/screenshot", json!({}));
        let png = decode_base64(b64.as_str().unwrap());
        std::fs::File::create(path)
            .and_then(|mut f| f.write_all(&png))
            .unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | u32::from(value(c)) << (18 - 6 * i));
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// `copydesk serve` in-process on the fixture models (translator and summarizer), keyed.
fn serve() -> Server {
    let house = copydesk::glossary::store::HouseFile {
        source_lang: "nl".into(),
        target_lang: "en".into(),
        path: crate::common::fixtures().join("glossary-house.tsv"),
    };
    let store = copydesk::glossary::store::GlossaryStore::open(None, &[house]).unwrap();
    let mut cfg = HttpConfig {
        api_keys: vec![KEY.to_string()],
        glossaries: std::sync::Arc::new(store),
        ..HttpConfig::default()
    };
    cfg.defaults.max_new_tokens = Some(crate::http::MAX_NEW_TOKENS);
    Server::with_service(cfg, crate::http::service(true, BatchPolicy::default()))
}

/// `[source, english, classes]` of every sentence row of the page, in order.
const ROWS: &str = "return [...document.querySelectorAll('#rows tr[id^=\"row-blocks\"]')]
    .map(r => [r.querySelector('.src').textContent, r.querySelector('.en .text').innerText,
               r.className, [...r.querySelectorAll('li.flag')].map(l => l.textContent),
               [...r.querySelectorAll('.src mark.term')].map(m => m.textContent),
               [...r.querySelectorAll('.terms .term-hit')].map(t => [t.textContent, t.className]),
               [...r.querySelectorAll('.en .text mark.term')].length]);";

#[test]
fn the_desk_page_shows_the_article_side_by_side_in_a_real_browser() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(needs) => {
            eprintln!("skipped: the desk page browser test needs {needs}");
            return;
        }
    };
    let server = serve();
    let url = server.url("");
    let sample =
        std::fs::read_to_string(crate::common::fixtures().join("samples/kabinet-stikstof.txt"))
            .unwrap();
    // What the API says of the sample: the page must show exactly this.
    let api: Value = ureq::post(&format!("{url}/v1/articles"))
        .set("Authorization", &format!("Bearer {KEY}"))
        .send_json(json!({"articles": [{"text": sample}], "summarize": true}))
        .unwrap()
        .into_json()
        .unwrap();
    let article = &api["articles"][0];

    browser.session("POST", "/url", json!({"url": format!("{url}/")}));
    assert_eq!(browser.js("return document.title", json!([])), "copydesk");
    let paste = "document.getElementById('source').value = arguments[0];";
    browser.js(paste, json!([sample]));
    // Without the key the API's own message is shown.
    browser.click("#run");
    browser.wait_for("return !document.getElementById('error').hidden");
    let error = browser.js(
        "return document.getElementById('error').textContent",
        json!([]),
    );
    assert!(error.as_str().unwrap().contains("HTTP 401"), "{error}");
    // The key, entered once, is kept in session storage.
    browser.js(
        "const k = document.getElementById('key'); k.value = arguments[0];
         k.dispatchEvent(new Event('change'));",
        json!([KEY]),
    );
    browser.click("#run");
    browser.wait_for("return !document.getElementById('result').hidden");
    assert_eq!(
        browser.js(
            "return sessionStorage.getItem('copydesk-api-key')",
            json!([])
        ),
        KEY
    );
    assert_eq!(
        browser.js("return document.getElementById('error').hidden", json!([])),
        true
    );

    // Side by side: one row per sentence, source left and English right, as the API answers.
    let rows = browser.js(ROWS, json!([]));
    let rows = rows.as_array().unwrap();
    let sentences: Vec<&Value> = article["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["sentences"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), sentences.len());
    let mut glossary_rows = 0;
    for (row, s) in rows.iter().zip(&sentences) {
        assert_eq!(row[0], s["source"]);
        assert_eq!(row[1], s["text"]);
        let checks = s["checks"].as_array().map_or(0, Vec::len);
        // Flagged sentences are highlighted with their reasons.
        assert_eq!(row[2].as_str().unwrap().contains("flagged"), checks > 0);
        assert_eq!(row[3].as_array().unwrap().len(), checks);
        // Glossary hits: the source terms marked, one entry per term, missing ones struck.
        let terms = s["glossary"].as_array().cloned().unwrap_or_default();
        assert_eq!(row[4].as_array().unwrap().len(), terms.len(), "{row}");
        assert_eq!(row[5].as_array().unwrap().len(), terms.len(), "{row}");
        for (t, shown) in terms.iter().zip(row[5].as_array().unwrap()) {
            let label = format!(
                "{} → {}",
                t["source"].as_str().unwrap(),
                t["target"].as_str().unwrap()
            );
            assert_eq!(shown[0], label.as_str());
            assert_eq!(
                shown[1].as_str().unwrap().contains("missing"),
                t["applied"] == false
            );
        }
        let applied = terms.iter().filter(|t| t["applied"] == true).count();
        assert!(row[6].as_u64().unwrap() as usize >= applied, "{row}");
        glossary_rows += usize::from(!terms.is_empty());
    }
    assert!(glossary_rows >= 3, "the sample hits the house glossary");
    let review = article["review"].as_array().unwrap();
    assert!(
        !review.is_empty(),
        "the fixture translator's output is flagged"
    );
    let first_flag = &review[0]["checks"][0]["message"];
    assert!(rows
        .iter()
        .any(|r| r[3].to_string().contains(first_flag.as_str().unwrap())));
    let count = browser.js(
        "return document.querySelectorAll('#review-list li').length",
        json!([]),
    );
    assert_eq!(count, json!(review.len()));
    // Structure: headline, subheading, related items with their ages, the summary on top.
    let text_of = |css: &str| {
        browser.js(
            &format!("return [...document.querySelectorAll('{css}')].map(e => e.textContent)"),
            json!([]),
        )
    };
    assert_eq!(text_of("#rows tr.headline td.src")[0], article["headline"]);
    assert_eq!(
        text_of("#rows tr.subheading td.src")[0],
        "Kritiek uit de Kamer"
    );
    assert!(text_of("#rows tr.age td.src")
        .to_string()
        .contains("12 minuten geleden"));
    assert_eq!(text_of("#summary-text")[0], article["summary"]);

    // Edit an English sentence in place: the copied text and the ninjs carry the edit.
    let edited = "The cabinet is setting aside an extra 2.4 billion euros.";
    browser.js(
        "const t = document.querySelector('#rows tr[id^=\"row-blocks\"] .en .text');
         t.innerText = arguments[0]; t.dispatchEvent(new Event('input'));",
        json!([edited]),
    );
    browser.click("#copy-text");
    browser.wait_for("return document.getElementById('copied').textContent === 'Copied.'");
    let text = browser.js("return desk.text()", json!([]));
    let text = text.as_str().unwrap();
    assert!(text.starts_with(article["headline_en"].as_str().unwrap()));
    assert!(
        text.contains(&format!("THE HAGUE (ANP) - {edited}")),
        "{text}"
    );
    let md = browser.js("return desk.markdown()", json!([]));
    assert!(md.as_str().unwrap().contains("## "), "{md}");
    let item = browser.js_async("desk.ninjs().then(arguments[arguments.length - 1])");
    assert_eq!(item["language"], "en");
    assert!(item["bodies"][0]["value"]
        .as_str()
        .unwrap()
        .contains(edited));
    let errors = crate::ninjs::schema_errors("3.1", &item);
    assert!(errors.is_empty(), "{errors:?}");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("desk-page.png");
    browser.screenshot(&shot);
    eprintln!("desk page screenshot: {}", shot.display());
}
