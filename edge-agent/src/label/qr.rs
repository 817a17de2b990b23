//! The label's QR code. No national payload format exists (HJ 1276 shows a QR
//! area only), so the platform's format is a setting: the raw 37-character
//! 数字识别码, a URL carrying it, or JSON with it and optionally other fields.

use super::fields::LabelField;
use super::parse::canonical_id_code;
use rxing::BarcodeFormat;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "format", rename_all = "lowercase", deny_unknown_fields)]
pub enum QrFormat {
    /// Try raw, then URL, then JSON.
    #[default]
    Auto,
    Raw,
    /// A URL whose query parameter `param` holds the id code.
    Url { param: String },
    /// A JSON object whose key `id_key` holds the id code; keys named like
    /// label fields (`waste_code`, `废物代码`, ...) are compared with the print.
    Json {
        #[serde(default = "default_id_key")]
        id_key: String,
    },
}

fn default_id_key() -> String {
    "id_code".into()
}

/// What a QR code said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QrPayload {
    pub text: String,
    /// The 数字识别码 it carries, if any (canonical, 37 characters).
    pub id_code: Option<String>,
    /// Other label fields it carries (JSON payloads).
    pub fields: Vec<(LabelField, String)>,
    /// The finder corners in picture pixels.
    pub corners: Vec<[f32; 2]>,
}

/// Finds and decodes the QR code in a grey picture; None if there is none or it cannot be read.
/// A blurred code often decodes at half size, a small one at one and a half
/// times: those are tried when the picture as it is fails.
pub fn decode(luma: &image::GrayImage) -> Option<(String, Vec<[f32; 2]>)> {
    decode_at(luma, 1.0).or_else(|| [0.5, 1.5].into_iter().find_map(|scale| {
        let (w, h) = luma.dimensions();
        let (sw, sh) = (((w as f32 * scale) as u32).max(1), ((h as f32 * scale) as u32).max(1));
        let scaled = image::imageops::resize(luma, sw, sh, image::imageops::FilterType::Triangle);
        decode_at(&scaled, scale)
    }))
}

fn decode_at(luma: &image::GrayImage, scale: f32) -> Option<(String, Vec<[f32; 2]>)> {
    let (w, h) = luma.dimensions();
    let result = rxing::helpers::detect_in_luma_slice(luma.as_raw(), w, h, Some(BarcodeFormat::QR_CODE)).ok()?;
    let corners = result.getPoints().iter().map(|p| [p.x / scale, p.y / scale]).collect();
    Some((result.getText().to_string(), corners))
}

/// Every QR code in a grey picture (several containers side by side), with
/// their finder corners; the picture is tried at one and a half times too
/// when it yields none, as small codes often read larger.
pub fn decode_all(luma: &image::GrayImage) -> Vec<(String, Vec<[f32; 2]>)> {
    let at = |scale: f32| -> Vec<(String, Vec<[f32; 2]>)> {
        let scaled;
        let view = if (scale - 1.0).abs() < f32::EPSILON {
            luma
        } else {
            let (w, h) = luma.dimensions();
            scaled = image::imageops::resize(luma, ((w as f32 * scale) as u32).max(1), ((h as f32 * scale) as u32).max(1), image::imageops::FilterType::Triangle);
            &scaled
        };
        let (w, h) = view.dimensions();
        let mut hints = rxing::DecodeHints { PossibleFormats: Some([BarcodeFormat::QR_CODE].into_iter().collect()), TryHarder: Some(true), ..Default::default() };
        let found = rxing::helpers::detect_multiple_in_luma_with_hints(view.as_raw().clone(), w, h, &mut hints).unwrap_or_default();
        let mut out: Vec<(String, Vec<[f32; 2]>)> = Vec::new();
        for r in found {
            let text = r.getText().to_string();
            if !out.iter().any(|(t, _)| *t == text) {
                out.push((text, r.getPoints().iter().map(|p| [p.x / scale, p.y / scale]).collect()));
            }
        }
        out
    };
    let found = at(1.0);
    if found.is_empty() { at(1.5) } else { found }
}

