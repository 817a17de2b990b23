//! Seeded synthetic hazardous-waste container labels (危险废物标签, HJ 1276-2022
//! Appendix A) and photos of them on containers, with ground truth, for testing
//! and benchmarking the label OCR and checking pipeline without real photos.
//!
//! [`LabelContent::random`] draws valid, self-consistent content from the
//! catalogue; [`render_label`] draws it as a flat label (two layouts, any size)
//! and says where each value's text is; [`render_scene`] (in `label_scene.rs`)
//! sticks the label on a container and photographs it badly. Everything is
//! decided by the `fastrand` seed: the same inputs give the same bytes.
//!
//! Coordinates are continuous pixels, x right, y down, pixel (i, j) covering
//! `[i, i+1) x [j, j+1)`.

use crate::label::catalogue::{CatalogueEntry, Hazard, HazardRule};
use crate::label::fields::LabelField;
use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use chrono::NaiveDate;
use fastrand::Rng;
use image::RgbImage;
use serde::{Deserialize, Serialize};

#[path = "label_scene.rs"]
mod scene;
pub use scene::{Background, Scene, SceneDamage, render_scene};

/// The GB 32100 check character of a credit code's first 17 characters.
pub use crate::label::idcode::credit_code_check_char;

/// Debian's `fonts-wqy-microhei`: a free CJK sans close to the 黑体 labels are printed in.
pub const FONT_PATH: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

/// The label background, HJ 1276 orange-yellow.
pub const LABEL_ORANGE: [u8; 3] = [255, 150, 0];
const BLACK: [u8; 3] = [0, 0, 0];
const WHITE: [u8; 3] = [255, 255, 255];

/// Loads the label font (face 0 of WenQuanYi Micro Hei).
pub fn load_font() -> Result<FontVec, String> {
    let bytes = std::fs::read(FONT_PATH).map_err(|e| {
        format!("cannot read the label font {FONT_PATH}: {e}; install the Debian package fonts-wqy-microhei (apt-get install fonts-wqy-microhei)")
    })?;
    FontVec::try_from_vec_and_index(bytes, 0)
        .map_err(|e| format!("{FONT_PATH} is not a usable font ({e}); reinstall the Debian package fonts-wqy-microhei"))
}

// ---------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------

/// What a label says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelContent {
    pub waste_name: String,
    /// HWdd
    pub category: String,
    /// ddd-ddd-dd
    pub waste_code: String,
    /// 固态 | 半固态 | 液态 | 气态
    pub form: String,
    pub hazards: Vec<Hazard>,
    pub main_components: String,
    pub harmful_components: String,
    pub precautions: String,
    /// 数字识别码, 37 characters (see [`id_code`]).
    pub id_code: String,
    pub company: String,
    pub contact_person: String,
    pub contact_phone: String,
    pub date: NaiveDate,
    pub weight_kg: f64,
    pub remarks: String,
    /// None: the label has no QR code.
    pub qr_payload: Option<String>,
}

/// Codes a pod sees every day, with the names and forms labels really use and
/// plausible components.
struct Common {
    code: &'static str,
    names: &'static [(&'static str, &'static str)],
    main: &'static [&'static str],
    harmful: &'static [&'static str],
}

const COMMON: &[Common] = &[
    Common { code: "900-249-08", names: &[("废矿物油", "液态"), ("废液压油", "液态")], main: &["矿物油", "水", "杂质", "金属碎屑"], harmful: &["石油烃", "多环芳烃", "苯系物"] },
    Common { code: "900-214-08", names: &[("废机油", "液态"), ("废润滑油", "液态")], main: &["润滑油", "水", "金属碎屑", "积碳"], harmful: &["石油烃", "多环芳烃", "重金属"] },
    Common { code: "900-041-49", names: &[("废包装桶", "固态"), ("含油抹布手套", "固态"), ("废包装物", "固态")], main: &["铁桶", "塑料", "棉纱", "残留物料"], harmful: &["矿物油", "有机溶剂", "油漆"] },
    Common { code: "900-039-49", names: &[("废活性炭", "固态")], main: &["活性炭", "吸附有机物", "水分"], harmful: &["VOCs", "苯系物", "非甲烷总烃"] },
    Common { code: "900-047-49", names: &[("实验室废液", "液态"), ("实验室废物", "固态")], main: &["水", "有机溶剂", "无机盐", "酸碱"], harmful: &["重金属", "甲醛", "二氯甲烷", "氰化物"] },
    Common { code: "900-252-12", names: &[("废油漆渣", "半固态"), ("漆渣", "半固态")], main: &["树脂", "颜料", "有机溶剂", "填料"], harmful: &["苯系物", "二甲苯", "重金属"] },
    Common { code: "900-299-12", names: &[("废油墨", "半固态"), ("废油漆", "液态")], main: &["颜料", "树脂", "溶剂", "助剂"], harmful: &["苯系物", "重金属"] },
    Common { code: "900-402-06", names: &[("废有机溶剂", "液态"), ("废清洗剂", "液态")], main: &["乙酸乙酯", "丙酮", "乙醇", "异丙醇"], harmful: &["苯", "甲苯", "二甲苯", "乙酸丁酯"] },
    Common { code: "900-014-13", names: &[("废胶粘剂", "半固态"), ("废密封胶", "半固态")], main: &["树脂", "填料", "溶剂"], harmful: &["异氰酸酯", "甲苯", "甲醛"] },
    Common { code: "900-023-29", names: &[("废荧光灯管", "固态"), ("废灯管", "固态")], main: &["玻璃", "荧光粉", "金属灯头"], harmful: &["汞"] },
    Common { code: "900-052-31", names: &[("废铅蓄电池", "固态")], main: &["铅板", "塑料外壳", "硫酸电解液"], harmful: &["铅", "硫酸"] },
    Common { code: "900-300-34", names: &[("废酸", "液态"), ("废酸液", "液态")], main: &["水", "盐酸", "硫酸", "金属盐"], harmful: &["盐酸", "硫酸", "重金属离子"] },
    Common { code: "900-352-35", names: &[("废碱", "液态"), ("废碱液", "液态")], main: &["水", "氢氧化钠", "碳酸钠", "表面活性剂"], harmful: &["氢氧化钠", "强碱"] },
    Common { code: "900-006-09", names: &[("废切削液", "液态"), ("废乳化液", "液态")], main: &["水", "矿物油", "乳化剂", "金属屑"], harmful: &["石油烃", "亚硝酸盐"] },
    Common { code: "900-002-03", names: &[("过期药品", "固态"), ("废弃药品", "固态")], main: &["药品", "包装材料"], harmful: &["药物活性成分"] },
    Common { code: "900-045-49", names: &[("废电路板", "固态")], main: &["覆铜板", "电子元器件", "焊锡"], harmful: &["铅", "镉", "溴化阻燃剂"] },
];

/// A stand-in when the caller's catalogue has no usable code (keeps `random` total).
fn fallback_entry() -> CatalogueEntry {
    CatalogueEntry {
        code: "900-249-08".into(),
        category: "HW08".into(),
        category_name_zh: "废矿物油与含矿物油废物".into(),
        industry_zh: "非特定行业".into(),
        description_zh: "其他生产、销售、使用过程中产生的废矿物油及沾染矿物油的废弃包装物".into(),
        hazards_text: "T,I".into(),
        hazards: HazardRule { required: vec![Hazard::Toxic], allowed: vec![Hazard::Toxic, Hazard::Ignitable], any_of: false },
    }
}

impl LabelContent {
    /// Valid, self-consistent content drawn from the catalogue (entries with
    /// category HW01 excluded: medical waste carries HJ 421 signs, not this label).
    /// About 60 % of draws use the common pod codes (`COMMON`). An empty
    /// catalogue falls back to 900-249-08.
    pub fn random(rng: &mut Rng, catalogue: &[CatalogueEntry], today: NaiveDate) -> Self {
        let usable: Vec<&CatalogueEntry> = catalogue.iter().filter(|e| e.category.trim() != "HW01").collect();
        let common: Vec<(&CatalogueEntry, &Common)> =
            COMMON.iter().filter_map(|c| usable.iter().find(|e| e.code == c.code).map(|e| (*e, c))).collect();
        let fallback;
        let (entry, known) = if !common.is_empty() && (usable.len() == common.len() || rng.f32() < 0.6) {
            let (e, c) = common[rng.usize(..common.len())];
            (e, Some(c))
        } else if !usable.is_empty() {
            let e = usable[rng.usize(..usable.len())];
            (e, COMMON.iter().find(|c| c.code == e.code))
        } else {
            fallback = fallback_entry();
            (&fallback, COMMON.first())
        };

        let (waste_name, form) = match known {
            Some(c) => {
                let (name, form) = c.names[rng.usize(..c.names.len())];
                (name.to_string(), form.to_string())
            }
            None => {
                let name = short_name(&entry.description_zh, &entry.category_name_zh);
                let form = form_for(&name, rng).to_string();
                (name, form)
            }
        };
        let hazards = pick_hazards(rng, &entry.hazards);
        let main_components = match known {
            Some(c) => components(rng, c.main, 2, 4, true),
            None => components(rng, generic_main(&form), 2, 4, true),
        };
        let harmful_components = match known {
            Some(c) => components(rng, c.harmful, 1, 2, false),
            None => components(rng, harmful_for(&entry.category), 1, 2, false),
        };
        let precautions = precautions(rng, &hazards);

        let date = today - chrono::Days::new(rng.u64(0..300));
        let credit = random_credit_code(rng);
        let id = id_code(&credit, &entry.code, date, rng.u32(1..=120));
        let weight_kg = ((log_uniform(rng, 0.5, 500.0) * 10.0).round() / 10.0).clamp(0.5, 500.0);

        Self {
            waste_name,
            category: entry.category.trim().to_string(),
            waste_code: entry.code.clone(),
            form,
            hazards,
            main_components,
            harmful_components,
            precautions,
            qr_payload: Some(id.clone()),
            id_code: id,
            company: random_company(rng),
            contact_person: random_person(rng),
            contact_phone: random_phone(rng),
            date,
            weight_kg,
            remarks: pick(rng, REMARKS).to_string(),
        }
    }

