//! One spelling for OCR text: full-width forms and look-alike punctuation are
//! folded to ASCII so the label parser sees "废物代码:900-249-08" however the
//! recogniser (or the printer) wrote it.
//!
//! "一" (the Chinese numeral one) is left alone: it is a real character in
//! names; the code parser reads it as a dash where digits surround it.

/// Folds full-width forms (U+FF01..U+FF5E) to ASCII, the ideographic space to
/// a space, dash-likes to '-', trims and collapses runs of whitespace.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space_pending = false;
    for c in text.chars().map(fold_char) {
        if c.is_whitespace() {
            // Only written once a later non-space arrives: trims both ends.
            space_pending = !out.is_empty();
            continue;
        }
        if space_pending {
            out.push(' ');
            space_pending = false;
        }
        out.push(c);
    }
    out
}

/// One character's ASCII form, or the character itself.
fn fold_char(c: char) -> char {
    match c {
        // Full-width ASCII sits at a fixed offset: ：→: ／→/ （→( －→- Ａ→A ０→0 ...
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        // — – ‒ ― ‐ ‑ ﹣ −
        '\u{2014}' | '\u{2013}' | '\u{2012}' | '\u{2015}' | '\u{2010}' | '\u{2011}' | '\u{FE63}' | '\u{2212}' => '-',
        // The ratio sign is a common recognition of a colon.
        '\u{2236}' => ':',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn full_width_forms_fold_to_ascii() {
        let cases = [
            ("废物名称：废矿物油", "废物名称:废矿物油"),
            ("ＨＷ０８", "HW08"),
            ("９００－２４９－０８", "900-249-08"),
            ("产生（收集）单位", "产生(收集)单位"),
            ("2026／11／02", "2026/11/02"),
            ("ａｂｃ！～", "abc!~"),
            ("比例∶1", "比例:1"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "input {input:?}");
        }
    }

    #[test]
    fn dash_likes_become_hyphens_but_chinese_one_stays() {
        assert_eq!(normalize("900—249–08"), "900-249-08");
        assert_eq!(normalize("a‒b―c‐d‑e﹣f−g"), "a-b-c-d-e-f-g");
        assert_eq!(normalize("一氧化碳 900一249一08"), "一氧化碳 900一249一08");
    }

    #[test]
    fn spaces_are_trimmed_and_collapsed() {
        assert_eq!(normalize("\u{3000} 废物名称 \u{3000}\t 废矿物油  "), "废物名称 废矿物油");
        assert_eq!(normalize("   "), "");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("a\u{00A0}\u{00A0}b"), "a b");
    }

    #[test]
    fn odd_input_does_not_panic_and_is_idempotent() {
        let odd = ["\u{FF01}\u{FF5E}\u{FF00}\u{FF5F}", "\u{0}\u{FFFF}", "🙂—🙂", &"：".repeat(10_000)];
        for s in odd {
            let once = normalize(s);
            assert_eq!(normalize(&once), once);
        }
        // U+FF00 and U+FF5F are outside the folded block and stay as they are.
        assert_eq!(normalize("\u{FF00}\u{FF5F}"), "\u{FF00}\u{FF5F}");
    }
}
