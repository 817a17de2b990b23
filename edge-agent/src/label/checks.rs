//! The intake checks (GB 18597-2023 §8.2.1; 转移管理办法 Art. 12/13/18): the
//! label against itself, the catalogue, its QR code and the declared slip.
//! Each finding has a stable machine code, a severity, and a message in
//! Chinese and English; the worst severity decides the verdict.

use super::catalogue::Catalogue;
use super::fields::LabelField;
use super::idcode::{IdCodeLayout, is_valid_credit_code};
use super::parse::{ParsedLabel, canonical_category, canonical_waste_code};
use super::qr::{QrFormat, QrPayload};
use crate::mqtt::commands::IntakeSlip;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; does not stop the intake.
    Info,
    /// A person must look before the container is accepted.
    Warning,
    /// The container must not be accepted as declared.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Review,
    Reject,
}

impl Verdict {
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Accept => "通过",
            Self::Review => "人工复核",
            Self::Reject => "拒收",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable machine code, e.g. `code.unknown`.
    pub code: &'static str,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<LabelField>,
    pub message_zh: String,
    pub message_en: String,
    /// What the label (or QR code) says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// What it should say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// `[tasks.intake]` check settings, also used by `inspect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    /// A label weight within this share of the slip's passes (0.05 = 5 %) ...
    #[serde(default = "default_weight_pct")]
    pub weight_tolerance: f64,
    /// ... or within this many kilograms, whichever is larger.
    #[serde(default = "default_weight_kg")]
    pub weight_tolerance_kg: f64,
    /// Fields read below this confidence go to a person.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f32,
    /// Names (waste, company) this similar (0..1, edit distance) count as the same.
    #[serde(default = "default_name_similarity")]
    pub name_similarity: f64,
    /// The same for company names, stricter: firms in one park share most of their names.
    #[serde(default = "default_company_similarity")]
    pub company_similarity: f64,
    /// Labels without a readable QR code go to a person (HJ 1276 labels carry
    /// one; without it the printed text cannot be checked against it).
    #[serde(default = "default_true")]
    pub require_qr: bool,
    #[serde(default)]
    pub qr: QrFormat,
    #[serde(default)]
    pub id_code: IdCodeLayout,
}

fn default_weight_pct() -> f64 {
    0.05
}
fn default_weight_kg() -> f64 {
    0.5
}
fn default_min_confidence() -> f32 {
    0.6
}
fn default_name_similarity() -> f64 {
    0.6
}
fn default_true() -> bool {
    true
}
fn default_company_similarity() -> f64 {
    0.85
}

impl Default for CheckSettings {
    fn default() -> Self {
        Self {
            weight_tolerance: default_weight_pct(),
            weight_tolerance_kg: default_weight_kg(),
            min_confidence: default_min_confidence(),
            name_similarity: default_name_similarity(),
            company_similarity: default_company_similarity(),
            require_qr: true,
            qr: QrFormat::default(),
            id_code: IdCodeLayout::default(),
        }
    }
}

impl CheckSettings {
    /// Setting errors as (key, message).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut bad = Vec::new();
        if !(0.0..=1.0).contains(&self.weight_tolerance) {
            bad.push(("weight_tolerance", format!("{} is not a share between 0 and 1 (0.05 = 5 %)", self.weight_tolerance)));
        }
        if !(self.weight_tolerance_kg >= 0.0) {
            bad.push(("weight_tolerance_kg", "must be 0 or more kilograms".into()));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            bad.push(("min_confidence", "must be between 0 and 1".into()));
        }
        if !(0.0..=1.0).contains(&self.name_similarity) {
            bad.push(("name_similarity", "must be between 0 and 1".into()));
        }
        if !(0.0..=1.0).contains(&self.company_similarity) {
            bad.push(("company_similarity", "must be between 0 and 1".into()));
        }
        if let Some(e) = self.id_code.check() {
            bad.push(("id_code", e));
        }
        bad
    }
}

/// What was seen of the QR code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QrRead {
    /// No QR code found or none decodable.
    NotFound,
    /// Decoded, but not in the configured format.
    BadPayload { text: String, reason: String },
    Decoded(QrPayload),
}

/// Everything the checks look at.
pub struct Observed<'a> {
    pub label: &'a ParsedLabel,
    /// An orange-yellow label-sized region was seen (a label may be there even if no text was read).
    pub label_colour_seen: bool,
    pub qr: &'a QrRead,
}

