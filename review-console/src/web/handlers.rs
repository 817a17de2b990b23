//! Request handlers: check the input, call the store, render a page.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::i18n::t;
use super::{AppState, LANG_COOKIE, LOGIN_COOKIE, Me, SESSION_COOKIE, cookie, lang_of, pages, set_cookie};
use crate::auth::{self, Role};
use crate::export::{self, Period};
use crate::ingest::is_event_id;
use crate::review::{Review, label_feedback};
use crate::store::queue::QueueFilter;

fn internal(e: anyhow::Error) -> Response {
    tracing::error!("request failed: {e:#}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error: see the console's log").into_response()
}

fn refuse(status: StatusCode, me: &Me, key: &str) -> Response {
    (status, pages::message(me, t(me.lang, key))).into_response()
}

fn csrf_ok(me: &Me, token: &str) -> bool {
    auth::same_token(&me.session.csrf, token)
}

/// Only local paths: never a redirect to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/queue".into(),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    login_form(&state, &headers, q.next.as_deref(), None, StatusCode::OK)
}

/// The sign-in form. Its token is kept while the browser has one, so a second
/// tab (or any request that lands here) does not invalidate the first form.
fn login_form(state: &AppState, headers: &HeaderMap, next: Option<&str>, error: Option<&str>, status: StatusCode) -> Response {
    let lang = lang_of(headers);
    let token = cookie(headers, LOGIN_COOKIE).filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit())).unwrap_or_else(auth::random_token);
    let mut res = (status, pages::login(lang, &token, &safe_next(next), error)).into_response();
    res.headers_mut().append(header::SET_COOKIE, set_cookie(&state.web, LOGIN_COOKIE, &token, 1800));
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