    /// Text printed for a field (weight "25.0kg", date "2026-11-02", hazards "毒性(T) 易燃性(I)").
    pub fn printed(&self, field: LabelField) -> String {
        match field {
            LabelField::WasteName => self.waste_name.clone(),
            LabelField::Category => self.category.clone(),
            LabelField::WasteCode => self.waste_code.clone(),
            LabelField::Form => self.form.clone(),
            LabelField::Hazards => {
                self.hazards.iter().map(|h| format!("{}({})", h.name_zh(), h.letter())).collect::<Vec<_>>().join(" ")
            }
            LabelField::MainComponents => self.main_components.clone(),
            LabelField::HarmfulComponents => self.harmful_components.clone(),
            LabelField::Precautions => self.precautions.clone(),
            LabelField::IdCode => self.id_code.clone(),
            LabelField::Company => self.company.clone(),
            LabelField::ContactPerson => self.contact_person.clone(),
            LabelField::ContactPhone => self.contact_phone.clone(),
            LabelField::Date => self.date.format("%Y-%m-%d").to_string(),
            LabelField::Weight => format!("{:.1}kg", self.weight_kg),
            LabelField::Remarks => self.remarks.clone(),
        }
    }
}

/// 数字识别码: 18 (unit code) + 8 (waste code without dashes) + 8 (YYYYMMDD) +
/// 3 (sequence, zero-padded; taken modulo 1000 so the code stays 37 long).
pub fn id_code(credit_code: &str, waste_code: &str, date: NaiveDate, seq: u32) -> String {
    let code: String = waste_code.chars().filter(|c| *c != '-').collect();
    format!("{credit_code}{code}{}{:03}", date.format("%Y%m%d"), seq % 1000)
}

/// GB 32100-2015 alphabet (no I, O, S, V, Z).
const CREDIT_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Beijing districts (GB/T 2260), 110302 being what the brief calls 北京经开区.
const BEIJING_AREAS: &[&str] = &["110302", "110115", "110105", "110108", "110112", "110113", "110114", "110106", "110111", "110101"];

/// A random, valid 18-character unified social credit code of a Beijing unit:
/// registration department and type ("91" = 工商 / 企业 mostly), area code,
/// a GB 11714 organisation code (8 characters + its own check) and the GB 32100 check.
pub fn random_credit_code(rng: &mut Rng) -> String {
    let head = match rng.u32(0..100) {
        0..=87 => "91",
        88..=91 => "92",
        92..=93 => "93",
        94..=96 => "12",
        _ => "52",
    };
    let mut s = format!("{head}{}", pick(rng, BEIJING_AREAS));
    // Codes issued since 2015 mostly read MA0…; older ones are all digits.
    let body: String = if rng.bool() {
        let mut b = format!("MA0{}", rng.u8(0..10));
        for _ in 0..4 {
            b.push(CREDIT_ALPHABET[rng.usize(..CREDIT_ALPHABET.len())] as char);
        }
        b
    } else {
        (0..8).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
    };
    s.push_str(&body);
    s.push(org_code_check_char(&body));
    // The first 17 are all in the alphabet by construction, so this is Some.
    s.push(credit_code_check_char(&s).unwrap_or('0'));
    s
}

/// GB 11714 check character of an 8-character organisation code body.
fn org_code_check_char(body: &str) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.chars().zip(W).map(|(c, w)| c.to_digit(36).unwrap_or(0) * w).sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from(b'0' + d as u8),
    }
}

/// A short label name from a catalogue description: the thing after the last
/// "产生的" / "的" of the first clause, asides in brackets dropped, at most 12 chars.
fn short_name(description: &str, category_name: &str) -> String {
    let mut plain = String::new();
    let mut depth = 0u32;
    for c in description.chars() {
        match c {
            '（' | '(' => depth += 1,
            '）' | ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut name = plain.split(['，', '；', '。', ',']).next().unwrap_or("");
    for marker in ["产生的", "收集的"] {
        if let Some(i) = name.rfind(marker) {
            name = &name[i + marker.len()..];
            break;
        }
    }
    if let Some(i) = name.rfind('的') {
        name = &name[i + '的'.len_utf8()..];
    }
    let name = name.split(['、', '，']).next().unwrap_or("").trim();
    let mut name: String = name.chars().take(12).collect();
    if name.chars().count() < 2 {
        name = category_name.chars().take(12).collect();
    } else if name.chars().count() <= 4 && !name.chars().any(|c| "废渣泥尘灰液物".contains(c)) {
        name.insert(0, '废');
    }
    name
}

/// The physical form a name implies; a random one when it says nothing.
fn form_for(name: &str, rng: &mut Rng) -> &'static str {
    const SOLID: &[&str] = &["电池", "灯管", "活性炭", "桶", "包装", "抹布", "手套", "电路板", "药", "粉尘", "灰", "催化剂", "介质", "滤芯", "树脂", "石棉", "布", "屑", "碎料", "固"];
    const SEMI: &[&str] = &["泥", "渣", "膏", "焦油", "残余物", "釜", "胶", "油墨", "漆"];
    const LIQUID: &[&str] = &["液", "油", "溶剂", "酸", "碱", "水"];
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(SOLID) {
        "固态"
    } else if has(SEMI) {
        "半固态"
    } else if has(LIQUID) {
        "液态"
    } else {
        match rng.u32(0..100) {
            0..=49 => "固态",
            50..=74 => "半固态",
            75..=97 => "液态",
            _ => "气态",
        }
    }
}

/// Every required hazard, some allowed ones; for "/" lists one to three of them.
fn pick_hazards(rng: &mut Rng, rule: &HazardRule) -> Vec<Hazard> {
    let mut out = rule.required.clone();
    let mut optional: Vec<Hazard> = rule.allowed.iter().copied().filter(|h| !out.contains(h)).collect();
    if rule.any_of {
        rng.shuffle(&mut optional);
        let n = match rng.u32(0..10) {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        out.extend(optional.into_iter().take(n));
    } else {
        out.extend(optional.into_iter().filter(|_| rng.f32() < 0.35));
    }
    out.sort();
    out.dedup();
    out
}

fn generic_main(form: &str) -> &'static [&'static str] {
    match form {
        "液态" => &["水", "有机溶剂", "矿物油", "无机盐", "悬浮物"],
        "半固态" => &["污泥", "残渣", "树脂", "水分", "有机物"],
        "气态" => &["有机废气", "惰性气体"],
        _ => &["废渣", "粉尘", "金属氧化物", "纤维", "有机物"],
    }
}

/// Harmful components by category (HW number), a generic list otherwise.
fn harmful_for(category: &str) -> &'static [&'static str] {
    match category.trim() {
        "HW02" | "HW03" => &["药物残留", "有机溶剂"],
        "HW04" => &["农药残留", "有机磷"],
        "HW05" => &["五氯酚", "杂酚油"],
        "HW06" => &["苯", "甲苯", "二甲苯"],
        "HW08" | "HW09" => &["石油烃", "多环芳烃"],
        "HW11" => &["多环芳烃", "酚类"],
        "HW12" => &["苯系物", "重金属"],
        "HW13" => &["树脂单体", "甲醛"],
        "HW16" => &["银", "显影剂"],
        "HW17" => &["铬", "镍", "酸"],
        "HW18" => &["二噁英", "重金属"],
        "HW20" => &["铍"],
        "HW21" => &["六价铬"],
        "HW22" => &["铜"],
        "HW23" => &["锌"],
        "HW24" => &["砷"],
        "HW25" => &["硒"],
        "HW26" => &["镉"],
        "HW27" => &["锑"],
        "HW28" => &["碲"],
        "HW29" => &["汞"],
        "HW30" => &["铊"],
        "HW31" => &["铅"],
        "HW32" => &["氟化物"],
        "HW33" => &["氰化物"],
        "HW34" => &["硫酸", "盐酸"],
        "HW35" => &["氢氧化钠"],
        "HW36" => &["石棉纤维"],
        "HW37" => &["有机磷化合物"],
        "HW38" => &["有机氰化物"],
        "HW39" => &["苯酚"],
        "HW40" => &["醚类"],
        "HW45" => &["有机卤化物", "二氯甲烷"],
        "HW46" => &["镍"],
        "HW47" => &["钡"],
        "HW48" => &["铅", "镉", "砷"],
        "HW50" => &["重金属", "催化剂载体"],
        _ => &["重金属", "有机物"],
    }
}

