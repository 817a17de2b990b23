//! Segregation rules (GB 18597-2023 4.3, 6.1.2): which categories a storage
//! zone may hold, and which categories must not stand next to each other.
//! The incompatibility table is data (`edge-agent/storage/incompatibility.toml`
//! is the shipped default), keyed by HW category because that is what a QR
//! code or an intake record tells about a container.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The shipped default table.
pub const DEFAULT_TABLE: &str = include_str!("../../../storage/incompatibility.toml");

/// `HW01`-`HW40`, `HW45`-`HW50`: the 46 categories of the 2021 catalogue.
pub fn is_hw_category(s: &str) -> bool {
    let Some(n) = s.strip_prefix("HW").filter(|d| d.len() == 2 && d.bytes().all(|b| b.is_ascii_digit())) else {
        return false;
    };
    let n: u32 = n.parse().unwrap_or(0);
    (1..=40).contains(&n) || (45..=50).contains(&n)
}

/// The category of a waste code `ddd-ddd-dd` (or its 8 digits): `HW` and the last two digits.
pub fn category_of_code(waste_code: &str) -> Option<String> {
    let digits: String = waste_code.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() != 8 {
        return None;
    }
    let category = format!("HW{}", &digits[6..]);
    is_hw_category(&category).then_some(category)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    incompatible: Vec<PairFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairFile {
    a: String,
    b: String,
    #[serde(default)]
    why: String,
}

/// Why two containers must stand apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub group_a: String,
    pub group_b: String,
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct IncompatibilityTable {
    /// Category -> the groups it belongs to.
    groups_of: BTreeMap<String, BTreeSet<String>>,
    pairs: Vec<(String, String, String)>,
}

impl IncompatibilityTable {
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_TABLE).expect("the shipped incompatibility table is valid")
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the incompatibility table {} ({e})", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks a table: categories must be HW categories, pairs must name groups.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: TableFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut groups_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (group, categories) in &file.groups {
            for c in categories {
                if !is_hw_category(c) {
                    return Err(format!("group `{group}` lists `{c}`, not a hazardous-waste category (HW01-HW50)"));
                }
                groups_of.entry(c.clone()).or_default().insert(group.clone());
            }
        }
        let mut pairs = Vec::new();
        for (i, p) in file.incompatible.iter().enumerate() {
            for g in [&p.a, &p.b] {
                if !file.groups.contains_key(g) {
                    return Err(format!("incompatible[{i}] names group `{g}`, which [groups] does not define"));
                }
            }
            pairs.push((p.a.clone(), p.b.clone(), p.why.clone()));
        }
        Ok(Self { groups_of, pairs })
    }

    /// Why categories `a` and `b` must not stand together, if they must not.
    pub fn conflict(&self, a: &str, b: &str) -> Option<Conflict> {
        let empty = BTreeSet::new();
        let ga = self.groups_of.get(a).unwrap_or(&empty);
        let gb = self.groups_of.get(b).unwrap_or(&empty);
        self.pairs.iter().find_map(|(x, y, why)| {
            let hit = (ga.contains(x) && gb.contains(y)) || (ga.contains(y) && gb.contains(x));
            hit.then(|| {
                let (group_a, group_b) = if ga.contains(x) && gb.contains(y) { (x.clone(), y.clone()) } else { (y.clone(), x.clone()) };
                Conflict { group_a, group_b, why: why.clone() }
            })
        })
    }
}

/// A container placed where its category is not allowed. `allow` empty: any category.
pub fn zone_allows(allow: &[String], category: &str) -> bool {
    allow.is_empty() || allow.iter().any(|a| a == category)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_keeps_acids_from_alkalis_cyanides_and_sulfides_and_oxidisers_from_oils() {
        let t = IncompatibilityTable::builtin();
        let c = t.conflict("HW34", "HW35").expect("acid vs alkali");
        assert_eq!((c.group_a.as_str(), c.group_b.as_str()), ("acids", "alkalis"));
        // Either order, named from the first argument's side.
        assert_eq!(t.conflict("HW35", "HW34").unwrap().group_a, "alkalis");
        assert!(t.conflict("HW34", "HW33").unwrap().why.contains("氰化氢"));
        assert!(t.conflict("HW07", "HW34").is_some());
        assert!(t.conflict("HW34", "HW48").is_some());
        assert!(t.conflict("HW21", "HW08").is_some());
        assert!(t.conflict("HW06", "HW21").is_some());
        // Oils with oils, oily rags with lamps, an acid with an acid: fine.
        assert_eq!(t.conflict("HW08", "HW09"), None);
        assert_eq!(t.conflict("HW49", "HW29"), None);
        assert_eq!(t.conflict("HW34", "HW34"), None);
    }

    #[test]
    fn a_site_table_is_checked_for_unknown_categories_and_groups() {
        let ok = "[groups]\nx = [\"HW08\"]\ny = [\"HW49\"]\n[[incompatible]]\na = \"x\"\nb = \"y\"\n";
        assert!(IncompatibilityTable::parse(ok).unwrap().conflict("HW49", "HW08").is_some());
        let bad_category = "[groups]\nx = [\"HW42\"]\n";
        assert!(IncompatibilityTable::parse(bad_category).unwrap_err().contains("HW42"));
        let bad_group = "[groups]\nx = [\"HW08\"]\n[[incompatible]]\na = \"x\"\nb = \"nope\"\n";
        assert!(IncompatibilityTable::parse(bad_group).unwrap_err().contains("`nope`"));
        assert!(IncompatibilityTable::parse("groups = 3").is_err());
    }

    #[test]
    fn categories_come_from_waste_codes() {
        assert_eq!(category_of_code("900-300-34").as_deref(), Some("HW34"));
        assert_eq!(category_of_code("90030034").as_deref(), Some("HW34"));
        assert_eq!(category_of_code("900-300-42"), None);
        assert_eq!(category_of_code("900-300"), None);
        assert!(is_hw_category("HW50") && is_hw_category("HW01"));
        assert!(!is_hw_category("HW41") && !is_hw_category("HW00") && !is_hw_category("hw08") && !is_hw_category("HW8"));
        assert!(zone_allows(&[], "HW34"));
        assert!(!zone_allows(&["HW08".into()], "HW34"));
    }
}
