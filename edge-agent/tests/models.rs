//! The real ONNX Runtime running the real pretrained models.

mod common;

use common::*;
use edge_agent::inference::manifest::ManifestError;
use edge_agent::inference::segmenter::SalientSegmenter;
use edge_agent::inference::text::{TextAngleClassifier, TextDetector, TextRecognizer};
use edge_agent::inference::{InferenceConfig, InferenceError, ModelCatalog, ModelPool, ModelSession};
use edge_agent::waste::WasteCategory;

fn pool() -> ModelPool {
    ModelPool::load(&models_dir(), InferenceConfig::default()).expect("manifests load")
}

#[test]
fn fruit_photos_are_kitchen_waste() {
    let pool = pool();
    let classifier = pool.classifier("efficientnet-lite0").unwrap();
    for (photo, expected_top) in [("fruits.jpg", "lemon"), ("apple.jpg", "Granny Smith"), ("orange.jpg", "orange")] {
        let bytes = std::fs::read(opencv_photo(photo)).unwrap();
        let c = classifier.classify_bytes(&bytes, 5).unwrap();
        assert_eq!(c.top.len(), 5);
        assert_eq!(c.top[0].label, expected_top, "{photo}: {:?}", c.top);
        let category = c.category.as_ref().unwrap_or_else(|| panic!("{photo}: no category"));
        assert_eq!(category.category, WasteCategory::Kitchen, "{photo}");
        assert_eq!(category.name_zh, "厨余垃圾");
        assert!(category.confidence > 0.5, "{photo}: {}", category.confidence);
        let embedding = c.embedding.as_ref().expect("EfficientNet exports features");
        assert_eq!(embedding.len(), 1280);
        let norm: f32 = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3);
    }
}

#[test]
fn embeddings_put_similar_pictures_closer_than_different_ones() {
    let pool = pool();
    let classifier = pool.classifier("efficientnet-lite0").unwrap();
    let embed = |name: &str| {
        let bytes = std::fs::read(opencv_photo(name)).unwrap();
        classifier.classify_bytes(&bytes, 1).unwrap().embedding.unwrap()
    };
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let (orange, fruits, baboon) = (embed("orange.jpg"), embed("fruits.jpg"), embed("baboon.jpg"));
    assert!(dot(&orange, &fruits) > dot(&orange, &baboon), "fruit should be nearer fruit than a baboon");
}

#[test]
fn a_picture_of_no_waste_gets_no_category() {
    let pool = pool();
    let classifier = pool.classifier("efficientnet-lite0").unwrap();
    let bytes = std::fs::read(opencv_photo("baboon.jpg")).unwrap();
    let c = classifier.classify_bytes(&bytes, 5).unwrap();
    assert_eq!(c.top[0].label, "baboon");
    assert!(c.category.is_none(), "{:?}", c.category);
}

#[test]
fn the_classifier_session_is_shared_between_users() {
    let pool = pool();
    let a = pool.session("efficientnet-lite0").unwrap();
    let b = pool.session("efficientnet-lite0").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(a.provider.active, "cpu");
    assert_eq!(a.provider.requested, "cpu");
}

#[test]
fn a_model_whose_file_does_not_match_its_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("u2netp");
    std::fs::create_dir(&model_dir).unwrap();
    let manifest = std::fs::read_to_string(models_dir().join("u2netp/model.toml")).unwrap();
    std::fs::write(model_dir.join("model.toml"), &manifest).unwrap();
    // Same name, different bytes: a truncated download.
    let real = std::fs::read(models_dir().join("u2netp/u2netp.onnx")).unwrap();
    std::fs::write(model_dir.join("u2netp.onnx"), &real[..real.len() / 2]).unwrap();

    let catalog = ModelCatalog::load(dir.path()).unwrap();
    let err = catalog.get("u2netp").unwrap().verify_file().unwrap_err();
    assert!(matches!(err, ManifestError::HashMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("u2netp.onnx") && message.contains("models/setup.py"), "{message}");

    // And the session refuses to open it (the runtime itself comes from the real models dir).
    let config = InferenceConfig {
        ort_library: Some(models_dir().join("onnxruntime/libonnxruntime.so.1.32.0")),
        ..InferenceConfig::default()
    };
    let err = ModelSession::open(catalog.get("u2netp").unwrap(), &config, dir.path()).err().unwrap();
    assert!(matches!(err, InferenceError::Manifest(ManifestError::HashMismatch { .. })), "{err}");
}

