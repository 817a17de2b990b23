//! Beijing's four household-waste categories (北京市生活垃圾管理条例, 2020).
//!
//! Stable machine codes are English words; display names are Chinese first.

pub mod rules;

pub use rules::{RuleItem, RulesTable};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WasteCategory {
    /// 厨余垃圾, green bin.
    Kitchen,
    /// 可回收物, blue bin.
    Recyclable,
    /// 有害垃圾, red bin.
    Hazardous,
    /// 其他垃圾, grey bin.
    Other,
}

impl WasteCategory {
    pub const ALL: [WasteCategory; 4] = [Self::Kitchen, Self::Recyclable, Self::Hazardous, Self::Other];

    /// The stable machine code used in config, manifests and events.
    pub fn code(self) -> &'static str {
        match self {
            Self::Kitchen => "kitchen",
            Self::Recyclable => "recyclable",
            Self::Hazardous => "hazardous",
            Self::Other => "other",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Kitchen => "厨余垃圾",
            Self::Recyclable => "可回收物",
            Self::Hazardous => "有害垃圾",
            Self::Other => "其他垃圾",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::Kitchen => "kitchen waste",
            Self::Recyclable => "recyclables",
            Self::Hazardous => "hazardous waste",
            Self::Other => "other waste",
        }
    }

    /// The bin colour, as an attendant says it (绿色桶 ...).
    pub fn bin_colour_zh(self) -> &'static str {
        match self {
            Self::Kitchen => "绿色",
            Self::Recyclable => "蓝色",
            Self::Hazardous => "红色",
            Self::Other => "灰色",
        }
    }

    /// The bin colour as a stable code (green, blue, red, grey).
    pub fn bin_colour(self) -> &'static str {
        match self {
            Self::Kitchen => "green",
            Self::Recyclable => "blue",
            Self::Hazardous => "red",
            Self::Other => "grey",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for WasteCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown waste category `{0}`: expected one of kitchen, recyclable, hazardous, other (厨余垃圾, 可回收物, 有害垃圾, 其他垃圾)")]
pub struct UnknownCategory(pub String);

impl FromStr for WasteCategory {
    type Err = UnknownCategory;

    /// Accepts the machine code or the Chinese name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s) || c.name_zh() == s)
            .ok_or_else(|| UnknownCategory(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_chinese_names() {
        assert_eq!("kitchen".parse::<WasteCategory>().unwrap(), WasteCategory::Kitchen);
        assert_eq!("有害垃圾".parse::<WasteCategory>().unwrap(), WasteCategory::Hazardous);
        assert_eq!(" Recyclable ".parse::<WasteCategory>().unwrap(), WasteCategory::Recyclable);
        let err = "wet".parse::<WasteCategory>().unwrap_err().to_string();
        assert!(err.contains("`wet`") && err.contains("kitchen, recyclable"), "{err}");
    }
}