/// Fields a label must show for the intake check.
pub const KEY_FIELDS: [LabelField; 6] =
    [LabelField::WasteName, LabelField::Category, LabelField::WasteCode, LabelField::Hazards, LabelField::Company, LabelField::Date];

pub fn check(
    seen: &Observed,
    slip: Option<&IntakeSlip>,
    intake_date: chrono::NaiveDate,
    catalogue: &Catalogue,
    settings: &CheckSettings,
) -> (Vec<Finding>, Verdict) {
    let mut f = Findings::default();
    let label = seen.label;
    // A label whose key fields cannot be read (at most one) identifies nothing.
    let key_fields_read = KEY_FIELDS.iter().filter(|f| label.get(**f).is_some_and(|p| p.well_formed)).count();
    if key_fields_read <= 1 && !matches!(seen.qr, QrRead::Decoded(_)) {
        if seen.label_colour_seen || label.title_found || !label.fields.is_empty() {
            f.error("label.unreadable", None, "标签无法识读，请擦净或更换标签后重新核验", "The label cannot be read; clean or replace it and check again");
        } else {
            f.error("label.missing", None, "容器上未见危险废物标签，不得入库", "No hazardous-waste label on the container; it must not be stored");
        }
        return f.finish();
    }
    let category = label.value(LabelField::Category).map(str::to_string);
    let code = label.value(LabelField::WasteCode).map(str::to_string);
    let medical = category.as_deref() == Some("HW01") || code.as_deref().is_some_and(|c| c.ends_with("-01"));
    if medical {
        f.info(
            "label.medical_hj421",
            Some(LabelField::Category),
            "医疗废物（HW01）按 HJ 421 设置标识，不按 HJ 1276 标签核对，请人工确认",
            "Medical waste (HW01) is marked under HJ 421, not this label standard; a person must confirm it",
        );
        f.review_anyway = true;
        return f.finish();
    }
    for field in KEY_FIELDS {
        match label.get(field) {
            None => f.warning(
                "field.missing",
                Some(field),
                format!("未读到“{}”，请人工核对", field.key_zh()),
                format!("`{}` was not read; a person must check it", field.code()),
            ),
            Some(p) if p.confidence < settings.min_confidence => f.push(Finding {
                code: "field.low_confidence",
                severity: Severity::Warning,
                field: Some(field),
                message_zh: format!("“{}”识读不清（置信度 {:.2}），请人工核对", field.key_zh(), p.confidence),
                message_en: format!("`{}` read with low confidence ({:.2}); a person must check it", field.code(), p.confidence),
                found: Some(p.raw.clone()),
                expected: None,
            }),
            Some(_) => {}
        }
    }
    let entry = code.as_deref().and_then(|c| catalogue.get(c));
    if let (Some(c), Some(p)) = (&code, label.get(LabelField::WasteCode)) {
        if !p.well_formed {
            f.warning_on("code.malformed", LabelField::WasteCode, format!("废物代码“{c}”格式不符（应为 XXX-XXX-XX）"), format!("waste code `{c}` is not XXX-XXX-XX"), c, None);
        } else if entry.is_none() {
            f.error_on(
                "code.unknown",
                LabelField::WasteCode,
                format!("废物代码 {c} 不在《国家危险废物名录》（{}年版）中", catalogue.version),
                format!("waste code {c} is not in the {} catalogue", catalogue.version),
                c,
                None,
            );
        }
    }
    if let (Some(cat), Some(c)) = (&category, &code)
        && c.len() == 10
        && cat.len() == 4
        && cat[2..] != c[8..]
    {
        let expected = format!("HW{}", &c[8..]);
        f.error_on(
            "category.code_mismatch",
            LabelField::Category,
            format!("废物类别 {cat} 与废物代码 {c} 的末两位不符（应为 {expected}）"),
            format!("category {cat} does not match the last two digits of code {c} (expected {expected})"),
            cat,
            Some(&expected),
        );
    }
    if let Some(entry) = entry
        && label.get(LabelField::Hazards).is_some()
    {
        let shown = label.hazards();
        if let Some(why) = entry.hazards.mismatch(&shown) {
            let letters: Vec<&str> = shown.iter().map(|h| h.letter()).collect();
            f.error_on(
                "hazards.inconsistent",
                LabelField::Hazards,
                format!("危险特性与名录不符：{why}（名录：{}）", entry.hazards_text),
                format!("hazard characteristics {} do not fit the catalogue's {} for {}", letters.join(","), entry.hazards_text, entry.code),
                &letters.join(","),
                Some(&entry.hazards_text),
            );
        }
    }
    let printed_date = label.date();
    // A code read out of shape is an OCR problem (reported above), not a different code.
    let good_code = code.as_deref().filter(|_| label.get(LabelField::WasteCode).is_some_and(|p| p.well_formed));
    check_id_code(&mut f, label, seen.qr, settings, good_code, printed_date, slip);
    check_qr(&mut f, label, seen.qr, settings);
    if let Some(d) = printed_date
        && d > intake_date
    {
        f.error_on(
            "date.after_intake",
            LabelField::Date,
            format!("产生日期 {d} 晚于入库日期 {intake_date}"),
            format!("generation date {d} is after the intake date {intake_date}"),
            &d.to_string(),
            None,
        );
    }
    match slip {
        None => f.warning("slip.none", None, "未收到入库申报单，无法核对申报信息", "No intake slip was declared for this container; it cannot be checked against one"),
        Some(slip) => check_slip(&mut f, label, slip, settings),
    }
    f.finish()
}