pub async fn login(State(state): State<AppState>, ConnectInfo(addr): ConnectInfo<SocketAddr>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let lang = lang_of(&headers);
    let username: String = f.username.trim().chars().take(64).collect();
    let client = addr.ip().to_string();
    // The form's token must match the cookie set with it (a login-CSRF guard).
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| auth::same_token(&c, &f.csrf)) {
        tracing::warn!(client, "sign-in without its form token refused");
        return login_form(&state, &headers, f.next.as_deref(), Some(t(lang, "login.expired")), StatusCode::FORBIDDEN);
    }
    if !state.limiter.allow(addr.ip(), &username) {
        tracing::warn!(client, user = %username, "sign-in rate limit reached");
        let _ = state.store.audit(&username, "sign_in_limited", None, None, &client).await;
        return login_form(&state, &headers, f.next.as_deref(), Some(t(lang, "login.limited")), StatusCode::TOO_MANY_REQUESTS);
    }
    match state.store.check_password(&username, &f.password).await {
        Ok(Some(user)) => match state.store.create_session(&user.username, state.web.session_hours).await {
            Ok((token, _csrf)) => {
                let _ = state.store.audit(&user.username, "sign_in", None, None, &client).await;
                let mut res = Redirect::to(&safe_next(f.next.as_deref())).into_response();
                res.headers_mut().append(header::SET_COOKIE, set_cookie(&state.web, SESSION_COOKIE, &token, state.web.session_hours as i64 * 3600));
                res.headers_mut().append(header::SET_COOKIE, set_cookie(&state.web, LOGIN_COOKIE, "", 0));
                res
            }
            Err(e) => internal(e),
        },
        Ok(None) => {
            tracing::warn!(client, user = %username, "sign-in failed");
            let _ = state.store.audit(&username, "sign_in_failed", None, None, &client).await;
            login_form(&state, &headers, f.next.as_deref(), Some(t(lang, "login.failed")), StatusCode::UNAUTHORIZED)
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(State(state): State<AppState>, Extension(me): Extension<Me>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    if !csrf_ok(&me, &f.csrf) {
        return refuse(StatusCode::FORBIDDEN, &me, "error.csrf");
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let _ = state.store.end_session(&token).await;
    }
    let _ = state.store.audit(&me.session.username, "sign_out", None, None, &me.client).await;
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(header::SET_COOKIE, set_cookie(&state.web, SESSION_COOKIE, "", 0));
    res
}

pub async fn set_lang(State(state): State<AppState>, Path(code): Path<String>, Query(q): Query<LoginQuery>) -> Response {
    let code = if code == "en" { "en" } else { "zh" };
    let mut res = Redirect::to(&safe_next(q.next.as_deref())).into_response();
    res.headers_mut().append(header::SET_COOKIE, set_cookie(&state.web, LANG_COOKIE, code, 365 * 86400));
    res
}

/// The queue's query string: dates as YYYY-MM-DD (Beijing), the rest as in `QueueFilter`.
#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    pub site: Option<String>,
    pub device: Option<String>,
    pub kind: Option<String>,
    pub verdict: Option<String>,
    pub review: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub all: Option<String>,
    pub before_ms: Option<i64>,
    pub before_id: Option<String>,
}

impl QueueQuery {
    pub fn filter(&self) -> QueueFilter {
        let date = |d: &Option<String>| d.as_deref().filter(|s| !s.is_empty()).and_then(export::beijing_midnight);
        let clip = |v: &Option<String>| v.as_ref().map(|s| s.chars().take(64).collect::<String>());
        QueueFilter {
            site: clip(&self.site),
            device: clip(&self.device),
            kind: clip(&self.kind),
            verdict: clip(&self.verdict),
            review: clip(&self.review),
            from_ms: date(&self.from),
            to_ms: date(&self.to).map(|t| t + 86_400_000),
            all: self.all.as_deref().is_some_and(|a| !a.is_empty() && a != "0"),
            before_ms: self.before_ms,
            before_id: self.before_id.as_ref().filter(|id| is_event_id(id)).cloned(),
        }
    }
}

pub async fn queue(State(state): State<AppState>, Extension(me): Extension<Me>, Query(q): Query<QueueQuery>) -> Response {
    let filter = q.filter();
    let page = match state.store.queue(&filter).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let devices = state.store.devices_known().await.unwrap_or_default();
    pages::queue(&me, &q, &page, &devices).into_response()
}

pub async fn api_queue(State(state): State<AppState>, Query(q): Query<QueueQuery>) -> Response {
    match state.store.queue(&q.filter()).await {
        Ok(p) => Json(p).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize, Default)]
pub struct EventQuery {
    saved: Option<String>,
}

pub async fn event(State(state): State<AppState>, Extension(me): Extension<Me>, Path(id): Path<String>, Query(q): Query<EventQuery>) -> Response {
    if !is_event_id(&id) {
        return refuse(StatusCode::NOT_FOUND, &me, "error.not_found");
    }
    match state.store.event(&id).await {
        Ok(Some(e)) => pages::event(&me, &e, q.saved.is_some().then(|| t(me.lang, "saved")), None).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, &me, "error.not_found"),
        Err(e) => internal(e),
    }
}

