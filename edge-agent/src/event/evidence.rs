//! Evidence pictures: the frame an event was judged on, scaled down to a size
//! a manager can read on the platform, with the regions the task pointed at
//! outlined, as a JPEG.

use image::RgbImage;

/// Longest side of an evidence picture: readable, and ~100-200 KB as JPEG.
pub const MAX_SIDE: u32 = 1280;
const QUALITY: i32 = 85;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceImage {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A rectangle to outline, in source-frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outline {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub rgb: [u8; 3],
}

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("cannot make an evidence picture from an empty {0}x{1} frame")]
    Empty(u32, u32),
    #[error("cannot scale the evidence picture: {0}")]
    Resize(String),
    #[error("cannot encode the evidence JPEG: {0}")]
    Encode(String),
}

/// A closed contour to draw (a spill's edge), in source-frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Contour {
    pub points: Vec<[f32; 2]>,
    pub rgb: [u8; 3],
}

/// Scales `frame` to fit [`MAX_SIDE`], draws the outlines and encodes a JPEG.
pub fn render(frame: &RgbImage, outlines: &[Outline]) -> Result<EvidenceImage, EvidenceError> {
    render_with_contours(frame, outlines, &[])
}

/// [`render`], with contours drawn as well.
pub fn render_with_contours(frame: &RgbImage, outlines: &[Outline], contours: &[Contour]) -> Result<EvidenceImage, EvidenceError> {
    let (w, h) = frame.dimensions();
    if w == 0 || h == 0 {
        return Err(EvidenceError::Empty(w, h));
    }
    let scale = (MAX_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (tw, th) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    let mut picture = if (tw, th) == (w, h) {
        frame.clone()
    } else {
        let raw = crate::vision::preprocess::resize_region(frame, (0.0, 0.0, w as f64, h as f64), (tw, th))
            .map_err(|e| EvidenceError::Resize(e.to_string()))?;
        RgbImage::from_raw(tw, th, raw).ok_or_else(|| EvidenceError::Resize("resized buffer has the wrong size".into()))?
    };
    // Lines about 3 px thick on the evidence picture whatever the source size.
    let thickness = 3u32;
    for o in outlines {
        draw_outline(&mut picture, o, scale, thickness);
    }
    for c in contours {
        draw_contour(&mut picture, c, scale);
    }
    Ok(EvidenceImage { jpeg: encode_jpeg(&picture)?, width: tw, height: th })
}

/// Encodes a picture as the evidence JPEGs are (libjpeg-turbo, 4:2:0).
pub fn encode_jpeg(picture: &RgbImage) -> Result<Vec<u8>, EvidenceError> {
    let (w, h) = picture.dimensions();
    if w == 0 || h == 0 {
        return Err(EvidenceError::Empty(w, h));
    }
    let raw = turbojpeg::Image {
        pixels: picture.as_raw().as_slice(),
        width: w as usize,
        pitch: w as usize * 3,
        height: h as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    Ok(turbojpeg::compress(raw, QUALITY, turbojpeg::Subsamp::Sub2x2).map_err(|e| EvidenceError::Encode(e.to_string()))?.to_vec())
}

fn draw_contour(img: &mut RgbImage, c: &Contour, scale: f32) {
    let points: Vec<(f32, f32)> = c.points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()).map(|p| (p[0] * scale, p[1] * scale)).collect();
    for (i, a) in points.iter().enumerate() {
        let b = points[(i + 1) % points.len()];
        // Three 1 px lines side by side: about as thick as the rectangles.
        for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)] {
            imageproc::drawing::draw_line_segment_mut(img, (a.0 + dx, a.1 + dy), (b.0 + dx, b.1 + dy), image::Rgb(c.rgb));
        }
    }
}

fn draw_outline(img: &mut RgbImage, o: &Outline, scale: f32, thickness: u32) {
    let (w, h) = img.dimensions();
    let clamp_x = |v: f32| ((v * scale).round().max(0.0) as u32).min(w - 1);
    let clamp_y = |v: f32| ((v * scale).round().max(0.0) as u32).min(h - 1);
    if !(o.x.is_finite() && o.y.is_finite() && o.width.is_finite() && o.height.is_finite()) {
        return;
    }
    let (x0, y0, x1, y1) = (clamp_x(o.x), clamp_y(o.y), clamp_x(o.x + o.width), clamp_y(o.y + o.height));
    let pixel = image::Rgb(o.rgb);
    for t in 0..thickness {
        for x in x0..=x1 {
            img.put_pixel(x, (y0 + t).min(h - 1), pixel);
            img.put_pixel(x, y1.saturating_sub(t), pixel);
        }
        for y in y0..=y1 {
            img.put_pixel((x0 + t).min(w - 1), y, pixel);
            img.put_pixel(x1.saturating_sub(t), y, pixel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_frames_are_scaled_to_fit_and_outlines_land_where_the_task_pointed() {
        let frame = RgbImage::from_pixel(2560, 1440, image::Rgb([40, 40, 40]));
        let outline = Outline { x: 400.0, y: 200.0, width: 800.0, height: 600.0, rgb: [255, 0, 0] };
        let ev = render(&frame, &[outline]).expect("evidence");
        assert_eq!((ev.width, ev.height), (1280, 720));
        assert_eq!(&ev.jpeg[..2], &[0xff, 0xd8], "a JPEG");
        let decoded = crate::vision::decode::decode_image(&ev.jpeg).expect("decodes");
        // The outline's top-left corner lands at half the source coordinates.
        let corner = decoded.get_pixel(201, 101);
        assert!(corner[0] > 180 && corner[1] < 90, "red outline at (201,101), got {corner:?}");
        let inside = decoded.get_pixel(400, 300);
        assert!(inside[0] < 80, "inside the box stays the frame's colour, got {inside:?}");
    }

    #[test]
    fn empty_frames_and_absurd_outlines_are_errors_or_ignored_not_panics() {
        assert!(matches!(render(&RgbImage::new(0, 0), &[]), Err(EvidenceError::Empty(0, 0))));
        let frame = RgbImage::from_pixel(64, 48, image::Rgb([0, 0, 0]));
        let wild = Outline { x: -1e9, y: f32::NAN, width: 1e12, height: -5.0, rgb: [0, 255, 0] };
        let huge = Outline { x: -100.0, y: -100.0, width: 1e9, height: 1e9, rgb: [0, 255, 0] };
        let ev = render(&frame, &[wild, huge]).expect("evidence");
        assert_eq!((ev.width, ev.height), (64, 48));
    }
}
