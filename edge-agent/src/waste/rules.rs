//! The Beijing rules table: item (fine class) -> category, with the tricky
//! cases people get wrong and a short reason the attendant's screen shows.
//! Data, not code: `edge-agent/rules/beijing-household.toml` is built in, and
//! a site file is laid over it item by item.

use super::WasteCategory;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

const BUILTIN_TEXT: &str = include_str!("../../rules/beijing-household.toml");

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleItem {
    pub name: String,
    #[serde(default)]
    pub en: String,
    pub category: WasteCategory,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub mistaken_for: Option<WasteCategory>,
    #[serde(default)]
    pub why: Option<String>,
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    name: String,
    version: String,
    #[serde(default, rename = "item")]
    items: Vec<RuleItem>,
}

#[derive(Debug, Clone)]
pub struct RulesTable {
    pub name: String,
    /// Versions of every file laid together, e.g. `2026.11-1+site-3`; events carry it.
    pub version: String,
    items: Vec<RuleItem>,
    /// Name or alias -> index in `items`.
    index: HashMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("rules table {origin}: {message}")]
pub struct RulesError {
    pub origin: String,
    pub message: String,
}

impl RulesTable {
    /// The table compiled into the agent.
    pub fn builtin() -> &'static RulesTable {
        static BUILTIN: LazyLock<RulesTable> = LazyLock::new(|| {
            // Checked by a unit test; an empty table is the only safe fallback.
            RulesTable::parse(BUILTIN_TEXT, "built-in").unwrap_or_else(|e| {
                tracing::error!(error = %e, "the built-in rules table does not load");
                RulesTable { name: "empty".into(), version: "0".into(), items: vec![], index: HashMap::new() }
            })
        });
        &BUILTIN
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, RulesError> {
        let err = |message: String| RulesError { origin: origin.into(), message };
        let file: RulesFile = toml::from_str(text).map_err(|e| err(e.message().trim().to_string()))?;
        let mut table = RulesTable { name: file.name, version: file.version, items: vec![], index: HashMap::new() };
        for item in file.items {
            table.insert(item, origin)?;
        }
        Ok(table)
    }