fn check_id_code(
    f: &mut Findings,
    label: &ParsedLabel,
    qr: &QrRead,
    settings: &CheckSettings,
    code: Option<&str>,
    printed_date: Option<chrono::NaiveDate>,
    slip: Option<&IntakeSlip>,
) {
    // The QR code is read exactly; the printed one through OCR. Check the exact one when there is one.
    let qr_id = match qr {
        QrRead::Decoded(p) => p.id_code.clone(),
        _ => None,
    };
    let printed = label.get(LabelField::IdCode);
    let Some(id) = qr_id.clone().or_else(|| printed.map(|p| p.value.clone())) else {
        f.warning("field.missing", Some(LabelField::IdCode), "未读到“数字识别码”，请人工核对", "`id_code` was not read; a person must check it");
        return;
    };
    let source_zh = if qr_id.is_some() { "二维码中的数字识别码" } else { "数字识别码" };
    let segments = match settings.id_code.split(&id) {
        Ok(s) => s,
        Err(e) => {
            f.warning_on("id_code.malformed", LabelField::IdCode, format!("{source_zh}格式不符：{e}"), format!("the id code does not fit the layout: {e}"), &id, None);
            return;
        }
    };
    if let Some(c) = code
        && segments.waste_code != c
    {
        f.error_on(
            "id_code.code_mismatch",
            LabelField::IdCode,
            format!("{source_zh}中的废物代码 {} 与标签上的 {c} 不符", segments.waste_code),
            format!("the id code's waste-code segment {} differs from the printed code {c}", segments.waste_code),
            &segments.waste_code,
            Some(c),
        );
    }
    if let Some(d) = printed_date
        && segments.date != d.to_string()
    {
        f.error_on(
            "id_code.date_mismatch",
            LabelField::IdCode,
            format!("{source_zh}中的日期 {} 与产生日期 {d} 不符", segments.date),
            format!("the id code's date segment {} differs from the printed date {d}", segments.date),
            &segments.date,
            Some(&d.to_string()),
        );
    }
    if segments.unit.len() == 18 && !is_valid_credit_code(&segments.unit) {
        f.warning_on(
            "id_code.unit_invalid",
            LabelField::IdCode,
            format!("{source_zh}的单位段 {} 不是有效的统一社会信用代码", segments.unit),
            format!("the id code's unit segment {} is not a valid unified social credit code", segments.unit),
            &segments.unit,
            None,
        );
    }
    if let Some(credit) = slip.and_then(|s| s.company.credit_code.as_deref())
        && segments.unit.len() == credit.len()
        && segments.unit != credit
    {
        f.error_on(
            "slip.company_code_mismatch",
            LabelField::IdCode,
            format!("{source_zh}的单位段 {} 与申报单位的信用代码 {credit} 不符", segments.unit),
            format!("the id code's unit segment {} differs from the declared company's credit code {credit}", segments.unit),
            &segments.unit,
            Some(credit),
        );
    }
}

