//! The self-test a model must pass before it is swapped in: the manifest's
//! sample picture through the candidate and through the running model. The
//! candidate must give every output the running one gives, with the same
//! shape and finite values; a classifier must also name the sample as its
//! manifest says (`expect_top1`, `expect_category`).

use crate::inference::{ImageClassifier, ModelKind, ModelSession};
use std::sync::Arc;

pub fn self_test(candidate: &Arc<ModelSession>, running: &ModelSession) -> Result<serde_json::Value, String> {
    let m = &running.manifest;
    let sample = m.sample.as_ref().ok_or_else(|| {
        format!("the manifest of `{}` has no [sample]: a model cannot be checked before it is swapped in; add a sample picture to its model.toml", m.name)
    })?;
    let img = image::open(&sample.image)
        .map_err(|e| format!("cannot read the self-test sample {} ({e})", sample.image.display()))?
        .to_rgb8();
    let prepared = running.prepare(&img).map_err(|e| e.to_string())?;
    let names: Vec<&str> = m.outputs.values().map(|o| o.name.as_str()).collect();
    let expected = running.run(prepared.tensor.view().into_dyn(), &names).map_err(|e| format!("the running model failed on the sample: {e}"))?;
    let got = candidate.run(prepared.tensor.view().into_dyn(), &names).map_err(|e| format!("the new model failed on the sample: {e}"))?;
    let mut shapes = serde_json::Map::new();
    for (name, want) in &expected {
        let have = got.get(name).ok_or_else(|| format!("the new model gives no output `{name}`"))?;
        if have.shape() != want.shape() {
            return Err(format!("output `{name}` has shape {:?}; the running model's is {:?}", have.shape(), want.shape()));
        }
        if let Some(bad) = have.iter().find(|v| !v.is_finite()) {
            return Err(format!("output `{name}` holds {bad} on the sample"));
        }
        shapes.insert(name.clone(), serde_json::json!(have.shape()));
    }
    let mut report = serde_json::json!({ "sample": sample.image.file_name().map(|f| f.to_string_lossy().into_owned()), "outputs": shapes });
    if m.kind == ModelKind::ImageClassifier {
        let classifier = ImageClassifier::new(candidate.clone()).map_err(|e| e.to_string())?;
        let c = classifier.classify(&img, 5).map_err(|e| format!("the new model cannot classify the sample: {e}"))?;
        let top1 = c.top.first().map(|t| t.label.clone()).unwrap_or_default();
        if !sample.expect_top1.is_empty() && !sample.expect_top1.contains(&top1) {
            return Err(format!("the new model calls the sample `{top1}`; its manifest expects one of {:?}", sample.expect_top1));
        }
        let category = c.category.as_ref().map(|k| k.category);
        if sample.expect_category.is_some() && category != sample.expect_category {
            return Err(format!("the new model puts the sample in {category:?}; its manifest expects {:?}", sample.expect_category));
        }
        report["top1"] = top1.into();
        report["category"] = serde_json::json!(category);
    }
    Ok(report)
}