/// n in [lo, hi] of `items` (the first, the principal one, always), joined by "、";
/// two-part mixtures sometimes get percentages.
fn components(rng: &mut Rng, items: &[&str], lo: usize, hi: usize, percentages: bool) -> String {
    if items.is_empty() {
        return String::new();
    }
    let n = rng.usize(lo..=hi).clamp(1, items.len());
    let mut rest: Vec<&str> = items[1..].to_vec();
    rng.shuffle(&mut rest);
    let chosen: Vec<&str> = std::iter::once(items[0]).chain(rest.into_iter().take(n - 1)).collect();
    if percentages && chosen.len() == 2 && rng.f32() < 0.3 {
        let p = rng.u32(11..20) * 5;
        return format!("{}{}%、{}{}%", chosen[0], p, chosen[1], 100 - p);
    }
    chosen.join("、")
}

fn precautions(rng: &mut Rng, hazards: &[Hazard]) -> String {
    const GENERAL: &[&str] = &["密封贮存", "防止泄漏", "轻拿轻放", "禁止混放", "严禁倒置", "保持通风", "专人管理", "分类存放", "避免日晒雨淋", "佩戴防护手套"];
    let mut pool: Vec<&str> = Vec::new();
    for h in hazards {
        pool.extend_from_slice(match h {
            Hazard::Toxic => &["避免吸入", "避免与皮肤接触", "佩戴防毒口罩"][..],
            Hazard::Corrosive => &["防止腐蚀", "佩戴护目镜", "远离金属"][..],
            Hazard::Ignitable => &["远离火源", "严禁烟火", "防静电"][..],
            Hazard::Reactive => &["避免撞击", "远离热源", "禁止与水接触"][..],
            Hazard::Infectious => &["防止刺伤", "及时消毒"][..],
        });
    }
    rng.shuffle(&mut pool);
    let mut general = GENERAL.to_vec();
    rng.shuffle(&mut general);
    // Sometimes long enough to wrap onto a second line.
    let n = match rng.u32(0..10) {
        0..=3 => 2,
        4..=7 => 3,
        _ => 5,
    };
    let mut chosen: Vec<&str> = Vec::new();
    for p in pool.into_iter().take(2).chain(general) {
        if chosen.len() < n && !chosen.contains(&p) {
            chosen.push(p);
        }
    }
    chosen.join("，")
}

const BRANDS: &[&str] = &["亦庄", "经开", "博大", "荣华", "科创", "亦城", "宏达", "瑞丰", "恒通", "鑫源", "同创", "中科", "华信", "天宇", "京港", "兴业"];
const TRADES: &[&str] = &["精密", "汽车零部件", "生物医药", "电子", "新材料", "光电", "医疗器械", "机械", "环保", "半导体", "智能装备", "化工", "印刷", "涂装"];
const SUFFIXES: &[&str] = &["科技有限公司", "制造有限公司", "工业有限公司", "技术有限公司", "股份有限公司"];

fn random_company(rng: &mut Rng) -> String {
    format!("北京{}{}{}", pick(rng, BRANDS), pick(rng, TRADES), pick(rng, SUFFIXES))
}

fn random_person(rng: &mut Rng) -> String {
    const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗"];
    const GIVEN: &[&str] = &["伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "艳", "勇", "军", "杰", "涛", "明", "超", "华", "平", "刚", "丽", "建国", "志强", "海燕", "晓东", "秀英", "春梅", "立新"];
    format!("{}{}", pick(rng, SURNAMES), pick(rng, GIVEN))
}

fn random_phone(rng: &mut Rng) -> String {
    if rng.u32(0..10) < 8 {
        let mut s = format!("1{}", rng.u8(3..10));
        for _ in 0..9 {
            s.push(char::from(b'0' + rng.u8(0..10)));
        }
        s
    } else {
        let mut s = format!("010-{}", rng.u8(5..9));
        for _ in 0..7 {
            s.push(char::from(b'0' + rng.u8(0..10)));
        }
        s
    }
}

const REMARKS: &[&str] = &["", "", "无", "无", "/", "密封", "第1批", "第2批", "委托处置", "暂存于危废库A区", "待转移"];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    if items.is_empty() { "" } else { items[rng.usize(..items.len())] }
}

fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * rng.f64()).exp()
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LabelLayout {
    /// A grid of cells: key cell | value cell.
    Table,
    /// "key：value" text lines, no inner grid.
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LabelStyle {
    pub layout: LabelLayout,
    /// Label side (labels are square): 100, 150 or 200 per HJ 1276 by container volume.
    pub size_mm: f32,
    /// Resolution the label is drawn at.
    pub px_per_mm: f32,
}

impl LabelStyle {
    /// A style at the default resolution (about 1000 px a side, at least the scene's).
    pub fn new(layout: LabelLayout, size_mm: f32) -> Self {
        Self { layout, size_mm, px_per_mm: (1000.0 / size_mm).clamp(2.0, 20.0) }
    }

    /// Either layout; 100 / 150 / 200 mm (drum labels most often).
    pub fn random(rng: &mut Rng) -> Self {
        let layout = if rng.bool() { LabelLayout::Table } else { LabelLayout::Lines };
        let size = match rng.u32(0..10) {
            0..=2 => 100.0,
            3..=7 => 150.0,
            _ => 200.0,
        };
        Self::new(layout, size)
    }
}

/// A flat label and where its values are.
#[derive(Debug, Clone)]
pub struct RenderedLabel {
    pub image: RgbImage,
    /// x0, y0, x1, y1 of each value's text line box (font ascent to descent). A
    /// wrapped value has one box per line, in reading order; an empty value a
    /// zero-width box where it would start. Keys and the title have none.
    pub field_boxes: Vec<(LabelField, [f32; 4])>,
    /// The text drawn in each of `field_boxes` (same order). Joined per field it is
    /// `printed(field)` unless the value had to be clipped with "…".
    pub box_texts: Vec<String>,
    /// The QR symbol without its quiet zone.
    pub qr_box: Option<[f32; 4]>,
    /// Body text size (the CJK character's em) in label pixels.
    pub text_em_px: f32,
    pub px_per_mm: f32,
}

/// Body-text em in mm: HJ 1276 minimum character height (3 / 5 / 6 mm for
/// 100 / 150 / 200 mm labels) with a little room.
fn body_em_mm(size_mm: f32) -> f32 {
    if size_mm < 125.0 {
        0.033 * size_mm
    } else if size_mm < 175.0 {
        0.0353 * size_mm
    } else {
        0.032 * size_mm
    }
}

/// Font measurements at PxScale 1.
struct Typeset<'a> {
    font: &'a FontVec,
    asc: f32,
    desc: f32,
    /// The CJK em (advance of 国) per unit scale.
    cjk: f32,
}

impl<'a> Typeset<'a> {
    fn new(font: &'a FontVec) -> Self {
        let s = font.as_scaled(PxScale::from(1.0));
        let (mut asc, mut desc) = (s.ascent(), s.descent());
        if !(asc.is_finite() && desc.is_finite() && asc - desc > 0.1) {
            (asc, desc) = (0.8, -0.2);
        }
        let id = font.glyph_id('国');
        let cjk = if id.0 == 0 { 0.85 } else { s.h_advance(id) };
        Self { font, asc, desc, cjk: if cjk > 0.1 { cjk } else { 0.85 } }
    }

    fn width(&self, scale: f32, text: &str) -> f32 {
        let f = self.font.as_scaled(PxScale::from(scale));
        let mut w = 0.0;
        let mut prev = None;
        for c in text.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                w += f.kern(p, id);
            }
            w += f.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// The baseline that centres a line box of `scale` on y = `centre`.
    fn baseline(&self, scale: f32, centre: f32) -> f32 {
        centre + (self.asc + self.desc) * scale / 2.0
    }

    /// Lines of at most `avail` px, broken between characters (ASCII words kept whole when they fit).
    fn wrap(&self, text: &str, scale: f32, avail: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut cur = String::new();
        let mut cur_w = 0.0;
        for tok in tokens(text) {
            let w = self.width(scale, tok);
            if cur_w + w <= avail || cur.is_empty() && w <= avail {
                cur.push_str(tok);
                cur_w += w;
            } else if w > avail {
                // A word wider than the line: split it by characters.
                for c in tok.chars() {
                    let cw = self.width(scale, c.encode_utf8(&mut [0; 4]));
                    if cur_w + cw > avail && !cur.is_empty() {
                        lines.push(std::mem::take(&mut cur));
                        cur_w = 0.0;
                    }
                    cur.push(c);
                    cur_w += cw;
                }
            } else {
                lines.push(std::mem::take(&mut cur));
                cur_w = 0.0;
                if tok != " " {
                    cur.push_str(tok);
                    cur_w = w;
                }
            }
        }
        lines.push(cur);
        lines
    }