/// Interprets a payload in the configured format. Err says why it does not fit.
pub fn interpret(text: &str, format: &QrFormat, corners: Vec<[f32; 2]>) -> Result<QrPayload, String> {
    let text = text.trim();
    let payload = |id_code, fields| QrPayload { text: text.to_string(), id_code, fields, corners: corners.clone() };
    match format {
        QrFormat::Raw => Ok(payload(Some(raw_id(text)?), Vec::new())),
        QrFormat::Url { param } => Ok(payload(Some(url_id(text, Some(param))?), Vec::new())),
        QrFormat::Json { id_key } => {
            let (id, fields) = json_fields(text, id_key)?;
            Ok(payload(id, fields))
        }
        QrFormat::Auto => {
            if let Ok(id) = raw_id(text) {
                return Ok(payload(Some(id), Vec::new()));
            }
            if text.starts_with('{') {
                let (id, fields) = json_fields(text, "id_code")?;
                return Ok(payload(id, fields));
            }
            if text.contains("://") {
                return Ok(payload(Some(url_id(text, None)?), Vec::new()));
            }
            Err(format!("the QR code says `{}`: not a 37-character 数字识别码, a URL or JSON", clip(text)))
        }
    }
}

fn raw_id(text: &str) -> Result<String, String> {
    match canonical_id_code(text) {
        // A QR code is read exactly: a "repaired" read means it is not an id code.
        Some((id, false)) => Ok(id),
        _ => Err(format!("the QR code says `{}`, not a 37-character 数字识别码", clip(text))),
    }
}

/// The id code in a URL's query: the named parameter, or (auto) any parameter or path part that is one.
fn url_id(text: &str, param: Option<&str>) -> Result<String, String> {
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let mut pairs = query.split('&').filter_map(|kv| kv.split_once('='));
    let found = match param {
        Some(p) => pairs.filter(|(k, _)| *k == p).find_map(|(_, v)| raw_id(v).ok()),
        None => pairs.find_map(|(_, v)| raw_id(v).ok()).or_else(|| path.rsplit('/').find_map(|s| raw_id(s).ok())),
    };
    found.ok_or_else(|| match param {
        Some(p) => format!("the QR URL `{}` has no 数字识别码 in its `{p}` parameter", clip(text)),
        None => format!("the QR URL `{}` carries no 数字识别码", clip(text)),
    })
}

fn json_fields(text: &str, id_key: &str) -> Result<(Option<String>, Vec<(LabelField, String)>), String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("the QR code's JSON does not parse: {e}"))?;
    let object = value.as_object().ok_or("the QR code's JSON is not an object")?;
    let id = match object.get(id_key).or_else(|| object.get(LabelField::IdCode.key_zh())) {
        Some(v) => Some(raw_id(v.as_str().ok_or_else(|| format!("the QR code's `{id_key}` is not text"))?)?),
        None => None,
    };
    let fields = LabelField::ALL
        .into_iter()
        .filter(|f| *f != LabelField::IdCode)
        .filter_map(|f| {
            let v = object.get(f.code()).or_else(|| object.get(f.key_zh()))?;
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((f, s))
        })
        .collect();
    Ok((id, fields))
}

fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "91350100M000100Y439002490820261102001";

    #[test]
    fn raw_url_and_json_payloads_all_give_the_id_code() {
        let auto = QrFormat::Auto;
        assert_eq!(interpret(ID, &auto, vec![]).unwrap().id_code.as_deref(), Some(ID));
        let url = format!("https://wf.example.gov.cn/hw/label?sbm={ID}&v=1");
        assert_eq!(interpret(&url, &auto, vec![]).unwrap().id_code.as_deref(), Some(ID));
        assert_eq!(interpret(&url, &QrFormat::Url { param: "sbm".into() }, vec![]).unwrap().id_code.as_deref(), Some(ID));
        assert!(interpret(&url, &QrFormat::Url { param: "code".into() }, vec![]).unwrap_err().contains("`code`"));
        let path = format!("https://wf.example.gov.cn/hw/{ID}");
        assert_eq!(interpret(&path, &auto, vec![]).unwrap().id_code.as_deref(), Some(ID));
        let json = format!(r#"{{"id_code":"{ID}","waste_code":"900-249-08","废物重量":25.5}}"#);
        let p = interpret(&json, &QrFormat::Json { id_key: "id_code".into() }, vec![]).unwrap();
        assert_eq!(p.id_code.as_deref(), Some(ID));
        assert!(p.fields.contains(&(LabelField::WasteCode, "900-249-08".into())));
        assert!(p.fields.contains(&(LabelField::Weight, "25.5".into())));
    }

    #[test]
    fn payloads_of_the_wrong_shape_say_what_they_hold() {
        assert!(interpret("hello", &QrFormat::Auto, vec![]).unwrap_err().contains("`hello`"));
        assert!(interpret("{not json", &QrFormat::Auto, vec![]).unwrap_err().contains("JSON"));
        assert!(interpret(&ID[..36], &QrFormat::Raw, vec![]).is_err());
        let long = "x".repeat(5000);
        assert!(interpret(&long, &QrFormat::Auto, vec![]).unwrap_err().chars().count() < 200);
    }
}
