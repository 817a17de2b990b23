//! Decoding camera and file bytes to RGB.
//!
//! JPEG goes through libjpeg-turbo, which can also decode straight to 1/2, 1/4 or
//! 1/8 size inside the DCT: a 1080p frame headed for a 224² model never needs all
//! its pixels, and skipping them is most of the classify path's budget.

use image::RgbImage;
use std::cell::RefCell;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty image data")]
    Empty,
    #[error("not a picture this agent can read ({0}); expected JPEG or PNG")]
    UnknownFormat(String),
    #[error("corrupt or truncated {format} data: {reason}")]
    Corrupt { format: &'static str, reason: String },
    #[error("picture is {width}x{height}, larger than the {max} pixels per side this agent accepts")]
    TooLarge { width: usize, height: usize, max: usize },
}

/// Refuse absurd headers before allocating: a hostile or corrupt file must not
/// make the agent allocate gigabytes.
pub const MAX_SIDE: usize = 16_384;

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Decodes a whole picture at full size.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, DecodeError> {
    decode_image_at_least(bytes, 0, 0)
}

/// Decodes a picture, letting JPEG shrink it by a DCT scaling factor as long as
/// the result is still at least `min_width` x `min_height` (0 = full size).
pub fn decode_image_at_least(bytes: &[u8], min_width: u32, min_height: u32) -> Result<RgbImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if is_jpeg(bytes) {
        return decode_jpeg(bytes, min_width as usize, min_height as usize);
    }
    let format = image::guess_format(bytes).map_err(|e| DecodeError::UnknownFormat(e.to_string()))?;
    let reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| DecodeError::Corrupt { format: format_name(format), reason: e.to_string() })?;
    if w as usize > MAX_SIDE || h as usize > MAX_SIDE {
        return Err(DecodeError::TooLarge { width: w as usize, height: h as usize, max: MAX_SIDE });
    }
    image::load_from_memory_with_format(bytes, format)
        .map(|img| img.into_rgb8())
        .map_err(|e| DecodeError::Corrupt { format: format_name(format), reason: e.to_string() })
}

fn format_name(format: image::ImageFormat) -> &'static str {
    format.extensions_str().first().copied().unwrap_or("image")
}

thread_local! {
    // A decompressor handle is cheap but not free; each capture/inference thread keeps one.
    static DECOMPRESSOR: RefCell<Option<turbojpeg::Decompressor>> = const { RefCell::new(None) };
}

fn decode_jpeg(bytes: &[u8], min_width: usize, min_height: usize) -> Result<RgbImage, DecodeError> {
    let corrupt = |e: turbojpeg::Error| DecodeError::Corrupt { format: "JPEG", reason: e.to_string() };
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(turbojpeg::Decompressor::new().map_err(corrupt)?);
        }
        let decompressor = slot.as_mut().expect("initialised above");
        let header = decompressor.read_header(bytes).map_err(corrupt)?;
        if header.width == 0 || header.height == 0 {
            return Err(DecodeError::Corrupt { format: "JPEG", reason: "zero-sized picture".into() });
        }
        if header.width > MAX_SIDE || header.height > MAX_SIDE {
            return Err(DecodeError::TooLarge { width: header.width, height: header.height, max: MAX_SIDE });
        }
        let factor = [8usize, 4, 2]
            .into_iter()
            .map(|denom| turbojpeg::ScalingFactor::new(1, denom))
            .find(|f| f.scale(header.width) >= min_width.max(1) && f.scale(header.height) >= min_height.max(1))
            .filter(|_| min_width > 0 || min_height > 0)
            .unwrap_or(turbojpeg::ScalingFactor::ONE);
        decompressor.set_scaling_factor(factor).map_err(corrupt)?;
        let (width, height) = (factor.scale(header.width), factor.scale(header.height));
        let mut pixels = vec![0u8; width * height * 3];
        let image = turbojpeg::Image {
            pixels: pixels.as_mut_slice(),
            width,
            pitch: width * 3,
            height,
            format: turbojpeg::PixelFormat::RGB,
        };
        decompressor.decompress(bytes, image).map_err(corrupt)?;
        RgbImage::from_raw(width as u32, height as u32, pixels)
            .ok_or_else(|| DecodeError::Corrupt { format: "JPEG", reason: "decoded size mismatch".into() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_of(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
        out
    }

    #[test]
    fn jpeg_decodes_at_full_size_by_default() {
        let img = decode_image(&jpeg_of(320, 200)).unwrap();
        assert_eq!(img.dimensions(), (320, 200));
    }

    #[test]
    fn jpeg_is_shrunk_in_the_dct_only_as_far_as_asked() {
        let bytes = jpeg_of(1920, 1080);
        // 256 short side needed: 1/4 gives 480x270, 1/8 would give 240x135 (too small).
        assert_eq!(decode_image_at_least(&bytes, 256, 256).unwrap().dimensions(), (480, 270));
        assert_eq!(decode_image_at_least(&bytes, 100, 100).unwrap().dimensions(), (240, 135));
        assert_eq!(decode_image_at_least(&bytes, 1900, 1000).unwrap().dimensions(), (1920, 1080));
    }

    #[test]
    fn truncated_jpeg_is_an_error_not_a_panic() {
        let bytes = jpeg_of(64, 64);
        let err = decode_image(&bytes[..bytes.len() / 3]).unwrap_err();
        assert!(matches!(err, DecodeError::Corrupt { format: "JPEG", .. }), "{err}");
    }

    #[test]
    fn garbage_and_empty_input_are_named() {
        assert!(matches!(decode_image(b""), Err(DecodeError::Empty)));
        let err = decode_image(b"this is a text file, not a picture").unwrap_err();
        assert!(err.to_string().contains("not a picture"), "{err}");
    }

    #[test]
    fn png_decodes() {
        let img = RgbImage::from_pixel(7, 5, image::Rgb([1, 2, 3]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        let back = decode_image(&out).unwrap();
        assert_eq!(back.get_pixel(6, 4).0, [1, 2, 3]);
    }
}