#[test]
fn a_gpu_provider_that_cannot_run_is_an_error_unless_fallback_is_allowed() {
    let catalog = ModelCatalog::load(&models_dir()).unwrap();
    let manifest = catalog.get("u2netp").unwrap();
    let cuda = InferenceConfig { provider: edge_agent::inference::Provider::Cuda, ..InferenceConfig::default() };
    let err = ModelSession::open(manifest, &cuda, &models_dir()).err().expect("no CUDA here");
    let message = err.to_string();
    assert!(message.contains("cuda"), "{message}");

    let fallback = InferenceConfig { allow_cpu_fallback: true, ..cuda };
    let session = ModelSession::open(manifest, &fallback, &models_dir()).unwrap();
    assert_eq!(session.provider.requested, "cuda");
    assert_eq!(session.provider.active, "cpu", "the provider really in use is reported");
    assert!(session.provider.fallback_reason.is_some());
}

#[test]
fn u2netp_masks_the_object_not_the_background() {
    let pool = pool();
    let segmenter = SalientSegmenter::new(pool.session("u2netp").unwrap()).unwrap();
    // A red disc on a plain light background.
    let img = image::RgbImage::from_fn(400, 300, |x, y| {
        let (dx, dy) = (x as f32 - 200.0, y as f32 - 150.0);
        if dx * dx + dy * dy < 70.0 * 70.0 { image::Rgb([200, 30, 30]) } else { image::Rgb([235, 235, 230]) }
    });
    let mask = segmenter.mask(&img).unwrap();
    assert_eq!(mask.dimensions(), (400, 300));
    let centre = mask.get_pixel(200, 150).0[0];
    let corner = mask.get_pixel(10, 10).0[0];
    assert!(centre > 200 && corner < 50, "centre {centre}, corner {corner}");
}

#[test]
fn pp_ocr_reads_a_rendered_label_line() {
    let pool = pool();
    let recognizer = TextRecognizer::new(pool.session("ppocr-v6-rec").unwrap()).unwrap();
    let line = render_text_line("废物代码：900-041-49", 40.0);
    let text = recognizer.recognise(&line).unwrap();
    let normalised: String = text.text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(normalised.contains("900-041-49"), "read {:?}", text.text);
    assert!(normalised.contains("废物代码"), "read {:?}", text.text);
    assert!(text.confidence > 0.8, "{text:?}");
}

#[test]
fn pp_ocr_detector_finds_text_where_it_is() {
    let pool = pool();
    let detector = TextDetector::new(pool.session("ppocr-v6-det").unwrap()).unwrap();
    // A line of text in the upper half of an otherwise empty page.
    let line = render_text_line("危险废物 HW49", 48.0);
    let mut page = image::RgbImage::from_pixel(800, 600, image::Rgb([255, 255, 255]));
    image::imageops::overlay(&mut page, &line, 100, 100);
    let p = detector.probability(&page).unwrap();
    let (h, w) = p.map.dim();
    assert!(w % 32 == 0 && h % 32 == 0);
    // Map a point in the middle of the text and one in the empty lower half to tensor coordinates.
    let to_tensor = |x: f32, y: f32| (((y - p.geometry.crop_y) * p.geometry.scale_y) as usize, ((x - p.geometry.crop_x) * p.geometry.scale_x) as usize);
    let text_row = to_tensor(100.0 + line.width() as f32 / 2.0, 100.0 + line.height() as f32 / 2.0);
    let empty = to_tensor(400.0, 500.0);
    assert!(p.map[text_row] > 0.5, "text probability {}", p.map[text_row]);
    assert!(p.map[empty] < 0.1, "empty-page probability {}", p.map[empty]);
}

#[test]
fn the_angle_classifier_tells_upside_down_lines() {
    let pool = pool();
    let cls = TextAngleClassifier::new(pool.session("ppocr-cls").unwrap()).unwrap();
    let line = render_text_line("产生单位：北京某某科技有限公司", 32.0);
    let upright = cls.orientation(&line).unwrap();
    let flipped = cls.orientation(&image::imageops::rotate180(&line)).unwrap();
    assert!(!upright.upside_down, "{upright:?}");
    assert!(flipped.upside_down, "{flipped:?}");
}