pub async fn evidence(State(state): State<AppState>, Extension(me): Extension<Me>, Path(id): Path<String>) -> Response {
    if !is_event_id(&id) {
        return refuse(StatusCode::NOT_FOUND, &me, "error.not_found");
    }
    match state.store.evidence_jpeg(&id).await {
        Ok(Some(jpeg)) => ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=86400")], jpeg).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, &me, "error.not_found"),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub struct VerdictForm {
    csrf: String,
    verdict: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    comment: String,
}

pub async fn verdict(State(state): State<AppState>, Extension(me): Extension<Me>, Path(id): Path<String>, Form(f): Form<VerdictForm>) -> Response {
    if !csrf_ok(&me, &f.csrf) {
        tracing::warn!(user = %me.session.username, event = %id, "verdict without a valid CSRF token refused");
        return refuse(StatusCode::FORBIDDEN, &me, "error.csrf");
    }
    if me.session.role < Role::Reviewer {
        return refuse(StatusCode::FORBIDDEN, &me, "error.role");
    }
    if !is_event_id(&id) {
        return refuse(StatusCode::NOT_FOUND, &me, "error.not_found");
    }
    let event = match state.store.event(&id).await {
        Ok(Some(e)) => e,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, &me, "error.not_found"),
        Err(e) => return internal(e),
    };
    let review = match Review::from_form(&f.verdict, &f.category, &f.label, &f.comment) {
        Ok(r) => r,
        Err(problem) => return (StatusCode::BAD_REQUEST, pages::event(&me, &event, None, Some(&problem))).into_response(),
    };
    let request_id = format!("review-{}", uuid::Uuid::now_v7().simple());
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let command = match label_feedback(&event.payload, &review, &request_id, &me.session.username, &now) {
        Ok(cmd) => match state.schemas.check("cmd-label-feedback", &cmd) {
            Ok(()) => Some(cmd.to_string()),
            Err(problem) => return (StatusCode::BAD_REQUEST, pages::event(&me, &event, None, Some(&problem))).into_response(),
        },
        Err(_) => None,
    };
    match state.store.record_review(&id, &review, &me.session.username, command.as_deref().map(|c| (request_id.as_str(), c)), &me.client).await {
        Ok(true) => {}
        Ok(false) => return refuse(StatusCode::NOT_FOUND, &me, "error.not_found"),
        Err(e) => return internal(e),
    }
    tracing::info!(user = %me.session.username, event = %id, verdict = review.verdict.as_str(), "verdict recorded");
    if let Some(cmd) = command {
        send_feedback(&state, &id, &event.broker, &event.row.site, &event.row.device_id, cmd).await;
    }
    Redirect::to(&format!("/events/{id}?saved=1")).into_response()
}

/// Hands a feedback command to the broker; the resend loop retries what does not go out.
pub async fn send_feedback(state: &AppState, event_id: &str, broker: &str, site: &str, device: &str, command: String) {
    match state.brokers.send_command(broker, site, device, "label-feedback", command).await {
        Ok(()) => {
            if let Err(e) = state.store.feedback_sent(event_id).await {
                tracing::error!(event = %event_id, "cannot mark feedback as sent: {e:#}");
            }
        }
        Err(e) => tracing::warn!(event = %event_id, "feedback not sent yet: {e:#}; it will be retried"),
    }
}

pub async fn api_feedback(State(state): State<AppState>, Extension(me): Extension<Me>, Path(id): Path<String>) -> Response {
    if !is_event_id(&id) {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such event"}))).into_response();
    }
    // Polled every second while a reply is awaited: only the two columns it needs.
    match state.store.feedback(&id).await {
        Ok(Some((feedback_state, reply))) => {
            let state_key = feedback_state.unwrap_or_else(|| "none".into());
            Json(json!({
                "state": state_key,
                "state_text": t(me.lang, &format!("feedback.{state_key}")),
                "reply_text": reply.as_ref().map(|r| pages::reply_text(me.lang, r)).unwrap_or_default(),
                "reply": reply,
            }))
            .into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, Json(json!({"error": "no such event"}))).into_response(),
        Err(e) => internal(e),
    }
}

pub async fn overview(State(state): State<AppState>, Extension(me): Extension<Me>) -> Response {
    match state.store.overview(14).await {
        Ok(o) => pages::overview(&me, &o).into_response(),
        Err(e) => internal(e),
    }
}

pub async fn export_page(Extension(me): Extension<Me>) -> Response {
    pages::export(&me, None).into_response()
}

#[derive(Deserialize)]
pub struct PeriodQuery {
    from: String,
    to: String,
    all: Option<String>,
}

