//! The pages: no page or API without a session, CSRF and origin checks,
//! roles, rate-limited sign-in (over plain HTTP, SQLite, the embedded
//! default); and a manager's review end to end in headless Chromium against
//! PostgreSQL, Mosquitto and a running agent: sign in, open the flagged
//! sorting event, confirm it, see the box's feedback reply arrive.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::Browser;
use common::{Console, broker_toml, http, unique};
use edge_agent::simulate::station;
use review_console::ingest::{Limits, Schemas};
use review_console::store::Store;
use review_console::store::scratch::ScratchDatabase;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn cookie_value(head: &str, name: &str) -> Option<String> {
    head.lines().filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).find_map(|l| {
        let v = l.split_once(':')?.1.trim();
        let (k, rest) = v.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or_default().to_string())
    })
}

fn csrf_in(html: &[u8]) -> String {
    let html = String::from_utf8_lossy(html);
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

/// Signs in over HTTP; returns (status, session cookie, the next page's CSRF token).
fn sign_in(console: &Console, user: &str, password: &str) -> (u16, Option<String>) {
    let (_, head, body) = http(console.port, "GET", "/login", &[], "");
    let token = cookie_value(&head, "rc_login").expect("the login form's cookie");
    assert_eq!(csrf_in(&body), token);
    let form = format!("username={user}&password={password}&csrf={token}&next=%2Fqueue");
    let cookie = format!("rc_login={token}");
    let (status, head, _) = http(console.port, "POST", "/login", &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", &cookie)], &form);
    (status, cookie_value(&head, "rc_session"))
}

#[test]
fn no_page_or_api_without_a_session_and_no_post_without_its_token() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/review.db", dir.path().display());
    // An event to aim at, stored through the ingest path.
    let store = rt.block_on(Store::open(&url, 1)).unwrap();
    let event = common::example("event.sorting.json");
    let id = event["event_id"].as_str().unwrap().to_string();
    let schemas = Schemas::load().unwrap();
    let limits = Limits { max_evidence_bytes: 1 << 20, max_json_bytes: 1 << 16 };
    let accepted = schemas.accept("zwaste/v1", "zwaste/v1/bda-station-12/edge-station12-01/events/sorting", event.to_string().as_bytes(), &limits).unwrap();
    rt.block_on(store.ingest("local", &[accepted], &[])).unwrap();
    let console = Console::start(&url, "", "sign_in_per_minute = 5");
    console.user("wang", "reviewer", "wang-password-1");
    console.user("zhao", "viewer", "zhao-password-1");

    // Nothing without a session.
    let (status, head, _) = http(console.port, "GET", "/queue?site=x", &[], "");
    assert_eq!(status, 303);
    assert!(head.contains("location: /login?next=%2Fqueue%3Fsite%3Dx"), "{head}");
    for path in ["/api/queue", &format!("/api/events/{id}/feedback")] {
        assert_eq!(http(console.port, "GET", path, &[], "").0, 401, "{path}");
    }
    assert_eq!(http(console.port, "GET", &format!("/events/{id}/evidence.jpg"), &[], "").0, 303);
    assert_eq!(http(console.port, "POST", &format!("/events/{id}/verdict"), &[("Content-Type", "application/x-www-form-urlencoded")], "verdict=confirmed").0, 401);
    assert_eq!(http(console.port, "GET", "/events/x/evidence.jpg", &[("Cookie", "rc_session=forged")], "").0, 303, "a forged cookie is no session");
    // A sign-in without the form's own token is refused.
    assert_eq!(http(console.port, "POST", "/login", &[("Content-Type", "application/x-www-form-urlencoded")], "username=wang&password=wang-password-1&csrf=x").0, 403);

    let (status, session) = sign_in(&console, "wang", "wang-password-1");
    assert_eq!(status, 303);
    let session = session.expect("a session cookie");
    let (_, head, _) = http(console.port, "GET", "/login", &[], "");
    assert!(head.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"), "{head}");
    let cookie = format!("rc_session={session}");
    let (status, head, body) = http(console.port, "GET", &format!("/events/{id}"), &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{head}");
    let csrf = csrf_in(&body);
    let form = |token: &str, verdict: &str| format!("csrf={token}&verdict={verdict}&category=&label=&comment=");
    let post = |cookie: &str, body: &str, extra: Option<(&str, &str)>| {
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie)];
        headers.extend(extra);
        http(console.port, "POST", &format!("/events/{id}/verdict"), &headers, body)
    };
    assert_eq!(post(&cookie, &form("0".repeat(64).as_str(), "confirmed"), None).0, 403, "a wrong CSRF token");
    assert_eq!(post(&cookie, &form(&csrf, "confirmed"), Some(("Origin", "http://evil.example"))).0, 403, "another origin");
    let (status, _, body) = post(&cookie, &form(&csrf, "approve'--"), None);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("verdict: choose"), "the problem is named");
    let (status, head, _) = post(&cookie, &form(&csrf, "false_alarm"), Some(("Origin", &format!("http://127.0.0.1:{}", console.port))));
    assert_eq!(status, 303, "{head}");
    let detail = rt.block_on(store.event(&id)).unwrap().unwrap();
    assert_eq!((detail.row.review.as_deref(), detail.reviewer.as_deref(), detail.feedback_state.as_deref()), (Some("false_alarm"), Some("wang"), Some("pending")));

    // A viewer reads but gives no verdicts.
    let (_, viewer) = sign_in(&console, "zhao", "zhao-password-1");
    let viewer = format!("rc_session={}", viewer.unwrap());
    let (_, _, body) = http(console.port, "GET", &format!("/events/{id}"), &[("Cookie", &viewer)], "");
    assert!(!String::from_utf8_lossy(&body).contains("verdict-form"));
    let viewer_csrf = csrf_in(&body);
    assert_eq!(post(&viewer, &form(&viewer_csrf, "confirmed"), None).0, 403);
    let (status, _, body) = http(console.port, "GET", "/api/queue", &[("Cookie", &viewer)], "");
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["total"], 1);

    // Guessing: the third wrong password from this address (5 a minute, two used) is the last one tried.
    let codes: Vec<u16> = (0..4).map(|_| sign_in(&console, "wang", "guess").0).collect();
    assert_eq!(codes, [401, 401, 401, 429], "rate-limited sign-in");
    let audit = rt.block_on(store.audit_log(50)).unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for a in ["verdict", "sign_in", "sign_in_failed", "sign_in_limited"] {
        assert!(actions.contains(&a), "{a} is audited: {actions:?}");
    }
    let log = console.log_text();
    assert!(log.contains("cross-origin POST refused") && log.contains("verdict without a valid CSRF token refused"), "{log}");
    assert!(log.contains("request without a session refused") && log.contains("path=/api/queue"), "unsigned requests are logged:\n{log}");
}

