//! The national hazardous-waste catalogue (国家危险废物名录) as versioned data:
//! the 2021 edition ships inside the binary; a newer edition (2025: 470 codes)
//! is a CSV file named in the config with its version.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The 2021 edition, parsed from the official PDF (467 codes).
pub const BUILTIN_2021_CSV: &str = include_str!("../../catalogue/hw_codes_2021.csv");
pub const BUILTIN_2021_VERSION: &str = "2021";

/// A hazard characteristic (危险特性) of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Hazard {
    /// 毒性
    #[serde(rename = "T")]
    Toxic,
    /// 腐蚀性
    #[serde(rename = "C")]
    Corrosive,
    /// 易燃性
    #[serde(rename = "I")]
    Ignitable,
    /// 反应性
    #[serde(rename = "R")]
    Reactive,
    /// 感染性
    #[serde(rename = "In")]
    Infectious,
}

impl Hazard {
    pub const ALL: [Hazard; 5] = [Self::Toxic, Self::Corrosive, Self::Ignitable, Self::Reactive, Self::Infectious];

    pub fn letter(self) -> &'static str {
        match self {
            Self::Toxic => "T",
            Self::Corrosive => "C",
            Self::Ignitable => "I",
            Self::Reactive => "R",
            Self::Infectious => "In",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Toxic => "毒性",
            Self::Corrosive => "腐蚀性",
            Self::Ignitable => "易燃性",
            Self::Reactive => "反应性",
            Self::Infectious => "感染性",
        }
    }

    pub fn from_letter(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.letter() == s)
    }
}

/// How the catalogue lists a code's hazards: "T,I" = has the first and may
/// have the others; "T/C/I/R" = has one or more of them (名录 footnote).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HazardRule {
    /// Every label must show these.
    pub required: Vec<Hazard>,
    /// A label may show these (required ones included).
    pub allowed: Vec<Hazard>,
    /// "/" lists: the label must show at least one of `allowed`.
    pub any_of: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogueEntry {
    /// ddd-ddd-dd
    pub code: String,
    /// HWdd
    pub category: String,
    pub category_name_zh: String,
    pub industry_zh: String,
    pub description_zh: String,
    /// As printed in the catalogue, e.g. "T,I".
    pub hazards_text: String,
    pub hazards: HazardRule,
}

impl HazardRule {
    /// Parses the catalogue's notation: "T", "T,I", "T/C/I/R".
    pub fn parse(text: &str) -> Result<Self, String> {
        let any_of = text.contains('/');
        let letters: Vec<&str> = text.split([',', '/']).map(str::trim).filter(|s| !s.is_empty()).collect();
        let mut allowed = Vec::new();
        for l in &letters {
            let h = Hazard::from_letter(l).ok_or_else(|| format!("unknown hazard letter `{l}` in `{text}` (expected T, C, I, R or In)"))?;
            allowed.push(h);
        }
        if allowed.is_empty() {
            return Err(format!("no hazard letters in `{text}`"));
        }
        let required = if any_of { Vec::new() } else { vec![allowed[0]] };
        Ok(Self { required, allowed, any_of })
    }

    /// Why a label's hazards do not fit this rule, or None.
    pub fn mismatch(&self, shown: &[Hazard]) -> Option<String> {
        let missing: Vec<&str> = self.required.iter().filter(|h| !shown.contains(h)).map(|h| h.name_zh()).collect();
        let extra: Vec<&str> = shown.iter().filter(|h| !self.allowed.contains(h)).map(|h| h.name_zh()).collect();
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("缺少{}", missing.join("、")));
        }
        if !extra.is_empty() {
            why.push(format!("名录未列{}", extra.join("、")));
        }
        if self.any_of && !shown.iter().any(|h| self.allowed.contains(h)) && extra.is_empty() {
            why.push("未标任何危险特性".into());
        }
        (!why.is_empty()).then(|| why.join("；"))
    }
}

/// One edition of the catalogue, indexed by code.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub version: String,
    entries: Vec<CatalogueEntry>,
    by_code: HashMap<String, usize>,
}

#[derive(Debug, Deserialize)]
struct Row {
    waste_code: String,
    category: String,
    category_name_zh: String,
    industry_source_zh: String,
    waste_description_zh: String,
    hazard_characteristics: String,
}

impl Catalogue {
    /// The 2021 edition built into the binary.
    pub fn builtin() -> Self {
        // The built-in file is tested; a failure here is a build defect, not input.
        Self::parse(BUILTIN_2021_CSV, BUILTIN_2021_VERSION).expect("the built-in 2021 catalogue parses")
    }