fn check_qr(f: &mut Findings, label: &ParsedLabel, qr: &QrRead, settings: &CheckSettings) {
    match qr {
        QrRead::NotFound if settings.require_qr => {
            f.warning("qr.unreadable", None, "未能识读标签二维码，请人工核对", "The label's QR code could not be read; a person must check it")
        }
        QrRead::NotFound => f.info("qr.unreadable", None, "未能识读标签二维码", "The label's QR code could not be read"),
        QrRead::BadPayload { text, reason } => f.push(Finding {
            code: "qr.bad_payload",
            severity: Severity::Warning,
            field: None,
            message_zh: format!("二维码内容不是约定格式：{reason}"),
            message_en: format!("the QR code is not in the configured format: {reason}"),
            found: Some(text.chars().take(200).collect()),
            expected: None,
        }),
        QrRead::Decoded(p) => {
            // A printed id read short or long is an OCR miss, not a different code;
            // the QR's own segments are checked against the print above.
            let printed = label.get(LabelField::IdCode).filter(|p| p.well_formed);
            if let (Some(qr_id), Some(printed)) = (&p.id_code, printed) {
                let differing = qr_id.chars().zip(printed.value.chars()).filter(|(a, b)| a != b).count()
                    + qr_id.chars().count().abs_diff(printed.value.chars().count());
                // A few differing characters in a well-read line are a different code; in a
                // poorly read one they may be OCR noise.
                if differing > 0 {
                    let severity = if differing > 3 || printed.confidence >= 0.9 { Severity::Error } else { Severity::Warning };
                    f.push(Finding {
                        code: "qr.mismatch",
                        severity,
                        field: Some(LabelField::IdCode),
                        message_zh: format!("二维码中的数字识别码与印刷的不符（{differing} 位不同）"),
                        message_en: format!("the QR code's id code differs from the printed one in {differing} characters"),
                        found: Some(printed.value.clone()),
                        expected: Some(qr_id.clone()),
                    });
                }
            }
            for (field, qr_value) in &p.fields {
                let Some(printed) = label.get(*field) else { continue };
                if !same_value(*field, qr_value, &printed.value, settings) {
                    f.error_on(
                        "qr.mismatch",
                        *field,
                        format!("二维码中的“{}”为“{qr_value}”，与标签印刷的“{}”不符", field.key_zh(), printed.value),
                        format!("the QR code's `{}` is `{qr_value}`, the label prints `{}`", field.code(), printed.value),
                        &printed.value,
                        Some(qr_value),
                    );
                }
            }
        }
    }
}

fn check_slip(f: &mut Findings, label: &ParsedLabel, slip: &IntakeSlip, settings: &CheckSettings) {
    let pairs = [
        (LabelField::WasteName, slip.waste_name.as_str(), "slip.name_mismatch"),
        (LabelField::Category, slip.category.as_str(), "slip.category_mismatch"),
        (LabelField::WasteCode, slip.waste_code.as_str(), "slip.code_mismatch"),
        (LabelField::Company, slip.company.name.as_str(), "slip.company_mismatch"),
    ];
    for (field, declared, code) in pairs {
        // Fields read out of shape were reported as such; comparing them would blame the firm for the OCR.
        let Some(printed) = label.get(field).filter(|p| p.well_formed) else { continue };
        if !same_value(field, declared, &printed.value, settings) {
            f.error_on(
                code,
                field,
                format!("标签“{}”为“{}”，申报单为“{declared}”", field.key_zh(), printed.value),
                format!("the label's `{}` is `{}`, the slip declares `{declared}`", field.code(), printed.value),
                &printed.value,
                Some(declared),
            );
        }
    }
    if let Some(kg) = label.weight_kg() {
        let allowed = (slip.weight_kg * settings.weight_tolerance).max(settings.weight_tolerance_kg);
        if (kg - slip.weight_kg).abs() > allowed {
            f.error_on(
                "slip.weight_mismatch",
                LabelField::Weight,
                format!("标签重量 {kg} kg 与申报的 {} kg 相差超过允许的 {allowed:.1} kg", slip.weight_kg),
                format!("the label's weight {kg} kg differs from the declared {} kg by more than {allowed:.1} kg", slip.weight_kg),
                &format!("{kg} kg"),
                Some(&format!("{} kg", slip.weight_kg)),
            );
        }
    }
}

