//! Chinese first, English available: every string the pages show, in both.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// (key, 中文, English)
const TEXTS: &[(&str, &str, &str)] = &[
    ("title", "无废固废 · 事件审核台", "Zero-waste · Review console"),
    ("nav.queue", "审核队列", "Review queue"),
    ("nav.overview", "站点概况", "Overview"),
    ("nav.export", "导出", "Export"),
    ("nav.admin", "管理", "Admin"),
    ("nav.logout", "退出", "Sign out"),
    ("login.title", "登录", "Sign in"),
    ("login.username", "用户名", "User name"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Sign in"),
    ("login.failed", "用户名或密码错误。", "Wrong user name or password."),
    ("login.limited", "尝试次数过多，请一分钟后再试。", "Too many attempts: try again in a minute."),
    ("login.expired", "表单已过期，请重新登录。", "The form expired: sign in again."),
    ("filter.site", "站点", "Site"),
    ("filter.device", "设备", "Device"),
    ("filter.kind", "类型", "Kind"),
    ("filter.verdict", "判定", "Verdict"),
    ("filter.review", "审核", "Review"),
    ("filter.from", "起", "From"),
    ("filter.to", "止", "To"),
    ("filter.all", "含常规事件", "Include routine events"),
    ("filter.apply", "筛选", "Filter"),
    ("filter.any", "全部", "Any"),
    ("queue.total", "条事件", "events"),
    ("queue.empty", "没有符合条件的事件。", "No events match."),
    ("queue.next", "更早 →", "Older →"),
    ("queue.first", "← 最新", "← Newest"),
    ("col.time", "时间", "Time"),
    ("col.where", "站点 / 设备 / 摄像头", "Site / device / camera"),
    ("col.kind", "类型", "Kind"),
    ("col.verdict", "判定", "Verdict"),
    ("col.what", "内容", "What"),
    ("col.confidence", "置信度", "Confidence"),
    ("col.review", "审核", "Review"),
    ("review.unreviewed", "待审核", "Not reviewed"),
    ("review.reviewed", "已审核", "Reviewed"),
    ("review.confirmed", "确认", "Confirmed"),
    ("review.false_alarm", "误报", "False alarm"),
    ("review.corrected", "更正类别", "Corrected category"),
    ("event.evidence", "证据图片", "Evidence"),
    ("event.no_evidence", "证据图片尚未到达。", "The evidence picture has not arrived."),
    ("event.bad_evidence", "收到的图片与事件不符，未显示。", "The picture received does not match the event; not shown."),
    ("event.facts", "事件信息", "Facts"),
    ("event.message", "提示", "Message"),
    ("event.item", "物品", "Item"),
    ("event.category", "类别", "Category"),
    ("event.bin", "投入的桶", "Bin used"),
    ("event.expected_bin", "应投入", "Right bin"),
    ("event.decided_by", "判定依据", "Decided by"),
    ("event.label_fields", "标签识别", "Label as read"),
    ("event.field", "字段", "Field"),
    ("event.value", "内容", "Value"),
    ("event.slip", "申报单", "Intake slip"),
    ("event.slip_missing", "审核台未收到该申报单。", "The console has not seen this slip."),
    ("event.findings", "发现问题", "Findings"),
    ("event.no_findings", "无", "None"),
    ("event.qr", "二维码", "QR code"),
    ("event.leak_area", "面积 (cm²)", "Area (cm²)"),
    ("event.leak_peak", "峰值面积 (cm²)", "Peak area (cm²)"),
    ("event.leak_growth", "扩散速度 (cm²/分钟)", "Growth (cm²/min)"),
    ("event.leak_open", "持续 (秒)", "Open for (s)"),
    ("event.leak_zone", "位置", "Where"),
    ("event.leak_container", "邻近容器", "Nearest container"),
    ("event.details", "完整数据", "All details"),
    ("event.provenance", "来源", "Provenance"),
    ("event.review", "审核结论", "Verdict"),
    ("event.reviewed_by", "审核人", "Reviewed by"),
    ("event.comment", "备注", "Comment"),
    ("event.label", "细类（可选）", "Fine label (optional)"),
    ("event.submit", "提交审核", "Submit verdict"),
    ("event.readonly", "只读账户不能提交审核。", "Viewers cannot give verdicts."),
    ("event.feedback", "回传设备", "Feedback to the device"),
    ("feedback.pending", "等待发送", "Waiting to be sent"),
    ("feedback.sent", "已发送，等待设备回复", "Sent; waiting for the device"),
    ("feedback.applied", "设备已采纳", "Applied by the device"),
    ("feedback.refused", "设备拒绝", "Refused by the device"),
    ("feedback.not_applicable", "此类事件不回传设备", "Not sent: the device learns from sorting items only"),
    ("feedback.none", "尚未审核", "Not reviewed yet"),
    ("saved", "已保存。", "Saved."),
    ("error.csrf", "请求未通过校验（CSRF），请刷新页面后重试。", "The request failed its CSRF check: reload the page and try again."),
    ("error.role", "您的角色无权执行此操作。", "Your role may not do this."),
    ("error.not_found", "未找到。", "Not found."),
    ("overview.devices", "设备", "Devices"),
    ("overview.state", "状态", "State"),
    ("overview.version", "版本", "Version"),
    ("overview.heartbeat", "最近心跳", "Last heartbeat"),
    ("overview.cameras", "摄像头在线", "Cameras streaming"),
    ("overview.backlog", "待发送（最久）", "Outbox backlog (oldest)"),
    ("overview.bins", "各桶混投率", "Contamination per bin"),
    ("overview.items", "投放", "Items"),
    ("overview.wrong", "错投", "Wrong"),
    ("overview.rate", "混投率", "Rate"),
    ("overview.per_day", "每日待审事件", "Flagged events per day"),
    ("overview.leaks", "未消除的泄漏", "Open leaks"),
    ("overview.no_leaks", "无未消除的泄漏。", "No open leaks."),
    ("state.online", "在线", "Online"),
    ("state.offline", "离线", "Offline"),
    ("state.silent", "失联（无心跳）", "Silent (no heartbeat)"),
    ("state.unknown", "未知", "Unknown"),
    ("state.will", "异常断开", "dropped (last will)"),
    ("export.title", "导出", "Export"),
    ("export.csv", "事件与审核结论 (CSV)", "Events and verdicts (CSV)"),
    ("export.training", "训练集（ImageFolder + 清单，ZIP）", "Training set (ImageFolder + manifest, zip)"),
    ("export.hint", "按北京时间日期，含起止两日。", "Dates in Beijing time, both days included."),
    ("export.download", "下载", "Download"),
    ("admin.users", "用户", "Users"),
    ("admin.role", "角色", "Role"),
    ("admin.disabled", "已停用", "Disabled"),
    ("admin.save_user", "保存用户", "Save user"),
    ("admin.audit", "审计日志", "Audit log"),
    ("admin.rejects", "被拒绝的消息", "Rejected messages"),
    ("admin.brokers", "MQTT 连接", "MQTT brokers"),
    ("admin.action", "操作", "Action"),
    ("admin.target", "对象", "Target"),
    ("admin.reason", "原因", "Reason"),
    ("admin.disable", "停用", "Disable"),
    ("role.viewer", "只读", "Viewer"),
    ("role.reviewer", "审核员", "Reviewer"),
    ("role.admin", "管理员", "Admin"),
    ("kind.sorting", "分拣投放", "Sorting"),
    ("kind.intake", "危废入库", "Intake"),
    ("kind.leak", "泄漏", "Leak"),
    ("kind.camera", "摄像头", "Camera"),
    ("kind.classification", "识别", "Classification"),
    ("kind.inspection", "巡检", "Inspection"),
    ("cat.kitchen", "厨余垃圾", "Kitchen waste"),
    ("cat.recyclable", "可回收物", "Recyclable"),
    ("cat.hazardous", "有害垃圾", "Hazardous"),
    ("cat.other", "其他垃圾", "Other waste"),
    ("verdict.misclassification", "投错桶", "Wrong bin"),
    ("verdict.unsure", "不确定", "Unsure"),
    ("verdict.accept", "通过", "Accepted"),
    ("verdict.review", "需复核", "Needs review"),
    ("verdict.reject", "拒收", "Rejected"),
    ("verdict.suspected", "疑似泄漏", "Suspected"),
    ("verdict.growing", "泄漏扩大", "Growing"),
    ("verdict.cleared", "已消除", "Cleared"),
    ("verdict.tampered", "被移动或遮挡", "Tampered"),
    ("verdict.degraded", "画质下降", "Degraded"),
    ("verdict.restored", "已恢复", "Restored"),
    ("verdict.classified", "已识别", "Classified"),
];

pub fn t(lang: Lang, key: &str) -> &'static str {
    match TEXTS.iter().find(|(k, _, _)| *k == key) {
        Some((_, zh, en)) => match lang {
            Lang::Zh => zh,
            Lang::En => en,
        },
        None => "?",
    }
}

