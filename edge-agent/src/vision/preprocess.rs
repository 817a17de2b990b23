//! Frame -> model input tensor, driven entirely by the model's manifest:
//! resize mode, colour order, layout and per-channel normalisation.

use crate::inference::manifest::{ColorOrder, InputSpec, Layout, Preprocess, ResizeMode};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image, images::ImageRef};
use image::RgbImage;
use ndarray::Array4;
use std::cell::RefCell;

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("the {mode} resize needs a fixed input height and width in the manifest's input.shape")]
    NeedsFixedSize { mode: &'static str },
    #[error("cannot preprocess an empty ({width}x{height}) picture")]
    EmptyImage { width: u32, height: u32 },
    #[error("resize failed: {0}")]
    Resize(String),
}

/// How tensor coordinates map back to the source picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Top-left of the region of the source that was used.
    pub crop_x: f32,
    pub crop_y: f32,
    /// Tensor pixels per source pixel.
    pub scale_x: f32,
    pub scale_y: f32,
    /// Padding before the content in the tensor (letterbox).
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Geometry {
    pub fn to_source(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.pad_x) / self.scale_x + self.crop_x, (y - self.pad_y) / self.scale_y + self.crop_y)
    }
}

pub struct Prepared {
    pub tensor: Array4<f32>,
    pub geometry: Geometry,
}

/// A plan: which part of the source becomes which part of the tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    crop: (f64, f64, f64, f64),
    content: (u32, u32),
    tensor: (u32, u32),
    pad: (u32, u32),
    pad_value: PadValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PadValue {
    /// A grey pixel value that goes through normalisation like the picture.
    Pixel(u8),
    /// A value in normalised space.
    Normalised(f32),
}

fn plan(width: u32, height: u32, resize: &ResizeMode, input: &InputSpec) -> Result<Plan, PreprocessError> {
    let (w, h) = (width as f64, height as f64);
    let full = (0.0, 0.0, w, h);
    let fixed = |mode| input.fixed_hw().ok_or(PreprocessError::NeedsFixedSize { mode });
    Ok(match *resize {
        ResizeMode::Stretch => {
            let (th, tw) = fixed("stretch")?;
            Plan { crop: full, content: (tw, th), tensor: (tw, th), pad: (0, 0), pad_value: PadValue::Pixel(0) }
        }
        ResizeMode::Letterbox { pad } => {
            let (th, tw) = fixed("letterbox")?;
            let s = (tw as f64 / w).min(th as f64 / h);
            let cw = ((w * s).round() as u32).clamp(1, tw);
            let ch = ((h * s).round() as u32).clamp(1, th);
            Plan {
                crop: full,
                content: (cw, ch),
                tensor: (tw, th),
                pad: ((tw - cw) / 2, (th - ch) / 2),
                pad_value: PadValue::Pixel(pad),
            }
        }
        ResizeMode::CenterCrop { crop_fraction } => {
            let (th, tw) = fixed("center-crop")?;
            // Shorter side scaled to size / crop_fraction, then the centre taken.
            let scale = (tw.min(th) as f64 / crop_fraction.clamp(0.05, 1.0) as f64) / w.min(h);
            let cw = (tw as f64 / scale).min(w);
            let ch = (th as f64 / scale).min(h);
            Plan {
                crop: ((w - cw) / 2.0, (h - ch) / 2.0, cw, ch),
                content: (tw, th),
                tensor: (tw, th),
                pad: (0, 0),
                pad_value: PadValue::Pixel(0),
            }
        }
        ResizeMode::LimitSide { min_short, max_long, multiple } => {
            let mut s = 1.0f64;
            if min_short > 0 && w.min(h) * s < min_short as f64 {
                s = min_short as f64 / w.min(h);
            }
            if max_long > 0 && w.max(h) * s > max_long as f64 {
                s = max_long as f64 / w.max(h);
            }
            let m = multiple.max(1) as f64;
            let round = |v: f64| (((v / m).round() * m).max(m)) as u32;
            let (tw, th) = (round(w * s), round(h * s));
            Plan { crop: full, content: (tw, th), tensor: (tw, th), pad: (0, 0), pad_value: PadValue::Pixel(0) }
        }
        ResizeMode::FixedHeight { height: th, min_width, max_width } => {
            let cw = ((w * th as f64 / h).ceil() as u32).clamp(1, max_width.max(1));
            Plan {
                crop: full,
                content: (cw, th),
                tensor: (cw.max(min_width), th),
                pad: (0, 0),
                pad_value: PadValue::Normalised(0.0),
            }
        }
    })
}

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