/// Codes and categories compare exactly after canonical forms; names by similarity.
fn same_value(field: LabelField, a: &str, b: &str, settings: &CheckSettings) -> bool {
    match field {
        LabelField::WasteCode => canonical_waste_code(a).map(|x| x.0) == canonical_waste_code(b).map(|x| x.0),
        LabelField::Category => canonical_category(a).map(|x| x.0) == canonical_category(b).map(|x| x.0),
        LabelField::Weight => match (a.trim_end_matches("kg").trim().parse::<f64>(), super::parse::parse_weight_kg(b)) {
            (Ok(x), Some(y)) => (x - y).abs() < 0.051,
            _ => false,
        },
        LabelField::Company => similar_names(a, b) >= settings.company_similarity,
        _ => similar_names(a, b) >= settings.name_similarity,
    }
}

/// 0..1: one minus the edit distance over the longer name, ignoring spaces and punctuation.
pub fn similar_names(a: &str, b: &str) -> f64 {
    let clean = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>();
    let (a, b) = (clean(a), clean(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    strsim::normalized_levenshtein(&a, &b)
}

#[derive(Default)]
struct Findings {
    list: Vec<Finding>,
    review_anyway: bool,
}

impl Findings {
    fn push(&mut self, finding: Finding) {
        self.list.push(finding);
    }
    fn simple(&mut self, code: &'static str, severity: Severity, field: Option<LabelField>, zh: impl Into<String>, en: impl Into<String>) {
        self.push(Finding { code, severity, field, message_zh: zh.into(), message_en: en.into(), found: None, expected: None });
    }
    fn info(&mut self, code: &'static str, field: Option<LabelField>, zh: impl Into<String>, en: impl Into<String>) {
        self.simple(code, Severity::Info, field, zh, en);
    }
    fn warning(&mut self, code: &'static str, field: Option<LabelField>, zh: impl Into<String>, en: impl Into<String>) {
        self.simple(code, Severity::Warning, field, zh, en);
    }
    fn error(&mut self, code: &'static str, field: Option<LabelField>, zh: impl Into<String>, en: impl Into<String>) {
        self.simple(code, Severity::Error, field, zh, en);
    }
    fn on(&mut self, code: &'static str, severity: Severity, field: LabelField, zh: String, en: String, found: &str, expected: Option<&str>) {
        self.push(Finding {
            code,
            severity,
            field: Some(field),
            message_zh: zh,
            message_en: en,
            found: Some(found.to_string()),
            expected: expected.map(str::to_string),
        });
    }
    fn warning_on(&mut self, code: &'static str, field: LabelField, zh: String, en: String, found: &str, expected: Option<&str>) {
        self.on(code, Severity::Warning, field, zh, en, found, expected);
    }
    fn error_on(&mut self, code: &'static str, field: LabelField, zh: String, en: String, found: &str, expected: Option<&str>) {
        self.on(code, Severity::Error, field, zh, en, found, expected);
    }
    fn finish(self) -> (Vec<Finding>, Verdict) {
        let worst = self.list.iter().map(|f| f.severity).max();
        let verdict = match worst {
            Some(Severity::Error) => Verdict::Reject,
            Some(Severity::Warning) => Verdict::Review,
            _ if self.review_anyway => Verdict::Review,
            _ => Verdict::Accept,
        };
        (self.list, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::parse::ParsedField;
    use crate::mqtt::commands::Company;

    const CREDIT: &str = "91110302MA01ABCD2X";

    fn credit() -> String {
        // A valid credit code for the id codes below.
        let first17 = &CREDIT[..17];
        format!("{first17}{}", crate::label::idcode::credit_code_check_char(first17).unwrap())
    }

    fn id(code: &str, date: &str) -> String {
        format!("{}{}{}001", credit(), code.replace('-', ""), date.replace('-', ""))
    }

    fn field(field: LabelField, value: &str) -> ParsedField {
        ParsedField { field, value: value.into(), raw: value.into(), confidence: 0.97, bounds: [0.0, 0.0, 10.0, 10.0], well_formed: true }
    }

    /// A correct label for 900-249-08 (hazards T,I), dated 2026-11-02.
    fn good_label() -> ParsedLabel {
        ParsedLabel {
            title_found: true,
            fields: vec![
                field(LabelField::WasteName, "废矿物油"),
                field(LabelField::Category, "HW08"),
                field(LabelField::WasteCode, "900-249-08"),
                field(LabelField::Hazards, "T,I"),
                field(LabelField::Company, "北京亦庄精密机械有限公司"),
                field(LabelField::Date, "2026-11-02"),
                field(LabelField::Weight, "25.0 kg"),
                field(LabelField::IdCode, &id("900-249-08", "2026-11-02")),
            ],
            unused: vec![],
        }
    }

    fn slip() -> IntakeSlip {
        IntakeSlip {
            request_id: "r1".into(),
            slip_id: "RK1".into(),
            camera: None,
            waste_name: "废矿物油".into(),
            category: "HW08".into(),
            waste_code: "900-249-08".into(),
            weight_kg: 25.0,
            company: Company { name: "北京亦庄精密机械有限公司".into(), credit_code: Some(credit()) },
            declared_at: "2026-11-29T09:00:00+08:00".into(),
            container_code: None,
            container_type: None,
            batch_code: None,
        }
    }

    fn qr_of(id: &str) -> QrRead {
        QrRead::Decoded(crate::label::qr::interpret(id, &QrFormat::Auto, vec![]).unwrap())
    }

    fn run(label: &ParsedLabel, qr: &QrRead, slip: Option<&IntakeSlip>) -> (Vec<&'static str>, Verdict) {
        let seen = Observed { label, label_colour_seen: true, qr };
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let (findings, verdict) = check(&seen, slip, day, &Catalogue::builtin(), &CheckSettings::default());
        for f in &findings {
            assert!(!f.message_zh.is_empty() && !f.message_en.is_empty(), "{f:?}");
        }
        (findings.iter().map(|f| f.code).collect(), verdict)
    }

    fn set(label: &mut ParsedLabel, f: LabelField, value: &str) {
        label.fields.retain(|x| x.field != f);
        label.fields.push(field(f, value));
    }

    #[test]
    fn a_correct_label_matching_its_slip_and_qr_is_accepted() {
        let label = good_label();
        let (codes, verdict) = run(&label, &qr_of(&id("900-249-08", "2026-11-02")), Some(&slip()));
        assert_eq!((codes, verdict), (vec![], Verdict::Accept));
        // Without a slip a person must look; without a readable QR it is only noted.
        let (codes, verdict) = run(&label, &QrRead::NotFound, None);
        assert_eq!(verdict, Verdict::Review);
        assert_eq!(codes, vec!["qr.unreadable", "slip.none"]);
    }

    #[test]
    fn every_label_check_names_its_own_finding_and_rejects() {
        let qr = qr_of(&id("900-249-08", "2026-11-02"));
        let cases: Vec<(&str, Box<dyn Fn(&mut ParsedLabel)>)> = vec![
            ("code.unknown", Box::new(|l| set(l, LabelField::WasteCode, "900-999-08"))),
            ("category.code_mismatch", Box::new(|l| set(l, LabelField::Category, "HW09"))),
            ("hazards.inconsistent", Box::new(|l| set(l, LabelField::Hazards, "C"))),
            ("id_code.code_mismatch", Box::new(|l| set(l, LabelField::WasteCode, "900-214-08"))),
            ("id_code.date_mismatch", Box::new(|l| set(l, LabelField::Date, "2026-11-03"))),
            ("date.after_intake", Box::new(|l| set(l, LabelField::Date, "2026-12-24"))),
        ];
        for (expected, change) in cases {
            let mut label = good_label();
            change(&mut label);
            let (codes, verdict) = run(&label, &qr, Some(&slip()));
            assert!(codes.contains(&expected), "{expected}: {codes:?}");
            assert_eq!(verdict, Verdict::Reject, "{expected}");
        }
    }

    #[test]
    fn the_qr_code_must_carry_the_printed_id() {
        let other = qr_of(&id("900-249-08", "2026-11-05"));
        let (codes, verdict) = run(&good_label(), &other, Some(&slip()));
        assert!(codes.contains(&"qr.mismatch"), "{codes:?}");
        assert_eq!(verdict, Verdict::Reject);
        let json = format!(r#"{{"id_code":"{}","waste_code":"900-041-49"}}"#, id("900-249-08", "2026-11-02"));
        let qr = QrRead::Decoded(crate::label::qr::interpret(&json, &QrFormat::Auto, vec![]).unwrap());
        let (codes, _) = run(&good_label(), &qr, Some(&slip()));
        assert!(codes.contains(&"qr.mismatch"), "{codes:?}");
    }

    #[test]
    fn the_slip_is_checked_field_by_field_with_a_weight_tolerance() {
        let qr = qr_of(&id("900-249-08", "2026-11-02"));
        let mut s = slip();
        // 1 kg off is within 5 % of the declared 26 kg (1.3 kg).
        s.weight_kg = 26.0;
        assert_eq!(run(&good_label(), &qr, Some(&s)).1, Verdict::Accept);
        s.weight_kg = 30.0;
        assert!(run(&good_label(), &qr, Some(&s)).0.contains(&"slip.weight_mismatch"));
        let changes: Vec<(&str, Box<dyn Fn(&mut IntakeSlip)>)> = vec![
            ("slip.name_mismatch", Box::new(|s| s.waste_name = "废铅蓄电池".into())),
            ("slip.category_mismatch", Box::new(|s| s.category = "HW49".into())),
            ("slip.code_mismatch", Box::new(|s| s.waste_code = "900-041-49".into())),
            ("slip.company_mismatch", Box::new(|s| s.company.name = "北京亦庄精工制造有限公司".into())),
            ("slip.company_code_mismatch", Box::new(|s| s.company.credit_code = Some("91110302MA01ABCE3Y".into()))),
        ];
        for (expected, change) in changes {
            let mut s = slip();
            change(&mut s);
            let (codes, verdict) = run(&good_label(), &qr, Some(&s));
            assert!(codes.contains(&expected), "{expected}: {codes:?}");
            assert_eq!(verdict, Verdict::Reject, "{expected}");
        }
        // One misread character in a long name is not a mismatch (the credit code in the
        // id code is what tells two firms with near-identical names apart).
        let mut s = slip();
        s.company.name = "北京亦庄精密机槭有限公司".into();
        assert_eq!(run(&good_label(), &qr, Some(&s)).1, Verdict::Accept);
    }

    #[test]
    fn no_label_unreadable_labels_and_medical_waste_are_told_apart() {
        let empty = ParsedLabel::default();
        let seen = Observed { label: &empty, label_colour_seen: false, qr: &QrRead::NotFound };
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let (f, v) = check(&seen, Some(&slip()), day, &Catalogue::builtin(), &CheckSettings::default());
        assert_eq!((f[0].code, v), ("label.missing", Verdict::Reject));
        let seen = Observed { label: &empty, label_colour_seen: true, qr: &QrRead::NotFound };
        let (f, v) = check(&seen, Some(&slip()), day, &Catalogue::builtin(), &CheckSettings::default());
        assert_eq!((f[0].code, v), ("label.unreadable", Verdict::Reject));
        // The title and one field: still nothing that identifies the waste.
        let mut scraps = ParsedLabel { title_found: true, ..Default::default() };
        scraps.fields.push(field(LabelField::Date, "2026-11-02"));
        let seen = Observed { label: &scraps, label_colour_seen: false, qr: &QrRead::NotFound };
        let (f, v) = check(&seen, Some(&slip()), day, &Catalogue::builtin(), &CheckSettings::default());
        assert_eq!((f[0].code, v), ("label.unreadable", Verdict::Reject));
        let mut medical = good_label();
        set(&mut medical, LabelField::Category, "HW01");
        set(&mut medical, LabelField::WasteCode, "841-001-01");
        let (codes, verdict) = run(&medical, &QrRead::NotFound, Some(&slip()));
        assert_eq!((codes, verdict), (vec!["label.medical_hj421"], Verdict::Review));
    }

    #[test]
    fn missing_and_doubtful_fields_go_to_a_person() {
        let qr = qr_of(&id("900-249-08", "2026-11-02"));
        let mut label = good_label();
        label.fields.retain(|f| f.field != LabelField::Company);
        label.fields.iter_mut().find(|f| f.field == LabelField::WasteName).unwrap().confidence = 0.3;
        let (codes, verdict) = run(&label, &qr, Some(&slip()));
        assert_eq!(codes, vec!["field.low_confidence", "field.missing"]);
        assert_eq!(verdict, Verdict::Review);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = CheckSettings { weight_tolerance: 5.0, min_confidence: -1.0, ..Default::default() };
        let keys: Vec<_> = bad.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["weight_tolerance", "min_confidence"]);
    }
}