    /// Wrapped lines of about equal length rather than a full line and an orphan.
    fn balance(&self, text: &str, scale: f32, avail: f32, lines: Vec<String>) -> Vec<String> {
        if lines.len() < 2 {
            return lines;
        }
        let n = lines.len();
        let total = self.width(scale, text);
        let mut target = total / n as f32;
        while target < avail {
            let again = self.wrap(text, scale, target);
            if again.len() == n {
                return again;
            }
            target += 0.25 * scale;
        }
        lines
    }

    /// The text at `scale` or a little smaller, in at most `max_lines` lines of
    /// `avail` px; clipped with "…" when even that is too little.
    fn fit(&self, text: &str, scale: f32, avail: f32, max_lines: usize) -> (f32, Vec<String>) {
        let avail = avail.max(1.0);
        let max_lines = max_lines.max(1);
        for f in [1.0, 0.93, 0.86, 0.8, 0.74] {
            let lines = self.wrap(text, scale * f, avail);
            if lines.len() <= max_lines {
                return (scale * f, self.balance(text, scale * f, avail, lines));
            }
        }
        let s = scale * 0.74;
        let mut lines = self.wrap(text, s, avail);
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            last.push('…');
            while self.width(s, last) > avail && last.chars().count() > 1 {
                let ell = last.pop();
                last.pop();
                last.extend(ell);
            }
        }
        (s, lines)
    }
}

/// Break points: each CJK character alone, ASCII words (letters, digits, . - / % :) whole.
fn tokens(text: &str) -> Vec<&str> {
    let wordy = |c: char| c.is_ascii_alphanumeric() || ".-/%:_()".contains(c);
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if wordy(c) {
            start.get_or_insert(i);
        } else {
            if let Some(s) = start.take() {
                out.push(&text[s..i]);
            }
            out.push(&text[i..i + c.len_utf8()]);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// Printable, bounded text: control characters become spaces; absurdly long
/// values are cut before layout (they would be clipped anyway).
fn clean(text: &str) -> String {
    text.chars().take(400).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RowKind {
    Single(LabelField),
    Pair(LabelField, LabelField),
    Hazards,
}

/// The template's rows, top to bottom; pairs share a row where they fit.
const ROWS: [RowKind; 12] = [
    RowKind::Single(LabelField::WasteName),
    RowKind::Pair(LabelField::Category, LabelField::WasteCode),
    RowKind::Single(LabelField::Form),
    RowKind::Hazards,
    RowKind::Single(LabelField::MainComponents),
    RowKind::Single(LabelField::HarmfulComponents),
    RowKind::Single(LabelField::Precautions),
    RowKind::Single(LabelField::IdCode),
    RowKind::Single(LabelField::Company),
    RowKind::Pair(LabelField::ContactPerson, LabelField::ContactPhone),
    RowKind::Pair(LabelField::Date, LabelField::Weight),
    RowKind::Single(LabelField::Remarks),
];
/// Rows from this one on sit beside the QR code (the id code above needs the full width).
const FIRST_BESIDE_QR: usize = 8;

/// How many lines a value may take before it is shrunk.
fn max_lines(field: LabelField) -> usize {
    match field {
        LabelField::MainComponents | LabelField::Precautions | LabelField::Company | LabelField::WasteName | LabelField::Remarks => 2,
        LabelField::HarmfulComponents | LabelField::Hazards => 2,
        _ => 1,
    }
}

/// Sizes in label px for one layout attempt.
struct Metrics {
    table: bool,
    scale: f32,
    em: f32,
    line_h: f32,
    pad_h: f32,
    pad_v: f32,
    kv_gap: f32,
    pair_gap: f32,
    key_col: f32,
    /// Last resort for huge content: every value on one line.
    one_line: bool,
}

/// Something drawn in a row; `dy` is relative to the row's vertical centre.
enum Item {
    Text { x: f32, dy: f32, scale: f32, text: String, field: Option<LabelField>, bold: bool },
    Picto { hazard: Hazard, x: f32, dy: f32, d: f32 },
}

struct Row {
    h: f32,
    xr: f32,
    items: Vec<Item>,
    /// Cell separators (Table).
    vlines: Vec<f32>,
}

struct Plan {
    /// (row top, row)
    title: (f32, Row),
    rows: Vec<(f32, Row)>,
    hlines: Vec<(f32, f32, f32)>,
    vlines: Vec<(f32, f32, f32)>,
    qr: Option<(f32, f32, f32)>,
    em: f32,
}

/// Text lines centred on the row; returns items and the block height.
fn text_block(ts: &Typeset, m: &Metrics, x: f32, lines: Vec<String>, scale: f32, field: Option<LabelField>, top_dy: f32) -> Vec<Item> {
    lines
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let centre = top_dy + (i as f32 + 0.5) * m.line_h;
            Item::Text { x, dy: ts.baseline(scale, centre), scale, text, field, bold: false }
        })
        .collect()
}

fn key_text(field: LabelField, m: &Metrics) -> String {
    if m.table { field.key_zh().to_string() } else { format!("{}：", field.key_zh()) }
}

fn single_row(ts: &Typeset, m: &Metrics, field: LabelField, value: &str, xl: f32, xr: f32) -> Row {
    let key = key_text(field, m);
    let (vx, sep) = if m.table {
        (xl + m.key_col + m.pad_h, vec![xl + m.key_col])
    } else {
        (xl + m.pad_h + ts.width(m.scale, &key) + m.kv_gap, Vec::new())
    };
    let lines_allowed = if m.one_line { 1 } else { max_lines(field) };
    let (vs, lines) = ts.fit(value, m.scale, xr - m.pad_h - vx, lines_allowed);
    let n = lines.len().max(1) as f32;
    let h = n * m.line_h + 2.0 * m.pad_v;
    let mut items = text_block(ts, m, xl + m.pad_h, vec![key], m.scale, None, -m.line_h / 2.0);
    items.extend(text_block(ts, m, vx, lines, vs, Some(field), -n * m.line_h / 2.0));
    Row { h, xr, items, vlines: sep }
}

/// Two fields on one row, or None when they do not fit side by side.
fn pair_row(ts: &Typeset, m: &Metrics, (fa, va): (LabelField, &str), (fb, vb): (LabelField, &str), xl: f32, xr: f32) -> Option<Row> {
    let (ka, kb) = (key_text(fa, m), key_text(fb, m));
    let w = xr - xl;
    let width = |t: &str| ts.width(m.scale, t);
    let y0 = -m.line_h / 2.0;
    let cell = |x: f32, text: &str, field: Option<LabelField>| text_block(ts, m, x, vec![text.to_string()], m.scale, field, y0);
    let mut items = Vec::new();
    let mut vlines = Vec::new();
    if m.table {
        let (kaw, vaw, kbw, vbw) = (width(&ka) + 2.0 * m.pad_h, width(va) + 2.0 * m.pad_h, width(&kb) + 2.0 * m.pad_h, width(vb) + 2.0 * m.pad_h);
        let k1 = if m.key_col + vaw + kbw + vbw <= w { m.key_col } else { kaw };
        if k1 + vaw + kbw + vbw > w {
            return None;
        }
        // Line the second key up across rows where there is room.
        let xb = (xl + 0.52 * w).min(xr - kbw - vbw).max(xl + k1 + vaw);
        items.extend(cell(xl + m.pad_h, &ka, None));
        items.extend(cell(xl + k1 + m.pad_h, va, Some(fa)));
        items.extend(cell(xb + m.pad_h, &kb, None));
        items.extend(cell(xb + kbw + m.pad_h, vb, Some(fb)));
        vlines.extend([xl + k1, xb, xb + kbw]);
    } else {
        let xa = xl + m.pad_h;
        let end_a = xa + width(&ka) + m.kv_gap + width(va);
        let run_b = width(&kb) + m.kv_gap + width(vb);
        // Half-way across when there is room (lines the pairs up), else a gap of
        // a couple of characters, at least one.
        let xb = [(xl + 0.5 * w).max(end_a + m.pair_gap), end_a + m.pair_gap, end_a + m.em]
            .into_iter()
            .find(|xb| xb + run_b <= xr - m.pad_h)?;
        items.extend(cell(xa, &ka, None));
        items.extend(cell(xa + width(&ka) + m.kv_gap, va, Some(fa)));
        items.extend(cell(xb, &kb, None));
        items.extend(cell(xb + width(&kb) + m.kv_gap, vb, Some(fb)));
    }
    Some(Row { h: m.line_h + 2.0 * m.pad_v, xr, items, vlines })
}

/// 危险特性: the text and a diamond per hazard beside it (or below when there is no room).
fn hazard_row(ts: &Typeset, m: &Metrics, hazards: &[Hazard], text: &str, xl: f32, xr: f32) -> Row {
    let mut row = single_row(ts, m, LabelField::Hazards, text, xl, xr);
    if hazards.is_empty() {
        return row;
    }
    let (vx, key) = if m.table {
        (xl + m.key_col + m.pad_h, LabelField::Hazards.key_zh().to_string())
    } else {
        let key = key_text(LabelField::Hazards, m);
        (xl + m.pad_h + ts.width(m.scale, &key) + m.kv_gap, key)
    };
    let avail = xr - m.pad_h - vx;
    let n = hazards.len() as f32;
    let gap = 0.3 * m.em;
    let d = 1.9 * m.em;
    let tw = ts.width(m.scale, text);
    if tw + 0.8 * m.em + n * (d + gap) <= avail {
        row.h = (d + 0.3 * m.em).max(m.line_h) + 2.0 * m.pad_v;
        let x0 = vx + tw + 0.8 * m.em;
        for (i, h) in hazards.iter().enumerate() {
            row.items.push(Item::Picto { hazard: *h, x: x0 + i as f32 * (d + gap), dy: 0.0, d });
        }
    } else {
        // Text on top, the diamonds on a line of their own below it.
        let (vs, lines) = ts.fit(text, m.scale, avail, if m.one_line { 1 } else { 2 });
        let d = d.min(avail / n - gap).max(2.0);
        let block = lines.len() as f32 * m.line_h + d + 0.3 * m.em;
        let top = -block / 2.0;
        row.h = block + 2.0 * m.pad_v;
        row.items = text_block(ts, m, xl + m.pad_h, vec![key], m.scale, None, top);
        let below = top + lines.len() as f32 * m.line_h;
        row.items.extend(text_block(ts, m, vx, lines, vs, Some(LabelField::Hazards), top));
        for (i, h) in hazards.iter().enumerate() {
            row.items.push(Item::Picto { hazard: *h, x: vx + i as f32 * (d + gap), dy: below + 0.15 * m.em + d / 2.0, d });
        }
    }
    row
}

fn title_row(ts: &Typeset, m: &Metrics, xl: f32, xr: f32) -> Row {
    let mut scale = m.scale * 2.1;
    let chars: Vec<String> = "危险废物".chars().map(String::from).collect();
    let mut spacing = 0.45 * scale * ts.cjk;
    let natural = |scale: f32, spacing: f32| chars.iter().map(|c| ts.width(scale, c)).sum::<f32>() + spacing * (chars.len() - 1) as f32;
    if natural(scale, spacing) > 0.9 * (xr - xl) {
        let f = 0.9 * (xr - xl) / natural(scale, spacing);
        scale *= f;
        spacing *= f;
    }
    let mut x = (xl + xr - natural(scale, spacing)) / 2.0;
    let dy = ts.baseline(scale, 0.0);
    let mut items = Vec::new();
    for c in chars {
        let w = ts.width(scale, &c);
        items.push(Item::Text { x, dy, scale, text: c, field: None, bold: true });
        x += w + spacing;
    }
    let h = scale * ts.cjk * if m.table { 1.45 } else { 1.35 };
    Row { h, xr, items, vlines: Vec::new() }
}

/// QR modules of a payload (M, or L when M does not hold it); None when it cannot be encoded.
pub(crate) fn qr_modules(payload: &str) -> Option<(usize, Vec<bool>)> {
    use qrcode::{EcLevel, QrCode};
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::L))
        .ok()?;
    let dark = code.to_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect();
    Some((code.width(), dark))
}