    /// The built-in table with a site's file laid over it: an item of the same
    /// name (or alias) is replaced, new items are added.
    pub fn with_site_file(path: &Path) -> Result<Self, RulesError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| RulesError { origin: origin.clone(), message: format!("cannot read it ({e}); fix the sorting task's `rules` path") })?;
        let site = Self::parse(&text, &origin)?;
        let mut table = Self::builtin().clone();
        table.version = format!("{}+{}", table.version, site.version);
        table.name = format!("{} + {}", table.name, site.name);
        for item in site.items {
            let previous = std::iter::once(&item.name).chain(&item.aliases).find_map(|n| table.index.get(n).copied());
            match previous {
                Some(i) => {
                    let old = std::mem::replace(&mut table.items[i], item);
                    std::iter::once(&old.name).chain(&old.aliases).for_each(|n| {
                        table.index.remove(n);
                    });
                    let new = table.items[i].clone();
                    for n in std::iter::once(&new.name).chain(&new.aliases) {
                        table.index.insert(n.clone(), i);
                    }
                }
                None => table.insert(item, &origin)?,
            }
        }
        Ok(table)
    }

    fn insert(&mut self, item: RuleItem, origin: &str) -> Result<(), RulesError> {
        let err = |message: String| RulesError { origin: origin.into(), message };
        if item.name.trim().is_empty() {
            return Err(err("an item has an empty name".into()));
        }
        let i = self.items.len();
        for n in std::iter::once(&item.name).chain(&item.aliases) {
            if let Some(j) = self.index.insert(n.clone(), i) {
                return Err(err(format!("`{n}` is named twice (items `{}` and `{}`): each name or alias belongs to one item", self.items[j].name, item.name)));
            }
        }
        self.items.push(item);
        Ok(())
    }

    /// The item a name or alias stands for.
    pub fn lookup(&self, name: &str) -> Option<&RuleItem> {
        self.index.get(name.trim()).map(|&i| &self.items[i])
    }

    pub fn category_of(&self, name: &str) -> Option<WasteCategory> {
        self.lookup(name).map(|i| i.category)
    }

    pub fn items(&self) -> &[RuleItem] {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_loads_and_keeps_beijings_tricky_cases() {
        let t = RulesTable::parse(BUILTIN_TEXT, "built-in").expect("built-in table");
        assert!(t.items().len() > 50);
        // shared/domain/beijing-categories.md, "Common confusions".
        for (name, category) in [
            ("大棒骨", WasteCategory::Other),
            ("鸡骨头", WasteCategory::Kitchen),
            ("7号电池", WasteCategory::Other),
            ("锂电池", WasteCategory::Hazardous),
            ("玉米核", WasteCategory::Other),
            ("玉米粒", WasteCategory::Kitchen),
            ("牛奶袋", WasteCategory::Other),
            ("利乐包", WasteCategory::Recyclable),
            ("快递盒", WasteCategory::Recyclable),
            ("烟盒", WasteCategory::Recyclable),
            ("碎玻璃", WasteCategory::Recyclable),
            ("毛绒玩具", WasteCategory::Recyclable),
            ("卫生纸", WasteCategory::Other),
            ("充电宝", WasteCategory::Hazardous),
        ] {
            assert_eq!(t.category_of(name), Some(category), "{name}");
        }
        let bone = t.lookup("大骨头").unwrap();
        assert_eq!((bone.name.as_str(), bone.mistaken_for), ("大棒骨", Some(WasteCategory::Kitchen)));
        assert!(bone.why.as_deref().is_some_and(|w| w.contains("其他垃圾")));
        assert_eq!(RulesTable::builtin().items().len(), t.items().len());
    }

    #[test]
    fn a_name_given_twice_is_refused_with_both_items_named() {
        let text = "name = \"t\"\nversion = \"1\"\n[[item]]\nname = \"A\"\ncategory = \"other\"\naliases = [\"x\"]\n[[item]]\nname = \"B\"\ncategory = \"kitchen\"\naliases = [\"x\"]\n";
        let e = RulesTable::parse(text, "t.toml").unwrap_err().to_string();
        assert!(e.contains("`x`") && e.contains("`A`") && e.contains("`B`"), "{e}");
        let e = RulesTable::parse("name = \"t\"\nversion = \"1\"\n[[item]]\nname = \"A\"\ncategory = \"wet\"\n", "t.toml").unwrap_err().to_string();
        assert!(e.contains("wet"), "{e}");
    }

    #[test]
    fn a_site_file_overrides_items_by_name_or_alias_and_adds_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        // This site's operator sends cosmetics to the red bin, and names a local item.
        std::fs::write(
            &path,
            "name = \"site\"\nversion = \"site-3\"\n[[item]]\nname = \"化妆品\"\ncategory = \"hazardous\"\naliases = [\"口红\"]\n[[item]]\nname = \"月饼盒\"\ncategory = \"recyclable\"\n",
        )
        .unwrap();
        let t = RulesTable::with_site_file(&path).unwrap();
        assert_eq!(t.category_of("化妆品"), Some(WasteCategory::Hazardous));
        assert_eq!(t.category_of("口红"), Some(WasteCategory::Hazardous));
        assert_eq!(t.category_of("过期化妆品"), None, "the replaced item's old aliases go with it");
        assert_eq!(t.category_of("月饼盒"), Some(WasteCategory::Recyclable));
        assert_eq!(t.category_of("大棒骨"), Some(WasteCategory::Other), "the rest of the built-in table stays");
        assert!(t.version.ends_with("+site-3"));
        let missing = RulesTable::with_site_file(&dir.path().join("nope.toml")).unwrap_err().to_string();
        assert!(missing.contains("nope.toml") && missing.contains("rules"), "{missing}");
    }
}
