//! The sorting-station screen: prompts for the attendant when an item lands in
//! the wrong bin, pushed live to every open page over Server-Sent Events.

use crate::waste::WasteCategory;
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// The page, self-contained (no network beyond this server).
pub const STATION_HTML: &str = include_str!("station.html");

/// A wrong item: the page shows a firm prompt in the colour of the right bin.
pub const VERDICT_MISCLASSIFICATION: &str = "misclassification";
/// The model is not sure: the page shows a gentle hint, never an accusation.
pub const VERDICT_UNSURE: &str = "unsure";

/// Prompts waiting for a slow screen; older ones are skipped, not queued forever.
const BACKLOG: usize = 32;
/// The browser's reconnect delay after the stream drops.
const RETRY: Duration = Duration::from_millis(2000);
/// Comments that keep idle connections (and any proxy) from timing out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StationPrompt {
    /// Event id (UUID string).
    pub id: String,
    pub camera: String,
    /// [`VERDICT_MISCLASSIFICATION`] or [`VERDICT_UNSURE`].
    pub verdict: String,
    pub item: PromptItem,
    /// The bin the item went into.
    pub bin: PromptBin,
    /// Where it should go (`zone` is "" when the station has no such bin).
    pub expected_bin: PromptBin,
    /// e.g. "塑料瓶 → 可回收物 · 蓝色桶".
    pub headline_zh: String,
    /// e.g. "请将塑料瓶投入蓝色可回收物桶".
    pub message_zh: String,
    /// Why, for tricky Beijing rules, e.g. "大棒骨质地坚硬，属于其他垃圾".
    pub hint_zh: Option<String>,
    /// URL path of the item's picture, e.g. "/station/items/<id>.jpg".
    pub picture: Option<String>,
    /// Capture time of the frame the item landed in (Unix ms).
    pub captured_at_ms: u64,
    /// The page clears the prompt by itself after this long.
    pub clear_after_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptItem {
    pub label_zh: String,
    /// kitchen | recyclable | hazardous | other
    pub category: String,
    pub category_zh: String,
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptBin {
    pub zone: String,
    /// kitchen | recyclable | hazardous | other
    pub category: String,
    pub category_zh: String,
    /// green | blue | red | grey
    pub colour: String,
    /// 绿色 | 蓝色 | 红色 | 灰色
    pub colour_zh: String,
}

impl PromptBin {
    /// The bin for a Beijing category code, with its Chinese names and colour;
    /// `None` for an unknown code.
    pub fn for_category(zone: &str, category: &str) -> Option<PromptBin> {
        WasteCategory::ALL.into_iter().find(|c| c.code() == category).map(|c| Self::of(zone, c))
    }

    /// The bin for a category, named and coloured as `WasteCategory` says.
    pub fn of(zone: &str, category: WasteCategory) -> PromptBin {
        PromptBin {
            zone: zone.into(),
            category: category.code().into(),
            category_zh: category.name_zh().into(),
            colour: category.bin_colour().into(),
            colour_zh: category.bin_colour_zh().into(),
        }
    }

    /// "蓝色可回收物桶", as an attendant says it.
    fn spoken(&self) -> String {
        format!("{}{}桶", self.colour_zh, self.category_zh)
    }
}

/// The standard Chinese headline and message for a verdict: firm for a wrong
/// item, a question for an unsure one.
pub fn wording_zh(verdict: &str, item: &PromptItem, expected: &PromptBin) -> (String, String) {
    let label = &item.label_zh;
    let no_bin = expected.zone.is_empty();
    if verdict == VERDICT_UNSURE {
        let headline = format!("请确认：可能是{label}");
        let message = if no_bin {
            format!("如是{label}，属于{}，请交给值守人员", expected.category_zh)
        } else {
            format!("如是{label}，请投入{}", expected.spoken())
        };
        return (headline, message);
    }
    let headline = format!("{label} → {} · {}桶", expected.category_zh, expected.colour_zh);
    let message = if no_bin {
        format!("本站没有{}桶，请将{label}交给值守人员", expected.category_zh)
    } else {
        format!("请将{label}投入{}", expected.spoken())
    };
    (headline, message)
}

/// Names the picture route serves: `<uuid>.jpg`, lower-case hex. Nothing
/// else can reach the disk, so no path can climb out of the folder.
pub fn is_picture_name(name: &str) -> bool {
    name.len() == 40
        && name.ends_with(".jpg")
        && name[..36].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
}

/// One prompt, serialised once for all screens.
#[derive(Debug)]
struct Published {
    camera: String,
    json: String,
}

/// Fan-out of prompts to every connected screen; cheap to clone; publish never blocks.
#[derive(Debug, Clone)]
pub struct StationHub {
    tx: broadcast::Sender<Arc<Published>>,
    pictures_dir: Arc<Path>,
}

impl StationHub {
    /// `pictures_dir` holds the items' `<uuid>.jpg` pictures.
    pub fn new(pictures_dir: PathBuf) -> Self {
        let (tx, _) = broadcast::channel(BACKLOG);
        Self { tx, pictures_dir: pictures_dir.into() }
    }

    /// Sends to every connected screen; with none connected the prompt is dropped.
    pub fn publish(&self, prompt: StationPrompt) {
        let json = match serde_json::to_string(&prompt) {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!(id = %prompt.id, "station prompt not sent: {e}");
                return;
            }
        };
        let screens = self.tx.send(Arc::new(Published { camera: prompt.camera, json })).unwrap_or(0);
        tracing::debug!(id = %prompt.id, screens, "station prompt published");
    }

    /// Screens connected now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    pub fn pictures_dir(&self) -> &Path {
        &self.pictures_dir
    }

    /// One screen's event stream: a hello, then the prompts (for `camera`
    /// only, when given) until `stop` resolves.
    pub fn events<F>(
        &self,
        camera: Option<String>,
        hello: Hello,
        stop: F,
    ) -> impl Stream<Item = Result<Event, Infallible>> + Send + use<F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let hello = serde_json::to_string(&hello).unwrap_or_else(|_| "{}".into());
        PromptStream {
            hello: Some(Event::default().retry(RETRY).event("hello").data(hello)),
            prompts: BroadcastStream::new(self.tx.subscribe()),
            camera: camera.filter(|c| !c.is_empty()),
            stop: Some(Box::pin(stop)),
        }
    }
}