/// Geometry shared by layout and drawing.
struct Frame {
    side: f32,
    ppm: f32,
    margin: f32,
    border: f32,
    inner: [f32; 4],
    qr_side: f32,
}

fn frame_of(style: &LabelStyle) -> Frame {
    let size = if style.size_mm.is_finite() && style.size_mm > 0.0 { style.size_mm.clamp(40.0, 400.0) } else { 100.0 };
    let ppm = if style.px_per_mm.is_finite() && style.px_per_mm > 0.0 { style.px_per_mm } else { 1000.0 / size };
    // 48 .. 4096 px a side whatever was asked.
    let side = (size * ppm).round().clamp(48.0, 4096.0);
    let ppm = side / size;
    let margin = 3.2 * ppm;
    let border = (1.2 * ppm).max(1.0);
    let a = margin + border;
    Frame { side, ppm, margin, border, inner: [a, a, side - a, side - a], qr_side: (0.2 * size).clamp(20.0, 25.0) * ppm }
}

/// One try at laying the label out: text scaled by `g`, every value on one line,
/// and whether to lay out even what does not fit.
#[derive(Clone, Copy)]
struct Attempt {
    g: f32,
    one_line: bool,
    force: bool,
}

fn plan(content: &LabelContent, style: &LabelStyle, fr: &Frame, ts: &Typeset, qr: bool, Attempt { g, one_line, force }: Attempt) -> Option<Plan> {
    let table = style.layout == LabelLayout::Table;
    let em = body_em_mm(fr.side / fr.ppm) * fr.ppm * g * if table { 1.0 } else { 1.05 };
    let scale = em / ts.cjk;
    let mut m = Metrics {
        table,
        scale,
        em,
        line_h: em * if table { 1.2 } else { 1.25 },
        pad_h: em * if table { 0.3 } else { 0.45 },
        pad_v: em * if table { 0.18 } else { 0.1 },
        kv_gap: em * 0.05,
        pair_gap: em * 1.8,
        key_col: 0.0,
        one_line,
    };
    m.key_col = LabelField::ALL.iter().map(|f| ts.width(scale, f.key_zh())).fold(0.0, f32::max) + 2.0 * m.pad_h;
    let [xl, yt, xr_full, yb] = fr.inner;
    // Lines: a little air inside the border.
    let (yt, yb) = if table { (yt, yb) } else { (yt + 0.3 * em, yb - 0.3 * em) };
    let qr_pad = 1.0 * fr.ppm;
    let x_qr = if table { xr_full - fr.qr_side - 2.0 * qr_pad } else { xr_full - m.pad_h - fr.qr_side - 0.4 * em };
    let qr_need_h = fr.qr_side + 2.0 * qr_pad;

    let title = title_row(ts, &m, xl, xr_full);
    let mut rows: Vec<(bool, Row)> = Vec::new();
    for (i, kind) in ROWS.iter().enumerate() {
        let beside = qr && i >= FIRST_BESIDE_QR;
        let xr = if beside { x_qr } else { xr_full };
        let value = |f: LabelField| clean(&content.printed(f));
        match *kind {
            RowKind::Single(f) => rows.push((beside, single_row(ts, &m, f, &value(f), xl, xr))),
            RowKind::Hazards => rows.push((beside, hazard_row(ts, &m, &content.hazards, &value(LabelField::Hazards), xl, xr))),
            RowKind::Pair(a, b) => match pair_row(ts, &m, (a, &value(a)), (b, &value(b)), xl, xr) {
                Some(r) => rows.push((beside, r)),
                None => {
                    rows.push((beside, single_row(ts, &m, a, &value(a), xl, xr)));
                    rows.push((beside, single_row(ts, &m, b, &value(b), xl, xr)));
                }
            },
        }
    }

    let total: f32 = title.h + rows.iter().map(|(_, r)| r.h).sum::<f32>();
    let mut slack = (yb - yt) - total;
    let n_beside = rows.iter().filter(|(b, _)| *b).count();
    let beside_h: f32 = rows.iter().filter(|(b, _)| *b).map(|(_, r)| r.h).sum();
    let need = if n_beside > 0 { (qr_need_h - beside_h).max(0.0) } else { 0.0 };
    if (slack < need) && !force {
        return None;
    }
    // The rows beside the QR code grow to its height; all rows share what is left.
    for (b, r) in &mut rows {
        if *b {
            r.h += need / n_beside as f32;
        }
    }
    slack = (slack - need).max(0.0);
    let share = slack / rows.len() as f32;
    let mut y = yt;
    let title = (y, title);
    y += title.1.h;
    let mut placed = Vec::new();
    let mut hlines = vec![(y, xl, xr_full)];
    let mut vlines = Vec::new();
    let mut first_beside_top = None;
    let n_rows = rows.len();
    for (i, (beside, mut r)) in rows.into_iter().enumerate() {
        r.h += share;
        if beside && first_beside_top.is_none() {
            first_beside_top = Some(y);
        }
        for &x in &r.vlines {
            vlines.push((x, y, y + r.h));
        }
        if i + 1 < n_rows {
            hlines.push((y + r.h, xl, r.xr));
        }
        placed.push((y, r));
        y = placed.last().map(|(t, r)| t + r.h).unwrap_or(y);
    }
    let qr = match (qr, first_beside_top) {
        (true, Some(top)) => {
            vlines.push((x_qr, top, fr.inner[3]));
            let cy = (top + yb.max(top)) / 2.0;
            let cx = (x_qr + xr_full) / 2.0;
            Some((cx - fr.qr_side / 2.0, (cy - fr.qr_side / 2.0).min(yb - fr.qr_side), fr.qr_side))
        }
        _ => None,
    };
    if !table {
        hlines.clear();
        vlines.clear();
    }
    Some(Plan { title, rows: placed, hlines, vlines, qr, em })
}