pub(crate) fn resize_region(img: &RgbImage, crop: (f64, f64, f64, f64), size: (u32, u32)) -> Result<Vec<u8>, PreprocessError> {
    let (w, h) = img.dimensions();
    if crop == (0.0, 0.0, w as f64, h as f64) && size == (w, h) {
        return Ok(img.as_raw().clone());
    }
    let src = ImageRef::new(w, h, img.as_raw(), PixelType::U8x3).map_err(|e| PreprocessError::Resize(e.to_string()))?;
    let mut dst = Image::new(size.0, size.1, PixelType::U8x3);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(crop.0, crop.1, crop.2, crop.3);
    RESIZER
        .with(|r| r.borrow_mut().resize(&src, &mut dst, &options))
        .map_err(|e| PreprocessError::Resize(e.to_string()))?;
    Ok(dst.into_vec())
}

/// Resizes, reorders and normalises a picture into the model's input tensor (batch of one).
pub fn prepare(img: &RgbImage, pre: &Preprocess, input: &InputSpec) -> Result<Prepared, PreprocessError> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(PreprocessError::EmptyImage { width: w, height: h });
    }
    let plan = plan(w, h, &pre.resize, input)?;
    let content = resize_region(img, plan.crop, plan.content)?;

    // One lookup table per tensor channel: normalising is then a load per value.
    let source_channel = |c: usize| match input.color {
        ColorOrder::Rgb => c,
        ColorOrder::Bgr => 2 - c,
    };
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, out) in table.iter_mut().enumerate() {
            *out = (v as f32 - pre.mean[c]) / pre.std[c];
        }
    }
    let pad = |c: usize| match plan.pad_value {
        PadValue::Pixel(p) => lut[c][p as usize],
        PadValue::Normalised(v) => v,
    };

    let (tw, th) = (plan.tensor.0 as usize, plan.tensor.1 as usize);
    let (cw, ch) = (plan.content.0 as usize, plan.content.1 as usize);
    let (px, py) = (plan.pad.0 as usize, plan.pad.1 as usize);
    let padded = (tw, th) != (cw, ch);
    let tensor = match input.layout {
        Layout::Nchw => {
            let mut t = Array4::<f32>::zeros((1, 3, th, tw));
            let data = t.as_slice_mut().expect("fresh array is contiguous");
            let plane = tw * th;
            for c in 0..3 {
                let dst = &mut data[c * plane..(c + 1) * plane];
                if padded {
                    dst.fill(pad(c));
                }
                let sc = source_channel(c);
                let table = &lut[c];
                for y in 0..ch {
                    let row = &content[y * cw * 3..(y + 1) * cw * 3];
                    let out = &mut dst[(y + py) * tw + px..(y + py) * tw + px + cw];
                    for (o, px) in out.iter_mut().zip(row.chunks_exact(3)) {
                        *o = table[px[sc] as usize];
                    }
                }
            }
            t
        }
        Layout::Nhwc => {
            let mut t = Array4::<f32>::zeros((1, th, tw, 3));
            let data = t.as_slice_mut().expect("fresh array is contiguous");
            if padded {
                for px in data.chunks_exact_mut(3) {
                    for c in 0..3 {
                        px[c] = pad(c);
                    }
                }
            }
            for y in 0..ch {
                let row = &content[y * cw * 3..(y + 1) * cw * 3];
                let start = ((y + py) * tw + px) * 3;
                for (o, p) in data[start..start + cw * 3].chunks_exact_mut(3).zip(row.chunks_exact(3)) {
                    for c in 0..3 {
                        o[c] = lut[c][p[source_channel(c)] as usize];
                    }
                }
            }
            t
        }
    };
    let geometry = Geometry {
        crop_x: plan.crop.0 as f32,
        crop_y: plan.crop.1 as f32,
        scale_x: (plan.content.0 as f64 / plan.crop.2) as f32,
        scale_y: (plan.content.1 as f64 / plan.crop.3) as f32,
        pad_x: px as f32,
        pad_y: py as f32,
    };
    Ok(Prepared { tensor, geometry })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(shape: [i64; 4], layout: Layout, color: ColorOrder) -> InputSpec {
        InputSpec { name: "x".into(), shape: shape.to_vec(), layout, color }
    }

    fn pre(resize: ResizeMode, mean: f32, std: f32) -> Preprocess {
        Preprocess { resize, mean: [mean; 3], std: [std; 3] }
    }

    /// A 2x2 picture with four distinct colours.
    fn quad() -> RgbImage {
        let mut img = RgbImage::new(2, 2);
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(1, 0, image::Rgb([0, 255, 0]));
        img.put_pixel(0, 1, image::Rgb([0, 0, 255]));
        img.put_pixel(1, 1, image::Rgb([10, 20, 30]));
        img
    }

    #[test]
    fn nchw_rgb_normalises_each_channel_into_its_plane() {
        let p = prepare(&quad(), &pre(ResizeMode::Stretch, 0.0, 255.0), &input([1, 3, 2, 2], Layout::Nchw, ColorOrder::Rgb))
            .unwrap();
        let t = &p.tensor;
        assert_eq!(t.shape(), &[1, 3, 2, 2]);
        assert_eq!(t[[0, 0, 0, 0]], 1.0); // red plane, top-left
        assert_eq!(t[[0, 1, 0, 1]], 1.0); // green plane, top-right
        assert_eq!(t[[0, 2, 1, 0]], 1.0); // blue plane, bottom-left
        assert!((t[[0, 2, 1, 1]] - 30.0 / 255.0).abs() < 1e-6);
        assert_eq!(t[[0, 1, 0, 0]], 0.0);
    }

    #[test]
    fn bgr_swaps_planes_and_mean_std_apply_per_channel() {
        let spec = Preprocess { resize: ResizeMode::Stretch, mean: [10.0, 20.0, 30.0], std: [2.0, 4.0, 5.0] };
        let p = prepare(&quad(), &spec, &input([1, 3, 2, 2], Layout::Nchw, ColorOrder::Bgr)).unwrap();
        // Plane 0 is blue for a BGR model: bottom-right pixel blue=30 -> (30-10)/2.
        assert_eq!(p.tensor[[0, 0, 1, 1]], 10.0);
        // Plane 2 is red: top-left red=255 -> (255-30)/5.
        assert_eq!(p.tensor[[0, 2, 0, 0]], 45.0);
    }

    #[test]
    fn nhwc_interleaves_channels() {
        let p = prepare(&quad(), &pre(ResizeMode::Stretch, 127.5, 127.5), &input([1, 2, 2, 3], Layout::Nhwc, ColorOrder::Rgb))
            .unwrap();
        assert_eq!(p.tensor.shape(), &[1, 2, 2, 3]);
        assert_eq!(p.tensor[[0, 0, 0, 0]], 1.0);
        assert_eq!(p.tensor[[0, 0, 0, 1]], -1.0);
        assert_eq!(p.tensor[[0, 0, 1, 1]], 1.0);
    }

    #[test]
    fn letterbox_pads_with_the_normalised_pad_value_and_maps_back() {
        let img = RgbImage::from_pixel(40, 20, image::Rgb([200, 200, 200]));
        let p = prepare(
            &img,
            &pre(ResizeMode::Letterbox { pad: 114 }, 0.0, 1.0),
            &input([1, 3, 40, 40], Layout::Nchw, ColorOrder::Rgb),
        )
        .unwrap();
        assert_eq!(p.tensor[[0, 0, 0, 0]], 114.0); // top padding band
        assert_eq!(p.tensor[[0, 0, 20, 20]], 200.0); // content
        assert_eq!(p.tensor[[0, 0, 39, 39]], 114.0); // bottom padding band
        assert_eq!(p.geometry.pad_y, 10.0);
        let (x, y) = p.geometry.to_source(40.0, 30.0);
        assert!((x - 40.0).abs() < 1e-4 && (y - 20.0).abs() < 1e-4, "{x},{y}");
    }

    #[test]
    fn center_crop_takes_the_middle_of_a_wide_picture() {
        // Left third red, middle third green, right third blue.
        let img = RgbImage::from_fn(300, 100, |x, _| match x / 100 {
            0 => image::Rgb([255, 0, 0]),
            1 => image::Rgb([0, 255, 0]),
            _ => image::Rgb([0, 0, 255]),
        });
        let p = prepare(
            &img,
            &pre(ResizeMode::CenterCrop { crop_fraction: 1.0 }, 0.0, 255.0),
            &input([1, 3, 10, 10], Layout::Nchw, ColorOrder::Rgb),
        )
        .unwrap();
        assert_eq!(p.geometry.crop_x, 100.0);
        assert_eq!(p.geometry.scale_x, 0.1);
        // The crop is green; only the outermost columns may blend with the neighbours.
        for x in 1..9 {
            assert!((p.tensor[[0, 1, 5, x]] - 1.0).abs() < 1e-3, "x={x}");
            assert!(p.tensor[[0, 0, 5, x]].abs() < 1e-3 && p.tensor[[0, 2, 5, x]].abs() < 1e-3, "x={x}");
        }
    }

    #[test]
    fn limit_side_rounds_to_the_multiple() {
        let img = RgbImage::new(1000, 500);
        let p = prepare(
            &img,
            &pre(ResizeMode::LimitSide { min_short: 736, max_long: 0, multiple: 32 }, 0.0, 1.0),
            &input([1, 3, -1, -1], Layout::Nchw, ColorOrder::Rgb),
        )
        .unwrap();
        // Short side 500 -> 736 (x1.472): 1472 x 736, both multiples of 32.
        assert_eq!(p.tensor.shape(), &[1, 3, 736, 1472]);
    }

    #[test]
    fn text_lines_keep_aspect_and_pad_right_with_zero() {
        let img = RgbImage::from_pixel(100, 24, image::Rgb([255, 255, 255]));
        let p = prepare(
            &img,
            &pre(ResizeMode::FixedHeight { height: 48, min_width: 320, max_width: 960 }, 127.5, 127.5),
            &input([1, 3, 48, -1], Layout::Nchw, ColorOrder::Bgr),
        )
        .unwrap();
        assert_eq!(p.tensor.shape(), &[1, 3, 48, 320]);
        assert_eq!(p.tensor[[0, 0, 10, 199]], 1.0); // content: white
        assert_eq!(p.tensor[[0, 0, 10, 200]], 0.0); // padding: zero after normalisation
    }

    #[test]
    fn fixed_size_modes_need_a_fixed_input_shape() {
        let err = prepare(&quad(), &pre(ResizeMode::Stretch, 0.0, 1.0), &input([1, 3, -1, -1], Layout::Nchw, ColorOrder::Rgb))
            .err()
            .unwrap();
        assert!(err.to_string().contains("fixed input height and width"), "{err}");
    }
}
