//! Salient-object segmenter (U²-Net-p): a soft mask of the main object, at the
//! source picture's size. The sorting station cuts items out of crops with it.

use super::session::{InferenceError, ModelSession};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
use image::{GrayImage, RgbImage};
use std::sync::Arc;

pub struct SalientSegmenter {
    pub session: Arc<ModelSession>,
    mask: String,
}

impl SalientSegmenter {
    pub fn new(session: Arc<ModelSession>) -> Result<Self, InferenceError> {
        let mask = session.manifest.outputs["mask"].name.clone();
        Ok(Self { session, mask })
    }

    /// A 0-255 mask the size of `img` (255 = object). Min-max normalised as U²-Net's authors do.
    pub fn mask(&self, img: &RgbImage) -> Result<GrayImage, InferenceError> {
        let m = &self.session.manifest;
        let prepared = self.session.prepare(img)?;
        let outputs = self.session.run(prepared.tensor.view().into_dyn(), &[&self.mask])?;
        let out = &outputs[&self.mask];
        let shape = out.shape();
        if shape.len() < 2 {
            return Err(InferenceError::model(&m.name, format!("mask output has shape {shape:?}, expected [.., H, W]")));
        }
        let (mh, mw) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let values: Vec<f32> = out.iter().take(mh * mw).copied().collect();
        let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let range = (hi - lo).max(1e-6);
        let bytes: Vec<u8> = values.iter().map(|v| (((v - lo) / range) * 255.0).round() as u8).collect();
        let small = Image::from_vec_u8(mw as u32, mh as u32, bytes, PixelType::U8)
            .map_err(|e| InferenceError::model(&m.name, e))?;
        let (w, h) = img.dimensions();
        let mut full = Image::new(w, h, PixelType::U8);
        Resizer::new()
            .resize(&small, &mut full, &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)))
            .map_err(|e| InferenceError::model(&m.name, e))?;
        GrayImage::from_raw(w, h, full.into_vec()).ok_or_else(|| InferenceError::model(&m.name, "mask size mismatch"))
    }
}