/// Draws the label. Never panics: empty values leave their cell blank, values too
/// long for their cell are wrapped, shrunk a little and finally clipped with "…".
pub fn render_label(content: &LabelContent, style: &LabelStyle, font: &FontVec) -> RenderedLabel {
    let fr = frame_of(style);
    let ts = Typeset::new(font);
    let modules = content.qr_payload.as_deref().and_then(qr_modules);
    let has_qr = modules.is_some();
    // Shrink everything a little at a time until it fits; then one line per value; then clip.
    let attempts = [(1.0, false), (0.95, false), (0.9, false), (0.85, false), (0.8, false), (0.8, true), (0.72, true)];
    let plan = attempts
        .iter()
        .find_map(|&(g, one_line)| plan(content, style, &fr, &ts, has_qr, Attempt { g, one_line, force: false }))
        .or_else(|| plan(content, style, &fr, &ts, has_qr, Attempt { g: 0.72, one_line: true, force: true }));

    let side = fr.side as u32;
    let mut img = RgbImage::from_pixel(side, side, image::Rgb(LABEL_ORANGE));
    // The border ring: a black square with the orange inside restored.
    let (a, b) = (fr.margin, fr.side - fr.margin);
    fill_rect(&mut img, a, a, b, b, BLACK);
    fill_rect(&mut img, a + fr.border, a + fr.border, b - fr.border, b - fr.border, LABEL_ORANGE);

    let mut out = RenderedLabel { image: RgbImage::new(1, 1), field_boxes: Vec::new(), box_texts: Vec::new(), qr_box: None, text_em_px: 0.0, px_per_mm: fr.ppm };
    let Some(plan) = plan else {
        out.image = img;
        return out;
    };
    out.text_em_px = plan.em;
    let t = (0.3 * fr.ppm).max(1.0);
    for &(y, x0, x1) in &plan.hlines {
        fill_rect(&mut img, x0, y - t / 2.0, x1, y + t / 2.0, BLACK);
    }
    for &(x, y0, y1) in &plan.vlines {
        fill_rect(&mut img, x - t / 2.0, y0, x + t / 2.0, y1, BLACK);
    }
    let bottom = fr.inner[3];
    for (top, row) in std::iter::once(&plan.title).chain(plan.rows.iter()) {
        let cy = top + row.h / 2.0;
        for item in &row.items {
            match item {
                Item::Text { x, dy, scale, text, field, bold } => {
                    let base = cy + dy;
                    let bx = [*x, base - ts.asc * scale, x + ts.width(*scale, text), base - ts.desc * scale];
                    // Only ever reached by forced layouts of absurd content: drop what falls off.
                    if bx[3] > bottom + 0.5 * scale {
                        continue;
                    }
                    if *bold {
                        let o = 0.035 * scale;
                        for (ox, oy) in [(0.0, 0.0), (o, 0.0), (0.0, o), (o, o)] {
                            draw_text(&mut img, font, *scale, x + ox, base + oy, text, BLACK);
                        }
                    } else {
                        draw_text(&mut img, font, *scale, *x, base, text, BLACK);
                    }
                    if let Some(f) = field {
                        let s = fr.side;
                        out.field_boxes.push((*f, [bx[0].clamp(0.0, s), bx[1].clamp(0.0, s), bx[2].clamp(0.0, s), bx[3].clamp(0.0, s)]));
                        out.box_texts.push(text.clone());
                    }
                }
                Item::Picto { hazard, x, dy, d } => draw_pictogram(&mut img, *hazard, x + d / 2.0, cy + dy, *d),
            }
        }
    }
    if let (Some((qx, qy, q)), Some((w, dark))) = (plan.qr, modules) {
        out.qr_box = Some(draw_qr(&mut img, qx, qy, q, w, &dark));
    }
    out.image = img;
    out
}

/// Black modules on white with a 4-module quiet zone in a `q` px square; module
/// edges snapped to whole pixels so the code stays crisp. Returns the symbol's box.
fn draw_qr(img: &mut RgbImage, qx: f32, qy: f32, q: f32, w: usize, dark: &[bool]) -> [f32; 4] {
    fill_rect(img, qx, qy, qx + q, qy + q, WHITE);
    let n = (w + 8) as f32;
    let edge = |o: f32, i: usize| (o + i as f32 * q / n).round();
    for (i, &d) in dark.iter().enumerate() {
        if d {
            let (mx, my) = (i % w.max(1) + 4, i / w.max(1) + 4);
            fill_rect(img, edge(qx, mx), edge(qy, my), edge(qx, mx + 1), edge(qy, my + 1), BLACK);
        }
    }
    [edge(qx, 4), edge(qy, 4), edge(qx, w + 4), edge(qy, w + 4)]
}

fn draw_text(img: &mut RgbImage, font: &FontVec, scale: f32, x: f32, base: f32, text: &str, color: [u8; 3]) {
    let f = font.as_scaled(PxScale::from(scale));
    let mut caret = x;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            caret += f.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, point(caret, base));
        caret += f.h_advance(id);
        prev = Some(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| blend(img, b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64, color, cov));
        }
    }
}

#[inline]
fn blend(img: &mut RgbImage, x: i64, y: i64, color: [u8; 3], cov: f32) {
    if x < 0 || y < 0 || x >= img.width() as i64 || y >= img.height() as i64 {
        return;
    }
    let a = cov.clamp(0.0, 1.0);
    let p = img.get_pixel_mut(x as u32, y as u32);
    for (c, t) in p.0.iter_mut().zip(color) {
        *c = (*c as f32 * (1.0 - a) + t as f32 * a).round() as u8;
    }
}

/// Fills `[x0, x1) x [y0, y1)` rounded to whole pixels, clipped to the image.
fn fill_rect(img: &mut RgbImage, x0: f32, y0: f32, x1: f32, y1: f32, color: [u8; 3]) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let cl = |v: f32, hi: f32| if v.is_finite() { v.round().clamp(0.0, hi) as u32 } else { 0 };
    for y in cl(y0, h)..cl(y1, h) {
        for x in cl(x0, w)..cl(x1, w) {
            img.put_pixel(x, y, image::Rgb(color));
        }
    }
}

/// A shape for the pictograms, tested at a point.
enum Shape {
    Poly(Vec<(f32, f32)>),
    Circle(f32, f32, f32),
}

impl Shape {
    fn contains(&self, x: f32, y: f32) -> bool {
        match self {
            Shape::Circle(cx, cy, r) => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Shape::Poly(p) => {
                let mut inside = false;
                let mut j = p.len().wrapping_sub(1);
                for i in 0..p.len() {
                    let ((xi, yi), (xj, yj)) = (p[i], p[j]);
                    if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                        inside = !inside;
                    }
                    j = i;
                }
                inside
            }
        }
    }

    fn bounds(&self) -> [f32; 4] {
        match self {
            Shape::Circle(cx, cy, r) => [cx - r, cy - r, cx + r, cy + r],
            Shape::Poly(p) => p.iter().fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, &(x, y)| [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)]),
        }
    }
}

/// Fills a shape with 3x3 supersampled edges.
fn fill_shape(img: &mut RgbImage, shape: &Shape, color: [u8; 3]) {
    let [x0, y0, x1, y1] = shape.bounds();
    if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
        return;
    }
    let (w, h) = (img.width() as i64, img.height() as i64);
    for py in (y0.floor() as i64).max(0)..(y1.ceil() as i64).min(h) {
        for px in (x0.floor() as i64).max(0)..(x1.ceil() as i64).min(w) {
            let mut hits = 0;
            for sy in 0..3 {
                for sx in 0..3 {
                    if shape.contains(px as f32 + (sx as f32 + 0.5) / 3.0, py as f32 + (sy as f32 + 0.5) / 3.0) {
                        hits += 1;
                    }
                }
            }
            if hits > 0 {
                blend(img, px, py, color, hits as f32 / 9.0);
            }
        }
    }
}

/// A bar of width `w` from (x0, y0) to (x1, y1).
fn bar(x0: f32, y0: f32, x1: f32, y1: f32, w: f32) -> Shape {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (nx, ny) = (-dy / len * w / 2.0, dx / len * w / 2.0);
    Shape::Poly(vec![(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)])
}

