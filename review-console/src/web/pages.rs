//! The pages, rendered on the server with maud (every value escaped).

use std::sync::atomic::Ordering;

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::Me;
use super::handlers::QueueQuery;
use super::i18n::{Lang, t, term};
use crate::auth::Role;
use crate::export::format_beijing;
use crate::ingest::subscriber::IngestStats;
use crate::review::CATEGORIES;
use crate::store::accounts::{AuditEntry, RejectEntry, User};
use crate::store::overview::Overview;
use crate::store::queue::{EventDetail, QueuePage, QueueRow};

const KINDS: [&str; 6] = ["sorting", "intake", "leak", "camera", "inspection", "classification"];

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · " (t(lang, "title")) }
        link rel="stylesheet" href="/static/app.css";
        script src="/static/app.js" defer {}
    }
}

fn layout(me: &Me, title: &str, body: Markup) -> Markup {
    let lang = me.lang;
    html! {
        html lang=(lang.code()) {
            head { (head(lang, title)) }
            body {
                header.top {
                    strong.brand { (t(lang, "title")) }
                    nav {
                        a href="/queue" { (t(lang, "nav.queue")) }
                        a href="/overview" { (t(lang, "nav.overview")) }
                        a href="/export" { (t(lang, "nav.export")) }
                        @if me.session.role == Role::Admin { a href="/admin" { (t(lang, "nav.admin")) } }
                    }
                    span.me {
                        span #whoami { (me.session.username) " · " (t(lang, &format!("role.{}", me.session.role.as_str()))) }
                        a href="/lang/zh?next=/queue" lang="zh-CN" { "中文" }
                        a href="/lang/en?next=/queue" lang="en" { "English" }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(me.session.csrf);
                            button type="submit" { (t(lang, "nav.logout")) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn message(me: &Me, text: &str) -> Markup {
    layout(me, text, html! { p.problem { (text) } })
}

pub fn login(lang: Lang, token: &str, next: &str, error: Option<&str>) -> Markup {
    html! {
        html lang=(lang.code()) {
            head { (head(lang, t(lang, "login.title"))) }
            body.login {
                main {
                    h1 { (t(lang, "title")) }
                    @if let Some(e) = error { p.problem #login-error { (e) } }
                    form method="post" action="/login" {
                        input type="hidden" name="csrf" value=(token);
                        input type="hidden" name="next" value=(next);
                        label { (t(lang, "login.username")) input #username name="username" autocomplete="username" required maxlength="64"; }
                        label { (t(lang, "login.password")) input #password type="password" name="password" autocomplete="current-password" required maxlength="256"; }
                        button #sign-in type="submit" { (t(lang, "login.submit")) }
                    }
                    p.langs { a href="/lang/zh?next=/login" { "中文" } " · " a href="/lang/en?next=/login" { "English" } }
                }
            }
        }
    }
}

fn review_badge(lang: Lang, review: Option<&str>) -> Markup {
    match review {
        None => html! { span.badge.open { (t(lang, "review.unreviewed")) } },
        Some(r) => html! { span.badge class=(r) { (term(lang, "review", r)) } },
    }
}

fn what(lang: Lang, r: &QueueRow) -> Markup {
    html! {
        @if let Some(label) = &r.item_label { (label) " " }
        @if let Some(c) = &r.item_category { span.cat { "(" (term(lang, "cat", c)) ")" } }
        @if let Some(b) = &r.bin_category { " → " span.bin class=(b) { (term(lang, "cat", b)) } }
        @if r.item_label.is_none() && r.item_category.is_none() { @if let Some(m) = &r.message_zh { (m.chars().take(60).collect::<String>()) } }
    }
}

fn select(name: &str, lang: Lang, current: Option<&str>, options: &[(String, String)]) -> Markup {
    html! {
        select name=(name) {
            option value="" { (t(lang, "filter.any")) }
            @for (value, text) in options {
                option value=(value) selected[current == Some(value.as_str())] { (text) }
            }
        }
    }
}

pub fn queue(me: &Me, q: &QueueQuery, page: &QueuePage, devices: &[(String, String)]) -> Markup {
    let lang = me.lang;
    let mut sites: Vec<String> = devices.iter().map(|(s, _)| s.clone()).collect();
    sites.dedup();
    let site_opts: Vec<(String, String)> = sites.iter().map(|s| (s.clone(), s.clone())).collect();
    let device_opts: Vec<(String, String)> = devices.iter().map(|(s, d)| (d.clone(), format!("{s} / {d}"))).collect();
    let kind_opts: Vec<(String, String)> = KINDS.iter().map(|k| (k.to_string(), term(lang, "kind", k))).collect();
    let review_opts: Vec<(String, String)> = ["unreviewed", "reviewed", "confirmed", "false_alarm", "corrected"].iter().map(|r| (r.to_string(), term(lang, "review", r))).collect();
    let next_link = page.next.as_ref().map(|(ms, id)| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("site", &q.site), ("device", &q.device), ("kind", &q.kind), ("verdict", &q.verdict), ("review", &q.review), ("from", &q.from), ("to", &q.to), ("all", &q.all)] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("before_ms", &ms.to_string()).append_pair("before_id", id);
        format!("/queue?{}", pairs.finish())
    });
    layout(me, t(lang, "nav.queue"), html! {
        form.filters #filters method="get" action="/queue" {
            label { (t(lang, "filter.site")) (select("site", lang, q.site.as_deref(), &site_opts)) }
            label { (t(lang, "filter.device")) (select("device", lang, q.device.as_deref(), &device_opts)) }
            label { (t(lang, "filter.kind")) (select("kind", lang, q.kind.as_deref(), &kind_opts)) }
            label { (t(lang, "filter.verdict")) input name="verdict" value=(q.verdict.clone().unwrap_or_default()) maxlength="64" size="12"; }
            label { (t(lang, "filter.review")) (select("review", lang, q.review.as_deref(), &review_opts)) }
            label { (t(lang, "filter.from")) input type="date" name="from" value=(q.from.clone().unwrap_or_default()); }
            label { (t(lang, "filter.to")) input type="date" name="to" value=(q.to.clone().unwrap_or_default()); }
            label.check { input type="checkbox" name="all" value="1" checked[q.all.as_deref().is_some_and(|a| !a.is_empty())]; (t(lang, "filter.all")) }
            button type="submit" { (t(lang, "filter.apply")) }
        }
        p.count { span #total { (page.total) } " " (t(lang, "queue.total")) }
        @if page.rows.is_empty() {
            p.empty { (t(lang, "queue.empty")) }
        } @else {
            table.queue #queue {
                thead { tr {
                    th { (t(lang, "col.time")) } th { (t(lang, "col.where")) } th { (t(lang, "col.kind")) } th { (t(lang, "col.verdict")) }
                    th { (t(lang, "col.what")) } th { (t(lang, "col.confidence")) } th { (t(lang, "col.review")) }
                } }
                tbody {
                    @for r in &page.rows {
                        tr data-event=(r.event_id) class=(r.priority) {
                            td { a href={ "/events/" (r.event_id) } { (format_beijing(r.time_ms)) } }
                            td { (r.site) " / " (r.device_id) " / " (r.camera) }
                            td { (term(lang, "kind", &r.kind)) }
                            td { (term(lang, "verdict", &r.verdict)) }
                            td { (what(lang, r)) }
                            td.num { (format!("{:.0}%", r.confidence * 100.0)) }
                            td { (review_badge(lang, r.review.as_deref())) }
                        }
                    }
                }
            }
        }
        p.pager {
            @if q.before_ms.is_some() { a href="/queue" { (t(lang, "queue.first")) } " " }
            @if let Some(link) = next_link { a #older href=(link) { (t(lang, "queue.next")) } }
        }
    })
}

fn fact(label: &str, value: Markup) -> Markup {
    html! { tr { th { (label) } td { (value) } } }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map(|f| if f.fract() == 0.0 { format!("{f:.0}") } else { format!("{f:.2}") }).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

fn facts(lang: Lang, e: &EventDetail) -> Markup {
    let d = &e.payload["details"];
    html! {
        table.facts #facts {
            (fact(t(lang, "col.time"), html! { (format_beijing(e.row.time_ms)) }))
            (fact(t(lang, "col.where"), html! { (e.row.site) " / " (e.row.device_id) " / " (e.row.camera) }))
            (fact(t(lang, "col.kind"), html! { (term(lang, "kind", &e.row.kind)) " · " (term(lang, "verdict", &e.row.verdict)) }))
            (fact(t(lang, "col.confidence"), html! { (format!("{:.0}%", e.row.confidence * 100.0)) }))
            @if let Some(m) = &e.row.message_zh { (fact(t(lang, "event.message"), html! { (m) })) }
            @match e.row.kind.as_str() {
                "sorting" => {
                    (fact(t(lang, "event.item"), html! { span #item-label { (text_of(&d["item"]["label"])) } }))
                    (fact(t(lang, "event.category"), html! { (term(lang, "cat", d["item"]["category"].as_str().unwrap_or_default())) " · " (format!("{:.0}%", d["item"]["confidence"].as_f64().unwrap_or_default() * 100.0)) }))
                    (fact(t(lang, "event.bin"), html! { span #bin { (term(lang, "cat", d["bin"]["category"].as_str().unwrap_or_default())) } " (" (text_of(&d["bin"]["zone"])) ")" }))
                    (fact(t(lang, "event.expected_bin"), html! { (term(lang, "cat", d["expected_bin"]["category"].as_str().unwrap_or_default())) " (" (text_of(&d["expected_bin"]["zone"])) ")" }))
                    (fact(t(lang, "event.decided_by"), html! { (text_of(&d["item"]["decided_by"])) }))
                }
                "leak" => {
                    (fact(t(lang, "event.leak_area"), html! { span #leak-area { (text_of(&d["area_cm2"])) } }))
                    (fact(t(lang, "event.leak_peak"), html! { (text_of(&d["peak_area_cm2"])) }))
                    (fact(t(lang, "event.leak_growth"), html! { span #leak-growth { (text_of(&d["growth_cm2_per_min"])) } }))
                    (fact(t(lang, "event.leak_open"), html! { (text_of(&d["open_for_s"])) }))
                    (fact(t(lang, "event.leak_zone"), html! { (text_of(&d["location"]["zone"])) }))
                    (fact(t(lang, "event.leak_container"), html! { (text_of(&d["container"]["zone"])) " " (text_of(&d["container"]["distance_mm"])) " mm" }))
                }
                _ => {}
            }
        }
        @if e.row.kind == "intake" {
            h3 { (t(lang, "event.label_fields")) }
            table.fields #label-fields {
                tr { th { (t(lang, "event.field")) } th { (t(lang, "event.value")) } th { (t(lang, "col.confidence")) } }
                @for f in d["label"]["fields"].as_array().into_iter().flatten() {
                    tr class=(if f["well_formed"] == Value::Bool(false) { "bad" } else { "" }) {
                        td { (text_of(&f["field"])) } td { (text_of(&f["value"])) } td.num { (format!("{:.0}%", f["confidence"].as_f64().unwrap_or_default() * 100.0)) }
                    }
                }
            }
            p { (t(lang, "event.qr")) ": " (text_of(&d["qr"]["status"])) " " (text_of(&d["qr"]["id_code"])) }
            h3 { (t(lang, "event.slip")) " " (text_of(&d["slip_id"])) }
            @match &e.slip {
                Some(slip) => {
                    table.fields #slip {
                        @for (k, v) in slip.as_object().into_iter().flatten() { @if k != "request_id" { tr { th { (k) } td { (text_of(v)) } } } }
                    }
                }
                None => { @if !d["slip_id"].is_null() { p.muted { (t(lang, "event.slip_missing")) } } }
            }
            @if let Some(ledger) = d["ledger"].as_object() {
                table.fields { @for (k, v) in ledger { tr { th { (k) } td { (text_of(v)) } } } }
            }
            h3 { (t(lang, "event.findings")) }
            @let findings = d["findings"].as_array().cloned().unwrap_or_default();
            @if findings.is_empty() { p #findings { (t(lang, "event.no_findings")) } }
            @else {
                ul.findings #findings {
                    @for f in &findings {
                        li class=(text_of(&f["severity"])) {
                            strong { (text_of(&f["code"])) } " "
                            (if lang == Lang::Zh { text_of(&f["message_zh"]) } else { text_of(&f["message_en"]) })
                            @if !f["found"].is_null() || !f["expected"].is_null() { " (" (text_of(&f["found"])) " ≠ " (text_of(&f["expected"])) ")" }
                        }
                    }
                }
            }
        }
        details {
            summary { (t(lang, "event.details")) }
            pre { (serde_json::to_string_pretty(&e.payload).unwrap_or_default()) }
        }
    }
}

/// The device's reply as one line.
pub fn reply_text(lang: Lang, reply: &Value) -> String {
    if reply["ok"] == Value::Bool(true) {
        let r = &reply["result"];
        let mut parts = Vec::new();
        if let Some(enrolled) = r["enrolled"].as_bool() {
            parts.push(format!("enrolled: {enrolled}"));
        }
        for key in ["label", "category", "example_id", "enrollment_version"] {
            if !r[key].is_null() {
                let v = text_of(&r[key]);
                parts.push(if key == "category" { term(lang, "cat", &v) } else { format!("{key}: {v}") });
            }
        }
        parts.join(" · ")
    } else {
        format!("{}: {}", text_of(&reply["error"]["code"]), text_of(&reply["error"]["message"]))
    }
}

pub fn event(me: &Me, e: &EventDetail, saved: Option<&str>, problem: Option<&str>) -> Markup {
    let lang = me.lang;
    let title = format!("{} · {}", term(lang, "kind", &e.row.kind), term(lang, "verdict", &e.row.verdict));
    let fb_state = e.feedback_state.clone().unwrap_or_else(|| "none".into());
    layout(me, &title, html! {
        @if let Some(s) = saved { p.saved #saved { (s) } }
        @if let Some(p) = problem { p.problem #problem { (p) } }
        div.event {
            figure.evidence {
                @match &e.evidence {
                    Some((_, w, h, true)) => { img #evidence src={ "/events/" (e.row.event_id) "/evidence.jpg" } width=(w) height=(h) alt=(t(lang, "event.evidence")); }
                    Some((_, _, _, false)) => { p.problem { (t(lang, "event.bad_evidence")) } }
                    None => { p.muted #no-evidence { (t(lang, "event.no_evidence")) } }
                }
                figcaption { (e.row.event_id) " · seq " (e.seq) " · " (e.broker) }
            }
            section.facts { h2 { (t(lang, "event.facts")) } (facts(lang, e)) }
        }
        section.review #review {
            h2 { (t(lang, "event.review")) }
            p #current-review {
                (review_badge(lang, e.row.review.as_deref()))
                @if let Some(c) = &e.corrected_category { " → " (term(lang, "cat", c)) }
                @if let Some(l) = &e.corrected_label { " · " (l) }
                @if let Some(by) = &e.reviewer { " · " (t(lang, "event.reviewed_by")) " " (by) }
                @if let Some(ms) = e.reviewed_ms { " · " (format_beijing(ms)) }
                @if let Some(c) = &e.review_comment { br; (t(lang, "event.comment")) ": " (c) }
            }
            p #feedback data-state=(fb_state) data-url={ "/api/events/" (e.row.event_id) "/feedback" } {
                (t(lang, "event.feedback")) ": "
                span.state { (t(lang, &format!("feedback.{fb_state}"))) }
                " "
                span.reply { (e.feedback_reply.as_ref().map(|r| reply_text(lang, r)).unwrap_or_default()) }
            }
            @if me.session.role >= Role::Reviewer {
                form.verdict #verdict-form method="post" action={ "/events/" (e.row.event_id) "/verdict" } {
                    input type="hidden" name="csrf" value=(me.session.csrf);
                    fieldset {
                        @for v in ["confirmed", "false_alarm", "corrected"] {
                            label.radio { input type="radio" name="verdict" value=(v) id={ "verdict-" (v) } required checked[e.row.review.as_deref() == Some(v)]; (term(lang, "review", v)) }
                        }
                    }
                    label { (t(lang, "event.category"))
                        select name="category" #category {
                            option value="" { "—" }
                            @for c in CATEGORIES { option value=(c) selected[e.corrected_category.as_deref() == Some(c)] { (term(lang, "cat", c)) } }
                        }
                    }
                    label { (t(lang, "event.label")) input name="label" #label maxlength="32" value=(e.corrected_label.clone().unwrap_or_default()); }
                    label { (t(lang, "event.comment")) textarea name="comment" #comment maxlength="500" { (e.review_comment.clone().unwrap_or_default()) } }
                    button #submit-verdict type="submit" { (t(lang, "event.submit")) }
                }
            } @else {
                p.muted { (t(lang, "event.readonly")) }
            }
        }
    })
}

fn pct(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

pub fn overview(me: &Me, o: &Overview) -> Markup {
    let lang = me.lang;
    let max_day = o.per_day.values().flatten().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    layout(me, t(lang, "nav.overview"), html! {
        h2 { (t(lang, "overview.devices")) }
        table #devices {
            tr { th { (t(lang, "filter.site")) } th { (t(lang, "filter.device")) } th { (t(lang, "overview.state")) } th { (t(lang, "overview.version")) } th { (t(lang, "overview.heartbeat")) } th { (t(lang, "overview.cameras")) } th { (t(lang, "overview.backlog")) } }
            @for d in &o.devices {
                tr data-device=(d.device_id) {
                    td { (d.site) } td { (d.device_id) }
                    td { span.state class=(d.state) { (t(lang, &format!("state.{}", d.state))) }
                        @if d.state == "offline" && d.graceful == Some(false) { " (" (t(lang, "state.will")) ")" } }
                    td { (d.agent_version.clone().unwrap_or_default()) }
                    td { (d.heartbeat_ms.map(format_beijing).unwrap_or_else(|| "—".into())) }
                    td { @if let Some((up, all)) = d.cameras_streaming { (up) "/" (all) } @else { "—" } }
                    td.backlog { @if let Some(n) = d.outbox_depth { (n) @if let Some(s) = d.outbox_oldest_s { " (" (format!("{s:.0}")) " s)" } } @else { "—" } }
                }
            }
        }
        h2 { (t(lang, "overview.bins")) }
        table #bins {
            tr { th { (t(lang, "filter.device")) } th { "camera" } th { "zone" } th { (t(lang, "event.category")) } th { (t(lang, "overview.items")) } th { (t(lang, "overview.wrong")) } th { (t(lang, "overview.rate")) } }
            @for d in &o.devices { @for b in &d.bins {
                tr { td { (d.device_id) } td { (b.camera) } td { (b.zone) } td { span.bin class=(b.category) { (term(lang, "cat", &b.category)) } } td.num { (b.items) } td.num { (b.wrong) } td.num { (pct(b.contamination_rate)) } }
            } }
        }
        h2 { (t(lang, "overview.per_day")) }
        @for (site, days) in &o.per_day {
            h3 { (site) }
            table.days { @for (day, n) in days { tr { td { (day) } td.num { (n) } td.bar { span.bar style={ "width:" (n * 100 / max_day) "%" } {} } } } }
        }
        h2 { (t(lang, "overview.leaks")) }
        @if o.open_leaks.is_empty() { p #no-leaks { (t(lang, "overview.no_leaks")) } }
        @else {
            table #leaks {
                @for l in &o.open_leaks {
                    tr { td { a href={ "/events/" (l.event_id) } { (format_beijing(l.time_ms)) } } td { (l.site) " / " (l.device_id) " / " (l.camera) } td { (term(lang, "verdict", &l.verdict)) }
                        td { (l.zone.clone().unwrap_or_default()) } td.num { (l.area_cm2.map(|a| format!("{a:.0} cm²")).unwrap_or_default()) } td.num { (l.growth_cm2_per_min.map(|g| format!("{g:+.0} cm²/min")).unwrap_or_default()) } }
                }
            }
        }
    })
}

pub fn export(me: &Me, problem: Option<&str>) -> Markup {
    let lang = me.lang;
    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"));
    let first = today.format("%Y-%m-01").to_string();
    let day = today.format("%Y-%m-%d").to_string();
    layout(me, t(lang, "export.title"), html! {
        @if let Some(p) = problem { p.problem { (p) } }
        p.muted { (t(lang, "export.hint")) }
        h2 { (t(lang, "export.csv")) }
        form method="get" action="/export/events.csv" {
            input type="date" name="from" value=(first) required; " – " input type="date" name="to" value=(day) required;
            label.check { input type="checkbox" name="all" value="1"; (t(lang, "filter.all")) }
            button type="submit" { (t(lang, "export.download")) }
        }
        @if me.session.role >= Role::Reviewer {
            h2 { (t(lang, "export.training")) }
            form method="get" action="/export/training.zip" {
                input type="date" name="from" value=(first) required; " – " input type="date" name="to" value=(day) required;
                button type="submit" { (t(lang, "export.download")) }
            }
        }
    })
}

pub fn admin(me: &Me, users: &[User], audit: &[AuditEntry], rejects: &[RejectEntry], brokers: &[(String, bool)], stats: &IngestStats, problem: Option<&str>) -> Markup {
    let lang = me.lang;
    layout(me, t(lang, "nav.admin"), html! {
        @if let Some(p) = problem { p.problem #problem { (p) } }
        h2 { (t(lang, "admin.brokers")) }
        ul { @for (name, up) in brokers { li { (name) ": " span.state class=(if *up { "online" } else { "offline" }) { (t(lang, if *up { "state.online" } else { "state.offline" })) } } } }
        p #ingest-stats { "received " (stats.received.load(Ordering::Relaxed)) " · stored " (stats.stored.load(Ordering::Relaxed)) " · duplicates " (stats.duplicates.load(Ordering::Relaxed)) " · rejected " (stats.rejected.load(Ordering::Relaxed)) " · store errors " (stats.store_errors.load(Ordering::Relaxed)) }
        h2 { (t(lang, "admin.users")) }
        table #users {
            @for u in users { tr { td { (u.username) } td { (t(lang, &format!("role.{}", u.role.as_str()))) } td { @if u.disabled { (t(lang, "admin.disabled")) } } } }
        }
        form.inline-form method="post" action="/admin/users" {
            input type="hidden" name="csrf" value=(me.session.csrf);
            input name="username" placeholder=(t(lang, "login.username")) required maxlength="64";
            input name="password" type="password" placeholder=(t(lang, "login.password")) autocomplete="new-password" maxlength="256";
            select name="role" { @for r in ["viewer", "reviewer", "admin"] { option value=(r) { (t(lang, &format!("role.{r}"))) } } }
            button type="submit" name="action" value="save" { (t(lang, "admin.save_user")) }
            button type="submit" name="action" value="disable" { (t(lang, "admin.disable")) }
        }
        h2 { (t(lang, "admin.audit")) }
        table #audit {
            tr { th { (t(lang, "col.time")) } th { (t(lang, "login.username")) } th { (t(lang, "admin.action")) } th { (t(lang, "admin.target")) } th { "" } th { "client" } }
            @for a in audit { tr { td { (format_beijing(a.time_ms)) } td { (a.username) } td { (a.action) } td { (a.target.clone().unwrap_or_default()) } td.detail { (a.detail.clone().unwrap_or_default()) } td { (a.client.clone().unwrap_or_default()) } } }
        }
        h2 { (t(lang, "admin.rejects")) }
        table #rejects {
            tr { th { (t(lang, "col.time")) } th { "broker" } th { "topic" } th { (t(lang, "admin.reason")) } th { "bytes" } th { "sample" } }
            @for r in rejects { tr { td { (format_beijing(r.time_ms)) } td { (r.broker) } td { (r.topic) } td { (r.reason) } td.num { (r.size) } td { code { (r.sample) } } } }
        }
    })
}