/// A value's translation under `prefix.`, or the value itself when there is none.
pub fn term(lang: Lang, prefix: &str, value: &str) -> String {
    let key = format!("{prefix}.{value}");
    match TEXTS.iter().find(|(k, _, _)| *k == key) {
        Some(_) => t(lang, &key).to_string(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every literal key the pages and handlers ask for has its texts (a missing one shows "?").
    #[test]
    fn every_key_the_pages_use_exists() {
        let mut checked = 0;
        for file in ["pages.rs", "handlers.rs"] {
            let src = std::fs::read_to_string(format!("{}/src/web/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            for marker in ["t(lang, \"", "t(me.lang, \"", "&me, \""] {
                for (at, _) in src.match_indices(marker) {
                    let rest = &src[at + marker.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    assert!(TEXTS.iter().any(|(k, _, _)| *k == key), "{file}: no text for `{key}`");
                    checked += 1;
                }
            }
        }
        assert!(checked > 80, "found {checked} keys: the scan no longer matches the code");
    }

    #[test]
    fn every_text_exists_in_both_languages_once() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in TEXTS {
            assert!(seen.insert(*k), "{k} twice");
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(t(Lang::Zh, "cat.kitchen"), "厨余垃圾");
        assert_eq!(t(Lang::En, "no.such.key"), "?");
        assert_eq!(term(Lang::En, "verdict", "misclassification"), "Wrong bin");
        assert_eq!(term(Lang::En, "verdict", "something-new"), "something-new");
    }
}