/// A GHS-like diamond: black rim, white face, a rough symbol of the hazard.
/// Exactness does not matter (HJ 1276's own artwork was not at hand).
fn draw_pictogram(img: &mut RgbImage, hazard: Hazard, cx: f32, cy: f32, d: f32) {
    let diamond = |r: f32| Shape::Poly(vec![(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]);
    fill_shape(img, &diamond(d / 2.0), BLACK);
    fill_shape(img, &diamond(d / 2.0 - 0.09 * d), WHITE);
    let p = |x: f32, y: f32| (cx + x * d, cy + y * d);
    let circle = |x: f32, y: f32, r: f32| Shape::Circle(cx + x * d, cy + y * d, r * d);
    let line = |a: (f32, f32), b: (f32, f32), w: f32| bar(cx + a.0 * d, cy + a.1 * d, cx + b.0 * d, cy + b.1 * d, w * d);
    let mut black = Vec::new();
    let mut white = Vec::new();
    match hazard {
        Hazard::Toxic => {
            // Skull and crossbones.
            black.push(line((-0.17, 0.02), (0.17, 0.17), 0.045));
            black.push(line((0.17, 0.02), (-0.17, 0.17), 0.045));
            black.push(circle(0.0, -0.13, 0.11));
            black.push(Shape::Poly(vec![p(-0.06, -0.06), p(0.06, -0.06), p(0.06, 0.0), p(-0.06, 0.0)]));
            white.push(circle(-0.045, -0.14, 0.03));
            white.push(circle(0.045, -0.14, 0.03));
        }
        Hazard::Corrosive => {
            // Two tubes pouring onto a hand and a bar.
            black.push(line((-0.22, -0.24), (-0.08, -0.12), 0.06));
            black.push(line((0.22, -0.24), (0.08, -0.12), 0.06));
            black.push(circle(-0.06, -0.03, 0.025));
            black.push(circle(0.06, -0.03, 0.025));
            black.push(Shape::Poly(vec![p(-0.24, 0.05), p(-0.02, 0.05), p(-0.02, 0.13), p(-0.24, 0.13)]));
            black.push(Shape::Poly(vec![p(0.02, 0.08), p(0.24, 0.08), p(0.24, 0.13), p(0.02, 0.13)]));
        }
        Hazard::Ignitable => {
            black.push(Shape::Poly(vec![p(0.0, -0.3), p(0.1, -0.14), p(0.14, 0.0), p(0.09, 0.11), p(-0.09, 0.11), p(-0.14, 0.0), p(-0.07, -0.1), p(-0.03, -0.03)]));
            black.push(Shape::Poly(vec![p(-0.18, 0.14), p(0.18, 0.14), p(0.18, 0.18), p(-0.18, 0.18)]));
        }
        Hazard::Reactive => {
            // A bursting bomb.
            black.push(circle(0.0, 0.06, 0.1));
            for k in 0..7 {
                let a = std::f32::consts::PI * (1.1 + 0.8 * k as f32 / 6.0);
                let (c, s) = (a.cos(), a.sin());
                black.push(line((0.15 * c, 0.06 + 0.15 * s), (0.27 * c, 0.06 + 0.27 * s), 0.035));
            }
        }
        Hazard::Infectious => {
            // Biohazard-ish: three rings round a hub.
            for k in 0..3 {
                let a = std::f32::consts::PI * (-0.5 + 2.0 * k as f32 / 3.0);
                black.push(circle(0.1 * a.cos(), 0.1 * a.sin(), 0.1));
                white.push(circle(0.14 * a.cos(), 0.14 * a.sin(), 0.055));
            }
            white.push(circle(0.0, 0.0, 0.03));
        }
    }
    for s in &black {
        fill_shape(img, s, BLACK);
    }
    for s in &white {
        fill_shape(img, s, WHITE);
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::catalogue::Catalogue;
    use crate::label::idcode::{IdCodeLayout, is_valid_credit_code};
    use std::collections::BTreeMap;

    fn font() -> FontVec {
        load_font().unwrap_or_else(|e| panic!("{e}"))
    }

    fn catalogue() -> Vec<CatalogueEntry> {
        Catalogue::builtin().entries().to_vec()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    /// Content, label and scene from one seed, the way the benchmark makes them.
    fn scene_from_seed(seed: u64, cat: &[CatalogueEntry], font: &FontVec, severity: f32) -> (LabelContent, RenderedLabel, Scene) {
        let mut rng = Rng::with_seed(seed);
        let content = LabelContent::random(&mut rng, cat, today());
        let label = render_label(&content, &LabelStyle::random(&mut rng), font);
        let damage = SceneDamage::random(&mut rng, severity);
        let scene = render_scene(Some(&label), &damage, &mut rng, 1280, 960);
        (content, label, scene)
    }

    fn decode_qr(jpeg: &[u8]) -> Option<String> {
        let luma = image::load_from_memory(jpeg).ok()?.to_luma8();
        let (w, h) = luma.dimensions();
        rxing::helpers::detect_in_luma(luma.into_raw(), w, h, Some(rxing::BarcodeFormat::QR_CODE)).ok().map(|r| r.getText().to_string())
    }

    #[test]
    fn the_same_seed_gives_the_same_jpeg_bytes() {
        let (cat, font) = (catalogue(), font());
        let (c1, _, s1) = scene_from_seed(42, &cat, &font, 0.7);
        let (c2, _, s2) = scene_from_seed(42, &cat, &font, 0.7);
        assert_eq!(c1, c2);
        assert!(s1.jpeg.len() > 10_000, "a 1280x960 JPEG, got {} bytes", s1.jpeg.len());
        assert!(s1.jpeg == s2.jpeg, "same seed, different bytes");
        assert_eq!(s1.field_quads, s2.field_quads);
        let (_, _, s3) = scene_from_seed(43, &cat, &font, 0.7);
        assert!(s1.jpeg != s3.jpeg, "another seed, same bytes");
    }

    #[test]
    fn id_codes_are_37_characters_with_a_valid_check_character() {
        assert_eq!(credit_code_check_char("91350100M000100Y4"), Some('3'), "published example 91350100M000100Y43");
        let layout = IdCodeLayout::default();
        let mut rng = Rng::with_seed(7);
        for _ in 0..500 {
            let credit = random_credit_code(&mut rng);
            assert!(is_valid_credit_code(&credit), "{credit}");
            assert!(credit.bytes().all(|b| CREDIT_ALPHABET.contains(&b)), "{credit}");
            assert_eq!(org_code_check_char(&credit[8..16]), credit.chars().nth(16).unwrap(), "GB 11714 check of {credit}");
            let date = today() - chrono::Days::new(rng.u64(0..300));
            let id = id_code(&credit, "900-249-08", date, rng.u32(0..2000));
            assert_eq!(id.chars().count(), 37, "{id}");
            let seg = layout.split(&id).unwrap();
            assert_eq!(seg.unit, credit);
            assert_eq!(seg.waste_code, "900-249-08");
            assert_eq!(seg.date, date.format("%Y-%m-%d").to_string());
        }
        assert_eq!(id_code("91350100M000100Y43", "900-249-08", NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), 7), "91350100M000100Y439002490820261102007");
    }

    #[test]
    fn random_content_is_self_consistent() {
        let cat = catalogue();
        let by_code: BTreeMap<&str, &CatalogueEntry> = cat.iter().map(|e| (e.code.as_str(), e)).collect();
        let layout = IdCodeLayout::default();
        let mut rng = Rng::with_seed(1);
        let mut common = 0;
        for _ in 0..1000 {
            let c = LabelContent::random(&mut rng, &cat, today());
            let entry = by_code.get(c.waste_code.as_str()).unwrap_or_else(|| panic!("{} not in the catalogue", c.waste_code));
            assert_ne!(c.category, "HW01", "medical waste uses HJ 421 signs");
            assert_eq!(c.category, entry.category);
            assert_eq!(c.category[2..], c.waste_code[8..], "category vs code of {c:?}");
            assert_eq!(entry.hazards.mismatch(&c.hazards), None, "{} {:?} vs {}", c.waste_code, c.hazards, entry.hazards_text);
            assert!(["固态", "半固态", "液态", "气态"].contains(&c.form.as_str()), "{}", c.form);
            assert!(!c.waste_name.is_empty() && c.waste_name.chars().count() <= 12, "{}", c.waste_name);
            assert!(c.date <= today() && c.date > today() - chrono::Days::new(300));
            assert!((0.5..=500.0).contains(&c.weight_kg) && ((c.weight_kg * 10.0).round() - c.weight_kg * 10.0).abs() < 1e-9, "{}", c.weight_kg);
            let seg = layout.split(&c.id_code).unwrap();
            assert!(is_valid_credit_code(&seg.unit), "{}", c.id_code);
            assert_eq!(seg.waste_code, c.waste_code);
            assert_eq!(seg.date, c.printed(LabelField::Date));
            assert_eq!(c.qr_payload.as_deref(), Some(c.id_code.as_str()));
            let phone = &c.contact_phone;
            let mobile = phone.len() == 11 && phone.starts_with('1') && (b'3'..=b'9').contains(&phone.as_bytes()[1]) && phone.bytes().all(|b| b.is_ascii_digit());
            let landline = phone.len() == 12 && phone.starts_with("010-") && phone[4..].bytes().all(|b| b.is_ascii_digit());
            assert!(mobile || landline, "{phone}");
            assert!((2..=3).contains(&c.contact_person.chars().count()), "{}", c.contact_person);
            assert!(c.company.starts_with("北京") && c.company.ends_with("有限公司"), "{}", c.company);
            assert!(c.printed(LabelField::Weight).ends_with("kg"));
            common += COMMON.iter().any(|k| k.code == c.waste_code) as usize;
        }
        assert!((500..=700).contains(&common), "about 60 % common codes, got {common} of 1000");
        // Nothing usable: still a valid label.
        let c = LabelContent::random(&mut rng, &[], today());
        assert_eq!(c.waste_code, "900-249-08");
        assert_eq!(fallback_entry().hazards.mismatch(&c.hazards), None);
    }

    #[test]
    fn names_come_from_the_description_when_the_code_is_not_a_common_one() {
        assert_eq!(short_name("使用碱进行清洗产生的废碱液", "废碱"), "废碱液");
        assert_eq!(short_name("生产、销售及使用过程中产生的失效、变质、不合格、淘汰、伪劣的油墨、染料、颜料、油漆（不包括水性漆）", "x"), "废油墨");
        assert_eq!(short_name("石油精炼过程中产生的酸焦油和其他焦油", "x"), "酸焦油和其他焦油");
        assert_eq!(short_name("废弃的粘合剂和密封剂（不包括水基型和热熔型粘合剂和密封剂）", "x"), "粘合剂和密封剂");
        assert_eq!(short_name("", "含铬废物"), "含铬废物");
    }

    #[test]
    fn every_field_has_a_box_inside_the_label_holding_its_text() {
        let (cat, font) = (catalogue(), font());
        let mut rng = Rng::with_seed(3);
        for i in 0..60 {
            let c = LabelContent::random(&mut rng, &cat, today());
            let layout = if i % 2 == 0 { LabelLayout::Table } else { LabelLayout::Lines };
            let size = [100.0, 150.0, 200.0][i % 3];
            let l = render_label(&c, &LabelStyle::new(layout, size), &font);
            let side = l.image.width() as f32;
            assert_eq!(l.field_boxes.len(), l.box_texts.len());
            // HJ 1276 minimum character heights, as the CJK em.
            let min_mm = [3.0, 5.0, 6.0][i % 3];
            assert!(l.text_em_px / l.px_per_mm >= min_mm, "{size} mm label: text {} mm", l.text_em_px / l.px_per_mm);
            for f in LabelField::ALL {
                let text: String = l.field_boxes.iter().zip(&l.box_texts).filter(|((g, _), _)| *g == f).map(|(_, t)| t.as_str()).collect();
                assert_eq!(text, c.printed(f), "{f:?} on a {size} mm {layout:?} label");
            }
            let mut boxes: Vec<[f32; 4]> = Vec::new();
            for ((f, b), t) in l.field_boxes.iter().zip(&l.box_texts) {
                assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= side && b[3] <= side && b[0] <= b[2] && b[1] < b[3], "{f:?} {b:?}");
                // Ink in the box: the value really is drawn there.
                if !t.trim().is_empty() {
                    let dark = (b[1] as u32..b[3] as u32).flat_map(|y| (b[0] as u32..b[2] as u32).map(move |x| (x, y))).filter(|&(x, y)| l.image.get_pixel(x, y).0[1] < 60).count();
                    assert!(dark > 0, "{f:?} box {b:?} is blank");
                }
                for o in &boxes {
                    let overlap = (b[2].min(o[2]) - b[0].max(o[0])).max(0.0) * (b[3].min(o[3]) - b[1].max(o[1])).max(0.0);
                    assert!(overlap < 1.0, "{f:?} {b:?} overlaps {o:?}");
                }
                boxes.push(*b);
            }
            let q = l.qr_box.expect("a QR code");
            assert!(boxes.iter().all(|b| b[2] <= q[0] || b[1] >= q[3] || b[3] <= q[1]), "text under the QR code");
            // The margin is orange and the border black.
            assert_eq!(l.image.get_pixel(2, 2).0, LABEL_ORANGE);
            let b = (3.5 * l.px_per_mm) as u32;
            assert_eq!(l.image.get_pixel(b, side as u32 / 2).0, [0, 0, 0]);
        }
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let font = font();
        let long: String = "很长的内容ABC123，".repeat(300);
        let mut c = LabelContent::random(&mut Rng::with_seed(9), &catalogue(), today());
        let variants = [
            LabelContent { waste_name: String::new(), category: String::new(), waste_code: String::new(), form: String::new(), hazards: vec![], main_components: String::new(), harmful_components: String::new(), precautions: String::new(), id_code: String::new(), company: String::new(), contact_person: String::new(), contact_phone: String::new(), remarks: String::new(), qr_payload: Some(String::new()), weight_kg: f64::NAN, ..c.clone() },
            LabelContent { waste_name: long.clone(), main_components: long.clone(), precautions: long.clone(), company: long.clone(), remarks: long.clone(), id_code: long.clone(), contact_phone: long.clone(), hazards: Hazard::ALL.to_vec(), qr_payload: Some(long.repeat(3)), ..c.clone() },
            LabelContent { waste_name: "\n\t\u{0}😀".into(), qr_payload: None, ..c.clone() },
        ];
        for v in &variants {
            for layout in [LabelLayout::Table, LabelLayout::Lines] {
                for style in [LabelStyle::new(layout, 100.0), LabelStyle { layout, size_mm: 0.0, px_per_mm: f32::NAN }, LabelStyle { layout, size_mm: 1e9, px_per_mm: 1e9 }] {
                    let l = render_label(v, &style, &font);
                    let side = l.image.width() as f32;
                    assert!(l.field_boxes.iter().all(|(_, b)| b.iter().all(|x| (0.0..=side).contains(x))));
                    let mut d = SceneDamage::random(&mut Rng::with_seed(1), 1.0);
                    d.blur_sigma = f32::NAN;
                    d.occlusion = 5.0;
                    let s = render_scene(Some(&l), &d, &mut Rng::with_seed(2), 0, 0);
                    assert_eq!((s.width, s.height), (16, 16));
                }
            }
        }
        // Long values are clipped with "…", not spilled.
        c.company = long;
        let l = render_label(&c, &LabelStyle::new(LabelLayout::Table, 100.0), &font);
        let company: Vec<&String> = l.field_boxes.iter().zip(&l.box_texts).filter(|((f, _), _)| *f == LabelField::Company).map(|(_, t)| t).collect();
        assert!(company.len() <= 2 && company.last().unwrap().ends_with('…'), "{company:?}");
    }

    #[test]
    fn scenes_keep_the_values_in_the_frame_at_ocr_friendly_sizes() {
        let (cat, font) = (catalogue(), font());
        // CJK ink height per em of this font (about 0.91).
        let scaled = font.as_scaled(PxScale::from(100.0));
        let g = font.outline_glyph(scaled.scaled_glyph('国')).unwrap().px_bounds();
        let ink_per_em = g.height() / scaled.h_advance(font.glyph_id('国'));
        let (mut lo, mut hi) = (f32::MAX, 0.0f32);
        for seed in 0..40 {
            let (_, label, scene) = scene_from_seed(seed, &cat, &font, (seed % 5) as f32 / 4.0);
            assert_eq!(scene.field_quads.len(), label.field_boxes.len());
            for (_, q) in &scene.field_quads {
                assert!(q.iter().all(|p| (0.0..=1280.0).contains(&p[0]) && (0.0..=960.0).contains(&p[1])), "{q:?}");
            }
            // Text height in the scene: the label's em times the local scale of a box's left edge.
            for ((_, q), (_, b)) in scene.field_quads.iter().zip(&label.field_boxes) {
                let edge = ((q[3][0] - q[0][0]).powi(2) + (q[3][1] - q[0][1]).powi(2)).sqrt();
                let ink = label.text_em_px * ink_per_em * edge / (b[3] - b[1]);
                (lo, hi) = (lo.min(ink), hi.max(ink));
            }
        }
        eprintln!("CJK glyphs {lo:.1}..{hi:.1} px tall");
        assert!(lo >= 14.0 && hi <= 28.5, "CJK glyphs {lo:.1}..{hi:.1} px tall");
        // A container without a label.
        let s = render_scene(None, &SceneDamage::random(&mut Rng::with_seed(5), 0.5), &mut Rng::with_seed(5), 1280, 960);
        assert!(s.field_quads.is_empty() && s.label_quad.is_none() && !s.jpeg.is_empty());
    }

    #[test]
    fn the_qr_code_decodes_after_the_default_damage() {
        let (cat, font) = (catalogue(), font());
        let mut decoded = [0; 3];
        let n = 12;
        for seed in 0..n {
            for (i, severity) in [0.0, 0.5, 1.0].into_iter().enumerate() {
                let (content, _, scene) = scene_from_seed(100 + seed, &cat, &font, severity);
                if decode_qr(&scene.jpeg).as_deref() == content.qr_payload.as_deref() {
                    decoded[i] += 1;
                }
            }
        }
        eprintln!("QR decoded at severity 0 / 0.5 / 1: {decoded:?} of {n}");
        assert_eq!(decoded[0], n, "clean scenes");
        assert!(decoded[1] >= n - 1, "severity 0.5: {} of {n}", decoded[1]);
    }
}
