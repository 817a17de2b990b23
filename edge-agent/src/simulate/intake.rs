//! Seeded intake cases for tests and `bench-intake`: a rendered label on a
//! container, the slip the firm declared, and what the checks must say. A
//! share of the cases is deliberately wrong, one defect each, covering every
//! check of `label::checks`.

use super::label::{LabelContent, LabelLayout, LabelStyle, SceneDamage, id_code, render_label, render_scene};
use crate::label::catalogue::{Catalogue, Hazard};
use crate::mqtt::commands::{Company, IntakeSlip};
use ab_glyph::FontVec;
use chrono::NaiveDate;
use serde::Serialize;

/// One deliberate error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Defect {
    /// A container with no label at all.
    NoLabel,
    /// A label too smeared, faded or wet to read.
    Unreadable,
    /// A code that is not in the catalogue.
    UnknownCode,
    /// Category is not the code's last two digits.
    CategoryNotCode,
    /// Hazards the catalogue does not give for the code.
    WrongHazards,
    /// The id code's waste-code segment is another code.
    IdCodeWrongCode,
    /// The id code's date segment is another date.
    IdCodeWrongDate,
    /// The QR code carries another id code.
    QrDiffers,
    /// Label dated after the intake.
    DateAfterIntake,
    SlipName,
    SlipCategory,
    SlipCode,
    SlipCompany,
    SlipWeight,
}

impl Defect {
    pub const ALL: [Defect; 14] = [
        Self::NoLabel,
        Self::Unreadable,
        Self::UnknownCode,
        Self::CategoryNotCode,
        Self::WrongHazards,
        Self::IdCodeWrongCode,
        Self::IdCodeWrongDate,
        Self::QrDiffers,
        Self::DateAfterIntake,
        Self::SlipName,
        Self::SlipCategory,
        Self::SlipCode,
        Self::SlipCompany,
        Self::SlipWeight,
    ];