/// The first event on every stream; a new `server_started_ms` tells the page
/// the agent restarted.
#[derive(Debug, Clone, Serialize)]
pub struct Hello {
    pub agent_version: &'static str,
    pub server_started_ms: u64,
}

struct PromptStream {
    hello: Option<Event>,
    prompts: BroadcastStream<Arc<Published>>,
    camera: Option<String>,
    /// `None` once stopped: the stream has ended for good.
    stop: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Stream for PromptStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Ending the stream lets the server shut down gracefully; the page reconnects.
        let Some(stop) = this.stop.as_mut() else { return Poll::Ready(None) };
        if stop.as_mut().poll(cx).is_ready() {
            this.stop = None;
            return Poll::Ready(None);
        }
        if let Some(hello) = this.hello.take() {
            return Poll::Ready(Some(Ok(hello)));
        }
        loop {
            match Pin::new(&mut this.prompts).poll_next(cx) {
                Poll::Ready(Some(Ok(prompt))) => {
                    if this.camera.as_deref().is_none_or(|c| c == prompt.camera) {
                        return Poll::Ready(Some(Ok(Event::default().event("prompt").data(&prompt.json))));
                    }
                }
                // A slow screen skips what it missed; the newest prompt is what matters.
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                    tracing::debug!(missed, "station screen lagged; skipped prompts");
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[derive(Clone)]
struct StationState {
    hub: Arc<StationHub>,
    started_ms: u64,
    stop: watch::Receiver<bool>,
}

/// `/station`, its events and its pictures.
pub(super) fn routes(hub: Arc<StationHub>, started_ms: u64, stop: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/station", get(page))
        .route("/station/events", get(events))
        .route("/station/items/{name}", get(picture))
        .with_state(StationState { hub, started_ms, stop })
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(STATION_HTML))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    camera: Option<String>,
}

async fn events(State(state): State<StationState>, Query(query): Query<EventsQuery>) -> impl IntoResponse {
    let hello = Hello { agent_version: env!("CARGO_PKG_VERSION"), server_started_ms: state.started_ms };
    let mut stop = state.stop;
    let stop = async move {
        // A dropped sender means the server is gone: stop as well.
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    Sse::new(state.hub.events(query.camera, hello, stop)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

async fn picture(State(state): State<StationState>, UrlPath(name): UrlPath<String>) -> Response {
    if !is_picture_name(&name) {
        return (StatusCode::BAD_REQUEST, "picture names are <uuid>.jpg\n").into_response();
    }
    let path = state.hub.pictures_dir().join(&name);
    match tokio::fs::read(&path).await {
        // Pictures are named by event id and never rewritten.
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "max-age=86400")], bytes).into_response()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, "no such picture\n").into_response()
        }
        Err(e) => {
            tracing::warn!("station picture {}: {e}", path.display());
            (StatusCode::INTERNAL_SERVER_ERROR, "picture unreadable\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn prompt(id: &str, camera: &str) -> StationPrompt {
        let item = PromptItem {
            label_zh: "塑料瓶".into(),
            category: "recyclable".into(),
            category_zh: "可回收物".into(),
            confidence: 0.93,
        };
        let expected = PromptBin::for_category("B", "recyclable").unwrap();
        let (headline_zh, message_zh) = wording_zh(VERDICT_MISCLASSIFICATION, &item, &expected);
        StationPrompt {
            id: id.into(),
            camera: camera.into(),
            verdict: VERDICT_MISCLASSIFICATION.into(),
            item,
            bin: PromptBin::for_category("A", "kitchen").unwrap(),
            expected_bin: expected,
            headline_zh,
            message_zh,
            hint_zh: None,
            picture: None,
            captured_at_ms: 1,
            clear_after_ms: 8000,
        }
    }

    fn hello() -> Hello {
        Hello { agent_version: "0", server_started_ms: 7 }
    }

    #[test]
    fn picture_names() {
        assert!(is_picture_name("0196f3c4-9a5b-7cde-8f01-23456789abcd.jpg"));
        for bad in [
            "../../etc/passwd",
            "0196F3C4-9A5B-7CDE-8F01-23456789ABCD.jpg",
            "0196f3c4-9a5b-7cde-8f01-23456789abcd.png",
            "/196f3c4-9a5b-7cde-8f01-23456789abcd.jpg",
            "0196f3c4-9a5b-7cde-8f01-23456789abc.jpg",
            "..........................................jpg",
            "",
        ] {
            assert!(!is_picture_name(bad), "{bad}");
        }
    }

    #[test]
    fn wording() {
        let p = prompt("x", "cam");
        assert_eq!(p.headline_zh, "塑料瓶 → 可回收物 · 蓝色桶");
        assert_eq!(p.message_zh, "请将塑料瓶投入蓝色可回收物桶");
        let (headline, message) = wording_zh(VERDICT_UNSURE, &p.item, &p.expected_bin);
        assert_eq!(headline, "请确认：可能是塑料瓶");
        assert_eq!(message, "如是塑料瓶，请投入蓝色可回收物桶");
        let mut nowhere = p.expected_bin.clone();
        nowhere.zone.clear();
        let (_, message) = wording_zh(VERDICT_MISCLASSIFICATION, &p.item, &nowhere);
        assert!(message.contains("值守人员"), "{message}");
    }

    #[tokio::test]
    async fn stream_filters_by_camera_skips_lag_and_stops() {
        let hub = StationHub::new(PathBuf::from("/nonexistent"));
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let stop = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        let mut events = Box::pin(hub.events(Some("cam-b".into()), hello(), stop));
        assert_eq!(hub.subscribers(), 1);
        // Far more than the backlog: the stream must skip, not end.
        for i in 0..(BACKLOG * 3) {
            hub.publish(prompt(&format!("a{i}"), "cam-a"));
            hub.publish(prompt(&format!("b{i}"), "cam-b"));
        }
        let text = |e: Event| format!("{e:?}");
        let first = text(events.next().await.unwrap().unwrap());
        assert!(first.contains("hello") && first.contains("retry"), "{first}");
        let next = text(events.next().await.unwrap().unwrap());
        assert!(next.contains("cam-b") && !next.contains("cam-a"), "{next}");
        stop_tx.send_replace(true);
        assert!(events.next().await.is_none());
        hub.publish(prompt("late", "cam-b"));
        assert!(events.next().await.is_none(), "ended for good");
    }
}
