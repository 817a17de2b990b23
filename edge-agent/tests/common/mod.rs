//! Shared helpers for the integration tests. The tests use the real ONNX Runtime
//! and the real models fetched by `python3 models/setup.py` (the README's test
//! command runs it first).
#![allow(dead_code)]

pub mod browser;
pub mod mqtt;

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn models_dir() -> PathBuf {
    let dir = repo_root().join("models");
    assert!(
        dir.join("onnxruntime/libonnxruntime.so.1.32.0").is_file(),
        "models are not fetched: run `python3 models/setup.py` (the README's test command does)"
    );
    dir
}

/// Debian's opencv-doc sample photos (apt-get install opencv-doc).
pub fn opencv_photo(name: &str) -> PathBuf {
    let path = Path::new("/usr/share/doc/opencv-doc/examples/data").join(name);
    assert!(path.is_file(), "{} missing: apt-get install opencv-doc", path.display());
    path
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_edge-agent"))
}

/// A font with Chinese glyphs (Debian fonts-wqy-microhei).
pub fn chinese_font() -> ab_glyph::FontVec {
    let path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; apt-get install fonts-wqy-microhei"));
    ab_glyph::FontVec::try_from_vec_and_index(bytes, 0).expect("font parses")
}

/// Black text on white, with a margin: a clean label line.
pub fn render_text_line(text: &str, px: f32) -> image::RgbImage {
    use ab_glyph::{Font, ScaleFont};
    let font = chinese_font();
    let scaled = font.as_scaled(px);
    let width: f32 = text.chars().map(|c| scaled.h_advance(font.glyph_id(c))).sum();
    let (w, h) = (width.ceil() as u32 + 2 * px as u32, (px * 2.0) as u32);
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    imageproc::drawing::draw_text_mut(&mut img, image::Rgb([0, 0, 0]), px as i32, (px / 2.0) as i32, px, &font, text);
    img
}

pub fn jpeg_bytes(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(img).unwrap();
    out
}