    /// A catalogue file (same columns as the built-in one) and the edition it is.
    pub fn load(path: &Path, version: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the waste catalogue {}: {e}; point `intake.catalogue` at a CSV with the columns of edge-agent/catalogue/hw_codes_2021.csv", path.display()))?;
        Self::parse(&text, version).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(csv_text: &str, version: &str) -> Result<Self, String> {
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let mut entries = Vec::new();
        let mut by_code = HashMap::new();
        for (i, row) in reader.deserialize::<Row>().enumerate() {
            let line = i + 2;
            let row = row.map_err(|e| format!("line {line}: {e}"))?;
            let code = row.waste_code.trim().to_string();
            let valid = code.len() == 10 && code.bytes().enumerate().all(|(i, b)| if i == 3 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
            if !valid {
                return Err(format!("line {line}: waste code `{code}` is not ddd-ddd-dd"));
            }
            if row.category.trim() != format!("HW{}", &code[8..]) {
                return Err(format!("line {line}: code {code} is filed under {} but ends in {}", row.category, &code[8..]));
            }
            let hazards = HazardRule::parse(&row.hazard_characteristics).map_err(|e| format!("line {line}: {e}"))?;
            if by_code.insert(code.clone(), entries.len()).is_some() {
                return Err(format!("line {line}: code {code} is listed twice"));
            }
            entries.push(CatalogueEntry {
                code,
                category: row.category.trim().to_string(),
                category_name_zh: row.category_name_zh,
                industry_zh: row.industry_source_zh,
                description_zh: row.waste_description_zh,
                hazards_text: row.hazard_characteristics,
                hazards,
            });
        }
        if entries.is_empty() {
            return Err("the catalogue has no codes".into());
        }
        Ok(Self { version: version.to_string(), entries, by_code })
    }

    pub fn get(&self, code: &str) -> Option<&CatalogueEntry> {
        self.by_code.get(code).map(|&i| &self.entries[i])
    }

    pub fn entries(&self) -> &[CatalogueEntry] {
        &self.entries
    }

    /// Category names (HW08 -> 废矿物油与含矿物油废物).
    pub fn category_name(&self, category: &str) -> Option<&str> {
        self.entries.iter().find(|e| e.category == category).map(|e| e.category_name_zh.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2021_edition_has_all_467_codes_in_46_categories() {
        let c = Catalogue::builtin();
        assert_eq!(c.entries().len(), 467);
        let cats: std::collections::BTreeSet<_> = c.entries().iter().map(|e| e.category.as_str()).collect();
        assert_eq!(cats.len(), 46);
        let oil = c.get("900-249-08").unwrap();
        assert_eq!(oil.category, "HW08");
        assert_eq!(oil.hazards.required, vec![Hazard::Toxic]);
        assert_eq!(oil.hazards.allowed, vec![Hazard::Toxic, Hazard::Ignitable]);
        assert!(c.get("900-249-09").is_none());
    }

    #[test]
    fn hazard_rules_follow_the_catalogue_footnote() {
        let comma = HazardRule::parse("T,I").unwrap();
        assert_eq!(comma.mismatch(&[Hazard::Toxic]), None);
        assert_eq!(comma.mismatch(&[Hazard::Toxic, Hazard::Ignitable]), None);
        assert!(comma.mismatch(&[Hazard::Ignitable]).unwrap().contains("缺少毒性"));
        assert!(comma.mismatch(&[Hazard::Toxic, Hazard::Corrosive]).unwrap().contains("腐蚀性"));
        let slash = HazardRule::parse("T/C/I/R").unwrap();
        assert_eq!(slash.mismatch(&[Hazard::Corrosive]), None);
        assert!(slash.mismatch(&[]).is_some());
        assert!(slash.mismatch(&[Hazard::Infectious]).is_some());
        assert!(HazardRule::parse("X").is_err());
    }

    #[test]
    fn a_bad_catalogue_file_names_the_line_and_the_problem() {
        let head = "waste_code,category,category_name_zh,industry_prefix,industry_source_zh,waste_description_zh,hazard_characteristics\n";
        let e = Catalogue::parse(&format!("{head}900-249-08,HW09,x,900,y,z,T\n"), "t").unwrap_err();
        assert!(e.contains("line 2") && e.contains("HW09"), "{e}");
        let e = Catalogue::parse(&format!("{head}900-24-08,HW08,x,900,y,z,T\n"), "t").unwrap_err();
        assert!(e.contains("ddd-ddd-dd"), "{e}");
        let e = Catalogue::parse(&format!("{head}900-249-08,HW08,x,900,y,z,Q\n"), "t").unwrap_err();
        assert!(e.contains("`Q`"), "{e}");
        assert!(Catalogue::parse(head, "t").unwrap_err().contains("no codes"));
    }
}
