//! 数字识别码 (HJ 1276-2022): 37 characters in four segments: the producing
//! unit's code, the waste code, the date and a sequence number. The standard's
//! text names the segments; their lengths are inferred (18 + 8 + 8 + 3), so
//! the layout is a setting until checked against Appendix A.

use serde::{Deserialize, Serialize};

/// Segment lengths, in order: unit, waste code, date, sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdCodeLayout {
    #[serde(default = "default_unit")]
    pub unit: usize,
    #[serde(default = "default_code")]
    pub waste_code: usize,
    #[serde(default = "default_date")]
    pub date: usize,
    #[serde(default = "default_seq")]
    pub sequence: usize,
}

fn default_unit() -> usize {
    18
}
fn default_code() -> usize {
    8
}
fn default_date() -> usize {
    8
}
fn default_seq() -> usize {
    3
}

impl Default for IdCodeLayout {
    fn default() -> Self {
        Self { unit: 18, waste_code: 8, date: 8, sequence: 3 }
    }
}

/// An id code cut into its segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdSegments {
    pub unit: String,
    /// As printed on the label's code field: ddd-ddd-dd.
    pub waste_code: String,
    /// YYYY-MM-DD if the segment is a valid date, else the raw segment.
    pub date: String,
    pub date_valid: bool,
    pub sequence: String,
}

impl IdCodeLayout {
    pub fn len(&self) -> usize {
        self.unit + self.waste_code + self.date + self.sequence
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A setting error, if any: the code segment must hold ddd-ddd-dd and the date YYYYMMDD.
    pub fn check(&self) -> Option<String> {
        (self.waste_code != 8 || self.date != 8).then(|| {
            format!("id_code layout: the waste-code and date segments must be 8 characters each (got {} and {})", self.waste_code, self.date)
        })
    }

    pub fn split(&self, code: &str) -> Result<IdSegments, String> {
        let chars: Vec<char> = code.chars().collect();
        if chars.len() != self.len() {
            return Err(format!("数字识别码 has {} characters, the layout needs {}", chars.len(), self.len()));
        }
        let take = |from: usize, n: usize| chars[from..from + n].iter().collect::<String>();
        let unit = take(0, self.unit);
        let raw_code = take(self.unit, self.waste_code);
        let raw_date = take(self.unit + self.waste_code, self.date);
        let sequence = take(self.unit + self.waste_code + self.date, self.sequence);
        let waste_code = if raw_code.len() == 8 { format!("{}-{}-{}", &raw_code[..3], &raw_code[3..6], &raw_code[6..]) } else { raw_code };
        let parsed = chrono::NaiveDate::parse_from_str(&raw_date, "%Y%m%d").ok().filter(|_| raw_date.len() == 8);
        Ok(IdSegments {
            unit,
            waste_code,
            date: parsed.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or(raw_date),
            date_valid: parsed.is_some(),
            sequence,
        })
    }
}

/// GB 32100-2015 unified social credit code alphabet (no I, O, S, V, Z).
const CREDIT_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// The check character for the first 17 characters of a credit code.
pub fn credit_code_check_char(first17: &str) -> Option<char> {
    let values: Option<Vec<u32>> = first17.chars().map(|c| CREDIT_ALPHABET.find(c).map(|i| i as u32)).collect();
    let values = values.filter(|v| v.len() == 17)?;
    let sum: u32 = values.iter().zip(CREDIT_WEIGHTS).map(|(v, w)| v * w).sum();
    CREDIT_ALPHABET.chars().nth(((31 - sum % 31) % 31) as usize)
}

/// An 18-character credit code whose check character is right.
pub fn is_valid_credit_code(code: &str) -> bool {
    code.chars().count() == 18 && credit_code_check_char(&code.chars().take(17).collect::<String>()) == code.chars().last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credit_code_check_character_is_computed_and_verified() {
        // A published example: 91350100M000100Y43.
        assert_eq!(credit_code_check_char("91350100M000100Y4"), Some('3'));
        assert!(is_valid_credit_code("91350100M000100Y43"));
        assert!(!is_valid_credit_code("91350100M000100Y44"));
        assert!(!is_valid_credit_code("91350100M000100O43"), "O is not in the alphabet");
        assert_eq!(credit_code_check_char("short"), None);
    }

    #[test]
    fn the_default_layout_splits_37_characters_into_four_segments() {
        let l = IdCodeLayout::default();
        let s = l.split("91350100M000100Y4390024908202611020017").unwrap_err();
        assert!(s.contains("38"), "{s}");
        let seg = l.split("91350100M000100Y439002490820261102001").unwrap();
        assert_eq!(seg.unit, "91350100M000100Y43");
        assert_eq!(seg.waste_code, "900-249-08");
        assert_eq!(seg.date, "2026-11-02");
        assert!(seg.date_valid);
        assert_eq!(seg.sequence, "001");
        let bad_date = l.split("91350100M000100Y439002490820261340001").unwrap();
        assert!(!bad_date.date_valid);
        assert!(IdCodeLayout { date: 6, ..l }.check().is_some());
    }
}