/// Seeded station footage from `edge-agent simulate-station` (10 s: a fruit into the
/// blue bin, wrong, then one into the green bin) and the site's enrolled items.
fn station_footage(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let out = dir.join("station");
    let o = std::process::Command::new(common::agent_bin()).args(["simulate-station", "--seconds", "10", "--out"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let photos = station::item_photos().unwrap();
    // The site has enrolled its items (edge-agent enroll), as at a real station.
    for label in ["水果", "纸盒", "纸牌"] {
        let files: Vec<_> = photos
            .iter()
            .filter(|p| p.label_zh == label)
            .map(|p| {
                let f = dir.join(format!("{}.png", p.id));
                p.image.save(&f).unwrap();
                f
            })
            .collect();
        let o = std::process::Command::new(common::agent_bin())
            .args(["enroll", "--label", label, "--state-dir"])
            .arg(dir.join("state"))
            .arg("--models-dir")
            .arg(common::repo_root().join("models"))
            .args(&files)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    (out.join("frames.txt"), out.join("station-bins.toml"))
}

struct Agent(std::process::Child);
impl std::ops::Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_manager_reviews_a_flagged_event_and_sees_the_box_take_the_feedback() {
    let rt = runtime();
    let broker = common::mosquitto();
    let scratch = rt.block_on(ScratchDatabase::create(&common::postgres())).unwrap();
    let prefix = format!("{}/v1", unique("rc-e2e"));
    let device = unique("edge-station");
    let dir = tempfile::tempdir().unwrap();
    let (frames, cal) = station_footage(dir.path());

    let brokers = format!("{}prefix = \"{prefix}\"\n", broker_toml("plant", broker, &unique("console")));
    let console = Console::start(&scratch.url, &brokers, "");
    console.user("wang", "reviewer", "wang-password-1");
    common::wait_until("the console to subscribe", Duration::from_secs(20), || console.log_text().contains("connected"));

    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"bda-station-12\"\ndevice_id = \"{device}\"\nmodels_dir = \"{models}\"\n[[tasks]]\nid = \"sorting\"\nkind = \"sorting\"\ncooldown = \"5s\"\n\
             [[cameras]]\nid = \"station-bins\"\nsource = {{ kind = \"replay\", path = \"{list}\", fps = 10 }}\ncalibration = \"{cal}\"\ntasks = [\"sorting\"]\n\
             [mqtt]\nbroker = \"{broker}\"\nprefix = \"{prefix}\"\nclient_id = \"{device}\"\nheartbeat_interval = \"1s\"\n[storage]\ndir = \"{state}\"\n[web]\nlisten = \"127.0.0.1:{web}\"\n",
            models = common::repo_root().join("models").display(),
            list = frames.display(),
            cal = cal.display(),
            state = dir.path().join("state").display(),
            web = common::free_port(),
        ),
    )
    .unwrap();
    let agent_log = dir.path().join("agent.log");
    let _agent = Agent(
        std::process::Command::new(common::agent_bin())
            .args(["run", "--config"])
            .arg(&config)
            .args(["--max-frames", "100", "--output"])
            .arg(dir.path().join("results.jsonl"))
            .stderr(std::fs::File::create(&agent_log).unwrap())
            .spawn()
            .unwrap(),
    );

    let browser = Browser::start().unwrap();
    browser.open(&console.url("/queue")).unwrap();
    browser.wait_for_js("document.getElementById('username') !== null", Duration::from_secs(10)).unwrap();
    browser.execute("document.getElementById('username').value = 'wang'; document.getElementById('password').value = 'wang-password-1';").unwrap();
    browser.click("#sign-in").unwrap();
    if let Err(e) = browser.wait_for_text("#whoami", "wang", Duration::from_secs(10)) {
        panic!("not signed in: {e}\npage: {}\nurl: {}\n{}", browser.text("body").unwrap_or_default(), browser.execute("return location.href").unwrap_or_default(), console.log_text());
    }

    // The agent's sorting event reaches the queue (the page is reloaded until it does).
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        browser.open(&console.url("/queue?kind=sorting")).unwrap();
        if browser.execute("return document.querySelectorAll('#queue tbody tr').length").unwrap().as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no sorting event in the queue:\nagent:\n{}\nconsole:\n{}", std::fs::read_to_string(&agent_log).unwrap_or_default(), console.log_text());
        std::thread::sleep(Duration::from_secs(1));
    }
    let row = browser.text("#queue tbody tr").unwrap();
    assert!(row.contains(&device) && row.contains("投错桶") && row.contains("待审核"), "{row}");
    browser.click("#queue tbody tr a").unwrap();
    browser.wait_for_js("document.getElementById('evidence') !== null && document.getElementById('evidence').complete && document.getElementById('evidence').naturalWidth === 1280", Duration::from_secs(20)).unwrap();
    let facts = browser.text("#facts").unwrap();
    assert!(facts.contains("可回收物") && facts.contains("厨余垃圾") && facts.contains("水果"), "item, bin and right bin:\n{facts}");
    let event_id = browser.execute("return location.pathname.split('/')[2]").unwrap().as_str().unwrap().to_string();

    // Confirm it: stored, audited, sent to the box, and its reply shown without a reload.
    browser.click("#verdict-confirmed").unwrap();
    browser.execute("document.getElementById('comment').value = '确认：苹果投入了可回收物桶';").unwrap();
    browser.click("#submit-verdict").unwrap();
    if let Err(e) = browser.wait_for_text("#saved", "已保存", Duration::from_secs(10)) {
        panic!("{e}\npage: {}\n{}", browser.text("body").unwrap_or_default(), console.log_text());
    }
    browser.wait_for_attribute("#feedback", "data-state", "applied", Duration::from_secs(60)).unwrap_or_else(|e| {
        panic!("{e}\nagent:\n{}\nconsole:\n{}", std::fs::read_to_string(&agent_log).unwrap_or_default(), console.log_text())
    });
    let feedback = browser.text("#feedback").unwrap();
    assert!(feedback.contains("设备已采纳") && feedback.contains("enrolled: true"), "{feedback}");
    let store = rt.block_on(Store::open(&scratch.url, 1)).unwrap();
    let detail = rt.block_on(store.event(&event_id)).unwrap().unwrap();
    assert_eq!(detail.row.review.as_deref(), Some("confirmed"));
    assert_eq!(detail.feedback_reply.as_ref().unwrap()["result"]["event_id"], event_id.as_str());
    let audit = rt.block_on(store.audit_log(10)).unwrap();
    assert!(audit.iter().any(|a| a.action == "verdict" && a.target.as_deref() == Some(event_id.as_str()) && a.username == "wang"));

    // English, and the overview: the box online with its bins from the heartbeat.
    browser.open(&console.url("/lang/en?next=/overview")).unwrap();
    browser.wait_for_text("#devices", &device, Duration::from_secs(10)).unwrap();
    assert!(browser.text("#devices").unwrap().contains("Online"));
    assert!(browser.text("#bins").unwrap().contains("bin-recyclable"));
    browser.open(&console.url(&format!("/events/{event_id}"))).unwrap();
    assert!(browser.text("#current-review").unwrap().contains("Confirmed"));

    drop(browser);
    drop(console);
    rt.block_on(store.pool.close());
    rt.block_on(scratch.drop_database()).unwrap();
}
