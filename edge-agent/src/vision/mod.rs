//! Vision: turning camera bytes into frames and frames into model input tensors.
//! Pure functions over pixels; no I/O beyond what the caller hands in.

pub mod analysis;
pub mod decode;
pub mod frame;
pub mod preprocess;
pub mod quality;

pub use decode::{DecodeError, decode_image, decode_image_at_least};
pub use frame::Frame;
pub use preprocess::{Prepared, prepare};
