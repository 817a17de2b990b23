//! The sorting-station screen: in a real headless Chromium (a prompt appears,
//! clears itself, survives an agent restart) and over plain HTTP (offline page,
//! picture names, the event stream).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use common::browser::Browser;
use edge_agent::web::WebServer;
use edge_agent::web::station::{PromptBin, PromptItem, StationHub, StationPrompt};

const SECOND: Duration = Duration::from_secs(1);

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts")
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn bin(zone: &str, category: &str) -> PromptBin {
    PromptBin::for_category(zone, category).unwrap()
}

fn item(label_zh: &str, category: &str, confidence: f32) -> PromptItem {
    let category_zh = bin("", category).category_zh;
    PromptItem { label_zh: label_zh.into(), category: category.into(), category_zh, confidence }
}

/// A plastic bottle in the green kitchen bin: it belongs in the blue one.
fn bottle_prompt(id: &str, camera: &str, clear_after_ms: u64) -> StationPrompt {
    StationPrompt {
        id: id.into(),
        camera: camera.into(),
        verdict: "misclassification".into(),
        item: item("塑料瓶", "recyclable", 0.94),
        bin: bin("A", "kitchen"),
        expected_bin: bin("B", "recyclable"),
        headline_zh: "塑料瓶 → 可回收物 · 蓝色桶".into(),
        message_zh: "请将塑料瓶投入蓝色可回收物桶".into(),
        hint_zh: Some("饮料瓶请先倒空，压扁后投放".into()),
        picture: Some(format!("/station/items/{id}.jpg")),
        captured_at_ms: now_ms(),
        clear_after_ms,
    }
}

/// The model is not sure: a bone in the kitchen bin may be a big (other-waste) one.
fn bone_prompt(id: &str, picture: Option<String>) -> StationPrompt {
    StationPrompt {
        id: id.into(),
        camera: "cam-1".into(),
        verdict: "unsure".into(),
        item: item("大棒骨", "other", 0.58),
        bin: bin("A", "kitchen"),
        expected_bin: bin("D", "other"),
        headline_zh: "请确认：可能是大棒骨".into(),
        message_zh: "如是大棒骨，请投入灰色其他垃圾桶".into(),
        hint_zh: Some("大棒骨质地坚硬，属于其他垃圾".into()),
        picture,
        captured_at_ms: now_ms(),
        clear_after_ms: 60_000,
    }
}

/// A battery in the grey bin, no picture.
fn battery_prompt(id: &str) -> StationPrompt {
    StationPrompt {
        id: id.into(),
        camera: "cam-1".into(),
        verdict: "misclassification".into(),
        item: item("纽扣电池", "hazardous", 0.9),
        bin: bin("D", "other"),
        expected_bin: bin("C", "hazardous"),
        headline_zh: "纽扣电池 → 有害垃圾 · 红色桶".into(),
        message_zh: "请将纽扣电池投入红色有害垃圾桶".into(),
        hint_zh: None,
        picture: None,
        captured_at_ms: now_ms(),
        clear_after_ms: 60_000,
    }
}