pub async fn export_csv(State(state): State<AppState>, Extension(me): Extension<Me>, Query(q): Query<PeriodQuery>) -> Response {
    let period = match Period::parse(&q.from, &q.to) {
        Ok(p) => p,
        Err(problem) => return (StatusCode::BAD_REQUEST, pages::export(&me, Some(&problem))).into_response(),
    };
    let all = q.all.as_deref().is_some_and(|a| !a.is_empty());
    match export::events_csv(&state.store, period, all).await {
        Ok(csv) => {
            let _ = state.store.audit(&me.session.username, "export_csv", None, Some(&format!("{} .. {}", q.from, q.to)), &me.client).await;
            let name = format!("attachment; filename=\"events-{}-{}.csv\"", digits(&q.from), digits(&q.to));
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], csv).into_response()
        }
        Err(e) => internal(e),
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_digit()).take(8).collect()
}

pub async fn export_training(State(state): State<AppState>, Extension(me): Extension<Me>, Query(q): Query<PeriodQuery>) -> Response {
    if me.session.role < Role::Reviewer {
        return refuse(StatusCode::FORBIDDEN, &me, "error.role");
    }
    let period = match Period::parse(&q.from, &q.to) {
        Ok(p) => p,
        Err(problem) => return (StatusCode::BAD_REQUEST, pages::export(&me, Some(&problem))).into_response(),
    };
    match export::training_zip(&state.store, period).await {
        Ok((zip, n)) => {
            let _ = state.store.audit(&me.session.username, "export_training", None, Some(&format!("{} .. {}: {n} pictures", q.from, q.to)), &me.client).await;
            let name = format!("attachment; filename=\"training-{}-{}.zip\"", digits(&q.from), digits(&q.to));
            ([(header::CONTENT_TYPE, "application/zip".to_string()), (header::CONTENT_DISPOSITION, name)], zip).into_response()
        }
        Err(e) => internal(e),
    }
}

pub async fn admin(State(state): State<AppState>, Extension(me): Extension<Me>) -> Response {
    if me.session.role < Role::Admin {
        return refuse(StatusCode::FORBIDDEN, &me, "error.role");
    }
    let (users, audit, rejects) = match (state.store.users().await, state.store.audit_log(200).await, state.store.rejects(100).await) {
        (Ok(u), Ok(a), Ok(r)) => (u, a, r),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(e),
    };
    pages::admin(&me, &users, &audit, &rejects, &state.brokers.names(), &state.stats, None).into_response()
}

#[derive(Deserialize)]
pub struct UserForm {
    csrf: String,
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    action: String,
}

pub async fn admin_user(State(state): State<AppState>, Extension(me): Extension<Me>, Form(f): Form<UserForm>) -> Response {
    if !csrf_ok(&me, &f.csrf) {
        return refuse(StatusCode::FORBIDDEN, &me, "error.csrf");
    }
    if me.session.role < Role::Admin {
        return refuse(StatusCode::FORBIDDEN, &me, "error.role");
    }
    let username = f.username.trim().to_string();
    let result = if f.action == "disable" {
        if username == me.session.username {
            Err("you cannot disable yourself".to_string())
        } else {
            state.store.set_disabled(&username, true).await.map_err(|e| format!("{e:#}")).and_then(|found| if found { Ok(()) } else { Err(format!("no user {username}")) })
        }
    } else {
        match Role::parse(&f.role) {
            Some(role) => state.store.put_user(&username, &f.password, role).await.map_err(|e| format!("{e:#}")),
            None => Err("role: viewer, reviewer or admin".into()),
        }
    };
    match result {
        Ok(()) => {
            let action = if f.action == "disable" { "user_disabled" } else { "user_saved" };
            let _ = state.store.audit(&me.session.username, action, Some(&username), Some(&f.role), &me.client).await;
            Redirect::to("/admin").into_response()
        }
        Err(problem) => {
            let (users, audit, rejects) = (state.store.users().await.unwrap_or_default(), state.store.audit_log(200).await.unwrap_or_default(), state.store.rejects(100).await.unwrap_or_default());
            (StatusCode::BAD_REQUEST, pages::admin(&me, &users, &audit, &rejects, &state.brokers.names(), &state.stats, Some(&problem))).into_response()
        }
    }
}

