//! V4L2 / USB cameras through nokhwa. MJPEG frames are decoded with the same
//! libjpeg-turbo path as every other JPEG; YUYV with nokhwa's converter.

use super::{CaptureError, Captured, FrameSource};
use crate::config::{PixelFormat, UsbConfig};
use crate::vision;
use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// nokhwa's `Camera` may not move between threads, so it lives on a thread of
/// its own that hands decoded frames over a one-slot channel.
pub struct UsbSource {
    config: UsbConfig,
    frames: Option<mpsc::Receiver<Result<Captured, CaptureError>>>,
    stop_reader: Arc<AtomicBool>,
}

impl UsbSource {
    pub fn new(config: UsbConfig) -> Self {
        Self { config, frames: None, stop_reader: Arc::new(AtomicBool::new(false)) }
    }
}

impl Drop for UsbSource {
    fn drop(&mut self) {
        self.stop_reader.store(true, Ordering::Relaxed);
    }
}

/// A camera stalled for this long is treated as gone.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Decodes one camera buffer to RGB. Errors name the format and the problem.
pub fn decode_buffer(buffer: &nokhwa::Buffer) -> Result<RgbImage, CaptureError> {
    match buffer.source_frame_format() {
        FrameFormat::MJPEG => {
            vision::decode_image(buffer.buffer()).map_err(|e| CaptureError::CorruptFrame(format!("MJPEG frame: {e}")))
        }
        FrameFormat::YUYV => {
            let res = buffer.resolution();
            let expected = res.width() as usize * res.height() as usize * 2;
            if buffer.buffer().len() != expected {
                return Err(CaptureError::CorruptFrame(format!(
                    "YUYV frame is {} bytes, expected {expected} for {}x{}",
                    buffer.buffer().len(),
                    res.width(),
                    res.height()
                )));
            }
            buffer.decode_image::<RgbFormat>().map_err(|e| CaptureError::CorruptFrame(format!("YUYV frame: {e}")))
        }
        other => Err(CaptureError::CorruptFrame(format!("unsupported camera pixel format {other:?}; configure mjpeg or yuyv"))),
    }
}

impl FrameSource for UsbSource {
    fn describe(&self) -> String {
        format!(
            "usb /dev/video{} {}x{}@{} {:?}",
            self.config.index, self.config.width, self.config.height, self.config.fps, self.config.format
        )
    }

    fn open(&mut self) -> Result<(), CaptureError> {
        self.stop_reader.store(true, Ordering::Relaxed);
        self.stop_reader = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), CaptureError>>(1);
        let (frame_tx, frame_rx) = mpsc::sync_channel(1);
        let (config, stop) = (self.config.clone(), self.stop_reader.clone());
        std::thread::Builder::new()
            .name(format!("v4l2-{}", config.index))
            .spawn(move || {
                let mut camera = match open_camera(&config) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => return drop(ready_tx.send(Err(e))),
                };
                while !stop.load(Ordering::Relaxed) {
                    let result = camera
                        .frame()
                        .map_err(|e| CaptureError::Unavailable(format!("/dev/video{}: {e}", config.index)))
                        .and_then(|buffer| decode_buffer(&buffer))
                        .map(|image| Captured { image, origin: format!("/dev/video{}", config.index) });
                    let lost = matches!(result, Err(CaptureError::Unavailable(_)));
                    if frame_tx.send(result).is_err() || lost {
                        break;
                    }
                }
                let _ = camera.stop_stream();
            })
            .map_err(|e| CaptureError::Fatal(format!("cannot start the camera thread: {e}")))?;
        ready_rx
            .recv_timeout(FRAME_TIMEOUT)
            .map_err(|_| CaptureError::Unavailable(format!("/dev/video{}: no answer within {FRAME_TIMEOUT:?}", self.config.index)))??;
        self.frames = Some(frame_rx);
        Ok(())
    }

    fn next_frame(&mut self, _stop: &AtomicBool) -> Result<Captured, CaptureError> {
        let frames = self.frames.as_ref().ok_or_else(|| CaptureError::Unavailable("camera not open".into()))?;
        match frames.recv_timeout(FRAME_TIMEOUT) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(CaptureError::Unavailable(format!("/dev/video{}: no frame for {FRAME_TIMEOUT:?}", self.config.index)))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(CaptureError::Unavailable(format!("/dev/video{}: camera thread ended", self.config.index)))
            }
        }
    }
}

fn open_camera(config: &UsbConfig) -> Result<nokhwa::Camera, CaptureError> {
    let format = match config.format {
        PixelFormat::Mjpeg => FrameFormat::MJPEG,
        PixelFormat::Yuyv => FrameFormat::YUYV,
    };
    let wanted = CameraFormat::new(Resolution::new(config.width, config.height), format, config.fps);
    let requested = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
    let mut camera = nokhwa::Camera::new(CameraIndex::Index(config.index), requested)
        .map_err(|e| CaptureError::Unavailable(format!("/dev/video{}: {e}", config.index)))?;
    camera
        .open_stream()
        .map_err(|e| CaptureError::Unavailable(format!("/dev/video{}: cannot start the stream: {e}", config.index)))?;
    Ok(camera)
}
