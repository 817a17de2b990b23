use image::RgbImage;
use std::sync::Arc;
use std::time::SystemTime;

/// One decoded picture from a camera, shared between the tasks that look at it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Camera id from the config.
    pub camera: Arc<str>,
    /// Counts every frame the source produced, including ones later dropped.
    pub seq: u64,
    pub captured_at: SystemTime,
    pub image: Arc<RgbImage>,
    /// Where the frame came from (a file name for replay, the device or URL otherwise).
    pub origin: Arc<str>,
}