/// A real JPEG of a (drawn) plastic bottle, 480x640.
fn write_bottle_jpeg(path: &Path) {
    let img = image::RgbImage::from_fn(480, 640, |x, y| {
        let (x, y) = (x as i32, y as i32);
        let dx = (x - 240).abs();
        let body_half = 78;
        let inside_body = (190..600).contains(&y) && dx <= body_half;
        let shoulder = (130..190).contains(&y) && dx <= 32 + (y - 130) * (body_half - 32) / 60;
        let neck = (95..130).contains(&y) && dx <= 32;
        let cap = (62..95).contains(&y) && dx <= 36;
        if cap {
            image::Rgb([20, 90, 170])
        } else if inside_body && (330..420).contains(&y) {
            image::Rgb([235, 70, 60]) // the label
        } else if inside_body || shoulder || neck {
            // Clear plastic: light blue, brighter towards the left edge.
            let shine = (40 - (x - 200).abs()).max(0) as u8;
            image::Rgb([170 + shine, 215 + shine / 2, 240])
        } else {
            let shade = 236 - (y / 40) as u8;
            image::Rgb([shade, shade, shade - 6])
        }
    });
    img.save_with_format(path, image::ImageFormat::Jpeg).unwrap();
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !ready() {
        ensure!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn station_screen_shows_a_prompt_clears_it_and_survives_a_restart() -> Result<()> {
    let pictures = tempfile::tempdir()?;
    let bottle_id = uuid::Uuid::now_v7().to_string();
    write_bottle_jpeg(&pictures.path().join(format!("{bottle_id}.jpg")));
    let hub = Arc::new(StationHub::new(pictures.path().to_path_buf()));
    let server = WebServer::start("127.0.0.1:0".parse()?, hub.clone())?;
    let addr = server.local_addr();
    let browser = Browser::start()?;
    browser.open(&format!("http://{addr}/station"))?;

    // Idle and connected.
    browser.wait_for_text("#conn", "已连接", 10 * SECOND)?;
    wait_until("the page's event stream", 5 * SECOND, || hub.subscribers() == 1)?;
    assert_eq!(browser.attribute("body", "data-state")?.as_deref(), Some("idle"));
    browser.wait_for_text("#idle", "分类投放", SECOND)?;
    let size = browser.execute("return [innerWidth, innerHeight];")?;
    assert_eq!(size, serde_json::json!([1920, 1080]), "window size");
    browser.screenshot_png(&artifacts().join("station-idle.png"))?;
    // Sound is off until asked; a click (a user gesture) lets the page start it.
    assert_eq!(browser.text("#chime")?, "提示音：关");
    browser.click("#chime")?;
    browser.wait_for_text("#chime", "提示音：开", 2 * SECOND)?;

    // A wrong item: on screen at once, in the colour of the right bin.
    let clear_after_ms = 4000;
    let published_ms = now_ms();
    hub.publish(bottle_prompt(&bottle_id, "cam-1", clear_after_ms));
    browser.wait_for_text("#headline", "塑料瓶", 5 * SECOND)?;
    browser.wait_for_attribute("body", "data-state", "prompt", SECOND)?;
    let shown_ms: u64 = browser.attribute("body", "data-shown-ms")?.context("data-shown-ms")?.parse()?;
    let latency = shown_ms.saturating_sub(published_ms);
    eprintln!("publish -> on screen: {latency} ms");
    ensure!(latency < 500, "the prompt took {latency} ms to show");
    assert!(browser.text("#headline")?.contains("可回收物 · 蓝色桶"));
    assert_eq!(browser.text("#message")?, "请将塑料瓶投入蓝色可回收物桶");
    assert!(browser.text("#hint")?.contains("倒空"));
    assert!(browser.text("#went-text")?.contains("投入了：绿色 厨余垃圾桶"));
    let width = browser.wait_for_js(
        "document.getElementById('picture').complete && document.getElementById('picture').naturalWidth",
        5 * SECOND,
    )?;
    assert_eq!(width, serde_json::json!(480), "the picture loaded");
    let look = browser.execute(
        "const h = getComputedStyle(document.getElementById('headline'));
         return [getComputedStyle(document.body).backgroundColor, parseFloat(h.fontSize) / innerHeight];",
    )?;
    assert_eq!(look[0], "rgb(31, 111, 209)", "blue: where the bottle should go");
    assert!(look[1].as_f64().unwrap_or(0.0) >= 0.079, "headline at least 8vh: {look}");
    browser.screenshot_png(&artifacts().join("station-prompt.png"))?;

    // It clears itself, not before its time.
    browser.wait_for_attribute("body", "data-state", "idle", Duration::from_millis(clear_after_ms) + 3 * SECOND)?;
    let on_screen = now_ms().saturating_sub(shown_ms);
    ensure!(on_screen + 100 >= clear_after_ms, "cleared after {on_screen} ms, asked {clear_after_ms}");

    // Unsure: a gentle question. A newer prompt replaces it.
    hub.publish(bone_prompt(&uuid::Uuid::now_v7().to_string(), Some(format!("/station/items/{bottle_id}.jpg"))));
    browser.wait_for_attribute("body", "data-state", "unsure", 5 * SECOND)?;
    browser.wait_for_text("#headline", "请确认", SECOND)?;
    assert!(browser.text("#dest-name")?.contains("其他垃圾 · 灰色桶"));
    browser.wait_for_js("document.getElementById('picture').naturalWidth > 0", 5 * SECOND)?;
    browser.screenshot_png(&artifacts().join("station-unsure.png"))?;
    hub.publish(battery_prompt(&uuid::Uuid::now_v7().to_string()));
    browser.wait_for_text("#headline", "纽扣电池", 5 * SECOND)?;
    browser.wait_for_attribute("body", "data-state", "prompt", SECOND)?;
    // No picture: the right bin's pictogram stands in.
    assert!(browser.text("#pic-bin")?.contains("红色桶"));
    browser.screenshot_png(&artifacts().join("station-prompt-no-picture.png"))?;

    // The agent restarts on the same port: the page reconnects by itself and
    // drops the prompt that was on screen (it is stale now).
    server.stop();
    browser.wait_for_text("#conn", "正在重连", 10 * SECOND)?;
    wait_until("the old stream to close", 5 * SECOND, || hub.subscribers() == 0)?;
    let server = WebServer::start(addr, hub.clone())?;
    browser.wait_for_text("#conn", "已连接", 20 * SECOND)?;
    wait_until("the page to reconnect", 5 * SECOND, || hub.subscribers() == 1)?;
    browser.wait_for_attribute("body", "data-state", "idle", 5 * SECOND)?;
    hub.publish(bottle_prompt(&bottle_id, "cam-1", 60_000));
    browser.wait_for_text("#headline", "塑料瓶", 5 * SECOND)?;
    browser.wait_for_js("document.getElementById('picture').naturalWidth > 0", 5 * SECOND)?;
    drop(server);
    Ok(())
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One plain HTTP/1.1 GET, the path sent exactly as given.
fn get(addr: SocketAddr, path: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(5 * SECOND)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    Reply { status, head, body: raw[split + 4..].to_vec() }
}

fn start_server() -> (tempfile::TempDir, Arc<StationHub>, WebServer) {
    let pictures = tempfile::tempdir().unwrap();
    let hub = Arc::new(StationHub::new(pictures.path().to_path_buf()));
    let server = WebServer::start("127.0.0.1:0".parse().unwrap(), hub.clone()).unwrap();
    (pictures, hub, server)
}

#[test]
fn station_page_is_self_contained_and_never_cached() {
    let (_pictures, _hub, server) = start_server();
    let page = get(server.local_addr(), "/station");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("id=\"headline\"") && html.contains("分类投放"));
    // The box may have no internet: nothing may load from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://"), "the page refers off the box");

    let root = get(server.local_addr(), "/?camera=cam-2");
    assert!(matches!(root.status, 301..=308), "{}", root.head);
    assert_eq!(root.header("location"), Some("/station?camera=cam-2"));
    assert_eq!(get(server.local_addr(), "/nothing-here").status, 404);
}

#[test]
fn station_pictures_are_served_by_event_id_only() {
    let (pictures, _hub, server) = start_server();
    let addr = server.local_addr();
    let id = uuid::Uuid::now_v7().to_string();
    let file = pictures.path().join(format!("{id}.jpg"));
    write_bottle_jpeg(&file);
    std::fs::write(pictures.path().join("secret.txt"), "root:x:0:0").unwrap();

    let picture = get(addr, &format!("/station/items/{id}.jpg"));
    assert_eq!(picture.status, 200);
    assert_eq!(picture.header("content-type"), Some("image/jpeg"));
    assert_eq!(picture.body, std::fs::read(&file).unwrap());
    assert_eq!(get(addr, &format!("/station/items/{}.jpg", uuid::Uuid::now_v7())).status, 404);

    for bad in [
        "/station/items/../../etc/passwd",
        "/station/items/..%2F..%2Fetc%2Fpasswd",
        "/station/items/%2e%2e%2fsecret.txt",
        "/station/items/secret.txt",
        "/station/items/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd.jpg",
        &format!("/station/items/{}.jpg", id.to_uppercase()),
    ] {
        let reply = get(addr, bad);
        assert!(matches!(reply.status, 400 | 404), "{bad}: {}", reply.head);
        assert!(!String::from_utf8_lossy(&reply.body).contains("root:"), "{bad} leaked a file");
    }
    assert_eq!(get(addr, "/station/items/..%2F..%2Fetc%2Fpasswd").status, 400);
}

/// Reads SSE lines until one contains `needle`; returns everything read.
fn read_until(lines: &mut impl BufRead, seen: &mut String, needle: &str) {
    while !seen.contains(needle) {
        let mut line = String::new();
        let n = lines.read_line(&mut line).unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}; got {seen}"));
        assert!(n > 0, "stream ended before {needle:?}; got {seen}");
        seen.push_str(&line);
    }
}

#[test]
fn station_events_say_hello_then_send_this_cameras_prompts() {
    let (_pictures, hub, server) = start_server();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(5 * SECOND)).unwrap();
    write!(stream, "GET /station/events?camera=cam-b HTTP/1.1\r\nHost: station\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut lines = BufReader::new(stream);
    let mut seen = String::new();
    read_until(&mut lines, &mut seen, "event: hello");
    read_until(&mut lines, &mut seen, "\n\n");
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.to_ascii_lowercase().contains("content-type: text/event-stream"), "{seen}");
    assert!(seen.contains("retry: 2000"), "{seen}");
    let hello = seen.lines().find_map(|l| l.strip_prefix("data: ")).expect("hello data");
    let hello: serde_json::Value = serde_json::from_str(hello).unwrap();
    assert_eq!(hello["agent_version"], env!("CARGO_PKG_VERSION"));
    assert!(hello["server_started_ms"].as_u64().is_some_and(|ms| ms > 1_700_000_000_000), "{hello}");

    wait_until("the stream's subscription", 5 * SECOND, || hub.subscribers() == 1).unwrap();
    let (other, mine) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    hub.publish(bottle_prompt(&other, "cam-a", 8000));
    hub.publish(bottle_prompt(&mine, "cam-b", 8000));
    seen.clear();
    read_until(&mut lines, &mut seen, &mine);
    assert!(seen.contains("event: prompt"), "{seen}");
    assert!(!seen.contains(&other), "another camera's prompt came through: {seen}");
    let data = seen.lines().find_map(|l| l.strip_prefix("data: ")).expect("prompt data");
    let prompt: StationPrompt = serde_json::from_str(data).unwrap();
    let mut expected = bottle_prompt(&mine, "cam-b", 8000);
    expected.captured_at_ms = prompt.captured_at_ms;
    assert_eq!(prompt, expected);
}

#[test]
fn station_stop_ends_open_streams_at_once() {
    let (_pictures, hub, server) = start_server();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(5 * SECOND)).unwrap();
    write!(stream, "GET /station/events HTTP/1.1\r\nHost: station\r\n\r\n").unwrap();
    let mut lines = BufReader::new(stream);
    read_until(&mut lines, &mut String::new(), "event: hello");
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < SECOND, "stop took {:?}", started.elapsed());
    assert_eq!(hub.subscribers(), 0);
    // The stream ends cleanly: the page sees it and reconnects.
    let mut rest = String::new();
    lines.read_to_string(&mut rest).unwrap();
}

#[test]
fn station_port_in_use_is_a_clear_error() {
    let (_pictures, hub, server) = start_server();
    let Err(e) = WebServer::start(server.local_addr(), hub) else { panic!("bound a port in use") };
    let message = e.to_string();
    assert!(message.contains(&server.local_addr().to_string()) && message.contains("[web] listen"), "{message}");
}