    /// The finding code that must be raised for it.
    pub fn finding(self) -> &'static str {
        match self {
            Self::NoLabel => "label.missing",
            Self::Unreadable => "label.unreadable",
            Self::UnknownCode => "code.unknown",
            Self::CategoryNotCode => "category.code_mismatch",
            Self::WrongHazards => "hazards.inconsistent",
            Self::IdCodeWrongCode => "id_code.code_mismatch",
            Self::IdCodeWrongDate => "id_code.date_mismatch",
            Self::QrDiffers => "qr.mismatch",
            Self::DateAfterIntake => "date.after_intake",
            Self::SlipName => "slip.name_mismatch",
            Self::SlipCategory => "slip.category_mismatch",
            Self::SlipCode => "slip.code_mismatch",
            Self::SlipCompany => "slip.company_mismatch",
            Self::SlipWeight => "slip.weight_mismatch",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IntakeCase {
    #[serde(skip)]
    pub jpeg: Vec<u8>,
    pub content: Option<LabelContentTruth>,
    pub slip: IntakeSlip,
    pub defect: Option<Defect>,
    /// Fields a hand or tape covers in the picture (no reader can read them).
    pub occluded: Vec<crate::label::fields::LabelField>,
    pub severity: f32,
    pub layout: &'static str,
}

/// The printed values the benchmark scores fields against.
#[derive(Debug, Clone, Serialize)]
pub struct LabelContentTruth {
    pub waste_name: String,
    pub category: String,
    pub waste_code: String,
    pub date: String,
    pub company: String,
    pub weight_kg: f64,
    pub id_code: String,
}

/// The intake date every case is checked on.
pub fn intake_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default()
}

/// Case `index` of the set `seed`; a share `wrong_share` of the cases carry one defect each.
pub fn case(seed: u64, index: usize, wrong_share: f64, catalogue: &Catalogue, font: &FontVec) -> IntakeCase {
    // Its own stream, so a case's label is the same whichever defect it gets.
    let mut rng = case_rng(!seed, index);
    let defect = (rng.f64() < wrong_share).then(|| Defect::ALL[rng.usize(..Defect::ALL.len())]);
    case_with(seed, index, defect, None, catalogue, font)
}

fn case_rng(seed: u64, index: usize) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// Case `index` with the given defect; `severity` (0 clean .. 1 hard) fixes the damage, else it is drawn.
pub fn case_with(seed: u64, index: usize, defect: Option<Defect>, severity: Option<f32>, catalogue: &Catalogue, font: &FontVec) -> IntakeCase {
    let mut rng = case_rng(seed, index);
    let today = intake_day();
    let entries: Vec<_> = catalogue.entries().iter().filter(|e| e.category != "HW01").cloned().collect();
    let mut content = LabelContent::random(&mut rng, &entries, today);
    let mut slip = slip_for(&content, index);
    let credit = content.id_code.chars().take(18).collect::<String>();
    let seq: u32 = content.id_code.chars().skip(34).collect::<String>().parse().unwrap_or(1);
    let other = || -> &crate::label::catalogue::CatalogueEntry {
        let start = (seed as usize ^ index.wrapping_mul(31)) % entries.len();
        let pick = (0..entries.len()).map(|i| &entries[(start + i) % entries.len()]).find(|e| e.category != content.category);
        pick.unwrap_or(&entries[start])
    };
    match defect {
        None | Some(Defect::NoLabel) | Some(Defect::Unreadable) => {}
        Some(Defect::UnknownCode) => {
            // Same category, an industry/sequence pair the catalogue lacks.
            let cat = &content.category[2..];
            let code = (0..1000).map(|n| format!("{:03}-{:03}-{cat}", 990 - n % 90, 900 + n % 99)).find(|c| catalogue.get(c).is_none()).unwrap_or_default();
            content.waste_code = code.clone();
            content.id_code = id_code(&credit, &code, content.date, seq);
            slip.waste_code = code;
        }
        Some(Defect::CategoryNotCode) => content.category = other().category.clone(),
        Some(Defect::WrongHazards) => {
            let rule = &catalogue.get(&content.waste_code).map(|e| e.hazards.clone());
            if let Some(rule) = rule {
                // A hazard the catalogue does not allow for this code.
                if let Some(extra) = Hazard::ALL.into_iter().find(|h| !rule.allowed.contains(h)) {
                    content.hazards.push(extra);
                } else {
                    content.hazards.clear();
                }
            }
        }
        Some(Defect::IdCodeWrongCode) => {
            content.id_code = id_code(&credit, &other().code, content.date, seq);
            content.qr_payload = Some(content.id_code.clone());
        }
        Some(Defect::IdCodeWrongDate) => {
            let shifted = content.date - chrono::Duration::days(rng.i64(3..200));
            content.id_code = id_code(&credit, &content.waste_code, shifted, seq);
            content.qr_payload = Some(content.id_code.clone());
        }
        Some(Defect::QrDiffers) => {
            content.qr_payload = Some(id_code(&credit, &content.waste_code, content.date, seq % 999 + 1 + rng.u32(1..50)));
        }
        Some(Defect::DateAfterIntake) => {
            content.date = today + chrono::Duration::days(rng.i64(2..60));
            content.id_code = id_code(&credit, &content.waste_code, content.date, seq);
            content.qr_payload = Some(content.id_code.clone());
        }
        Some(Defect::SlipName) => slip.waste_name = name_unlike(&content.waste_name, &mut rng),
        Some(Defect::SlipCategory) => slip.category = other().category.clone(),
        Some(Defect::SlipCode) => slip.waste_code = other().code.clone(),
        Some(Defect::SlipCompany) => slip.company.name = company_unlike(&content.company, &mut rng),
        Some(Defect::SlipWeight) => slip.weight_kg = (content.weight_kg * if rng.bool() { 1.3 } else { 0.7 } * 10.0).round() / 10.0 + 1.0,
    }
    let drawn = rng.f32();
    let severity = severity.unwrap_or(drawn);
    let layout = if rng.bool() { LabelLayout::Table } else { LabelLayout::Lines };
    let layout_name = match layout {
        LabelLayout::Table => "table",
        LabelLayout::Lines => "lines",
    };
    let size_mm = [100.0, 150.0, 150.0, 200.0][rng.usize(..4)];
    let style = LabelStyle { layout, size_mm, px_per_mm: 800.0 / size_mm };
    let mut damage = SceneDamage::random(&mut rng, severity);
    if defect == Some(Defect::Unreadable) {
        // Smeared beyond reading: no stroke of the text survives.
        damage.blur_sigma = 9.0;
    }
    let scene = if defect == Some(Defect::NoLabel) {
        render_scene(None, &damage, &mut rng, 1280, 960)
    } else {
        let label = render_label(&content, &style, font);
        render_scene(Some(&label), &damage, &mut rng, 1280, 960)
    };
    IntakeCase {
        occluded: scene.occluded.clone(),
        jpeg: scene.jpeg,
        content: (defect != Some(Defect::NoLabel)).then(|| LabelContentTruth {
            waste_name: content.waste_name.clone(),
            category: content.category.clone(),
            waste_code: content.waste_code.clone(),
            date: content.date.to_string(),
            company: content.company.clone(),
            weight_kg: content.weight_kg,
            id_code: content.id_code.clone(),
        }),
        slip,
        defect,
        severity,
        layout: layout_name,
    }
}

fn slip_for(content: &LabelContent, index: usize) -> IntakeSlip {
    IntakeSlip {
        request_id: format!("bench-{index}"),
        slip_id: format!("RK{}-{index:04}", intake_day().format("%Y%m%d")),
        camera: None,
        waste_name: content.waste_name.clone(),
        category: content.category.clone(),
        waste_code: content.waste_code.clone(),
        weight_kg: content.weight_kg,
        company: Company { name: content.company.clone(), credit_code: Some(content.id_code.chars().take(18).collect()) },
        declared_at: format!("{}T09:30:00+08:00", intake_day()),
        container_code: None,
        container_type: Some("铁桶".into()),
        batch_code: None,
    }
}

const OTHER_NAMES: [&str; 8] = ["废活性炭", "废铅蓄电池", "废荧光灯管", "废油漆桶", "实验室废液", "废切削液", "废电路板", "废酸"];

fn name_unlike(name: &str, rng: &mut fastrand::Rng) -> String {
    unlike(name, &OTHER_NAMES, rng)
}

/// A choice well unlike `what` (the lists are long enough that one always is).
fn unlike(what: &str, choices: &[&str], rng: &mut fastrand::Rng) -> String {
    let start = rng.usize(..choices.len());
    (0..choices.len())
        .map(|i| choices[(start + i) % choices.len()])
        .find(|c| crate::label::checks::similar_names(c, what) < 0.5)
        .unwrap_or(choices[start])
        .to_string()
}

const OTHER_COMPANIES: [&str; 4] = ["北京金桥汽车维修服务有限公司", "北京博兴印刷包装有限公司", "北京同创检测技术有限公司", "北京凉水河物流有限公司"];

fn company_unlike(company: &str, rng: &mut fastrand::Rng) -> String {
    unlike(company, &OTHER_COMPANIES, rng)
}
