//! The managers' pages (axum + server-rendered HTML, no CDN, one small
//! script). Every route but sign-in and the static files sits behind the
//! session middleware; every POST needs the session's CSRF token and a
//! same-origin `Origin`; every response carries a strict CSP.

mod handlers;
pub use handlers::send_feedback;
pub mod i18n;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::SignInLimiter;
use crate::config::WebConfig;
use crate::ingest::Schemas;
use crate::ingest::subscriber::{Brokers, IngestStats};
use crate::store::Store;
use crate::store::accounts::Session;
use i18n::Lang;

pub const SESSION_COOKIE: &str = "rc_session";
pub const LOGIN_COOKIE: &str = "rc_login";
pub const LANG_COOKIE: &str = "rc_lang";

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub brokers: Brokers,
    pub schemas: Arc<Schemas>,
    pub web: WebConfig,
    pub limiter: Arc<SignInLimiter>,
    pub stats: Arc<IngestStats>,
}

/// The signed-in user of a request, put there by the session middleware.
#[derive(Clone)]
pub struct Me {
    pub session: Session,
    pub lang: Lang,
    pub client: String,
}

pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/queue", get(handlers::queue))
        .route("/events/{id}", get(handlers::event))
        .route("/events/{id}/evidence.jpg", get(handlers::evidence))
        .route("/events/{id}/verdict", post(handlers::verdict))
        .route("/api/queue", get(handlers::api_queue))
        .route("/api/events/{id}/feedback", get(handlers::api_feedback))
        .route("/overview", get(handlers::overview))
        .route("/export", get(handlers::export_page))
        .route("/export/events.csv", get(handlers::export_csv))
        .route("/export/training.zip", get(handlers::export_training))
        .route("/admin", get(handlers::admin))
        .route("/admin/users", post(handlers::admin_user))
        .route("/logout", post(handlers::logout))
        .layer(middleware::from_fn_with_state(state.clone(), require_session));
    Router::new()
        .route("/login", get(handlers::login_page).post(handlers::login))
        .route("/lang/{code}", get(handlers::set_lang))
        .route("/static/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], include_str!("../../static/app.css")) }))
        .route("/favicon.ico", get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "max-age=86400")], FAVICON) }))
        .route("/static/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], include_str!("../../static/app.js")) }))
        .merge(protected)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b6e4f"/><path d="M4 8l3 3 5-6" stroke="#fff" stroke-width="2" fill="none"/></svg>"##;

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn lang_of(headers: &HeaderMap) -> Lang {
    match cookie(headers, LANG_COOKIE).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Zh,
    }
}

/// A cookie for this console: HttpOnly, SameSite=Strict, Secure unless configured off.
pub fn set_cookie(web: &WebConfig, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}")).expect("cookie values are hex")
}

fn client_of(req: &Request) -> String {
    req.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

/// A cross-site POST carries another origin: refuse it before any handler runs.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

async fn require_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let token = cookie(req.headers(), SESSION_COOKIE);
    let session = match token {
        Some(t) => match state.store.session(&t).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("session lookup failed: {e:#}");
                return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
            }
        },
        None => None,
    };
    let Some(session) = session else {
        if api || req.method() != Method::GET {
            tracing::warn!(client = %client_of(&req), method = %req.method(), path = %req.uri().path(), "request without a session refused");
            return (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"sign in first"}"#).into_response();
        }
        let next_path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        return Redirect::to(&format!("/login?next={}", url::form_urlencoded::byte_serialize(next_path.as_bytes()).collect::<String>())).into_response();
    };
    if req.method() == Method::POST && !same_origin(req.headers()) {
        tracing::warn!(user = %session.username, "cross-origin POST refused");
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let me = Me { lang: lang_of(req.headers()), client: client_of(&req), session };
    req.extensions_mut().insert(me);
    next.run(req).await
}

async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // same-origin, not no-referrer: with no-referrer, browsers send `Origin: null` on form posts.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Serves the pages until the process ends.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
