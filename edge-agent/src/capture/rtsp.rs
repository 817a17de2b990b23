//! IP cameras over RTSP: retina (pure Rust RTSP/RTP) for the stream and
//! openh264 for H.264 decoding, so the box needs no GStreamer or FFmpeg.

use super::{CaptureError, Captured, FrameSource};
use crate::config::{RtspConfig, RtspTransport};
use futures::StreamExt;
use image::RgbImage;
use openh264::formats::YUVSource;
use retina::client::{Credentials, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport, UdpTransportOptions};
use retina::codec::{CodecItem, ParametersRef};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// No frame for this long means the camera is gone: reconnect.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RtspSource {
    config: RtspConfig,
    runtime: Option<tokio::runtime::Runtime>,
    stream: Option<Stream>,
}

struct Stream {
    demuxed: retina::client::Demuxed,
    video: usize,
    decoder: openh264::decoder::Decoder,
    /// SPS/PPS (Annex B) to prepend when the decoder needs them again.
    parameter_sets: Vec<u8>,
    needs_parameters: bool,
}

impl RtspSource {
    pub fn new(config: RtspConfig) -> Self {
        Self { config, runtime: None, stream: None }
    }

    async fn connect(config: &RtspConfig) -> Result<Stream, CaptureError> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| CaptureError::Unavailable(format!("{}: {what}: {e}", config.url));
        let url = url::Url::parse(&config.url).map_err(|e| CaptureError::Fatal(format!("bad RTSP URL {}: {e}", config.url)))?;
        let creds = config.username.as_ref().map(|u| Credentials {
            username: u.clone(),
            password: config.password.clone().unwrap_or_default(),
        });
        let options = SessionOptions::default().creds(creds).user_agent(format!("edge-agent/{}", env!("CARGO_PKG_VERSION")));
        let mut session = retina::client::Session::describe(url, options).await.map_err(|e| unavailable("DESCRIBE failed", &e))?;
        let video = session
            .streams()
            .iter()
            .position(|s| s.media() == "video" && s.encoding_name().eq_ignore_ascii_case("h264"))
            .ok_or_else(|| CaptureError::Fatal(format!("{}: the camera offers no H.264 video stream; set it to H.264", config.url)))?;
        let transport = match config.transport {
            RtspTransport::Tcp => Transport::Tcp(TcpTransportOptions::default()),
            RtspTransport::Udp => Transport::Udp(UdpTransportOptions::default()),
        };
        session
            .setup(video, SetupOptions::default().transport(transport))
            .await
            .map_err(|e| unavailable("SETUP failed", &e))?;
        let parameter_sets = match session.streams()[video].parameters() {
            Some(ParametersRef::Video(v)) => avcc_to_annex_b(v.extra_data()).unwrap_or_default(),
            _ => Vec::new(),
        };
        let demuxed = session
            .play(PlayOptions::default())
            .await
            .map_err(|e| unavailable("PLAY failed", &e))?
            .demuxed()
            .map_err(|e| unavailable("demuxing failed", &e))?;
        let decoder = openh264::decoder::Decoder::new().map_err(|e| CaptureError::Fatal(format!("H.264 decoder: {e}")))?;
        Ok(Stream { demuxed, video, decoder, parameter_sets, needs_parameters: true })
    }
}

impl RtspSource {
    /// Dropping a retina session spawns its TEARDOWN on the current runtime,
    /// so it must happen inside ours.
    fn close_stream(&mut self) {
        if let (Some(rt), Some(stream)) = (&self.runtime, self.stream.take()) {
            let _guard = rt.enter();
            drop(stream);
        }
    }
}

impl Drop for RtspSource {
    fn drop(&mut self) {
        self.close_stream();
    }
}

impl FrameSource for RtspSource {
    fn describe(&self) -> String {
        format!("rtsp {}", self.config.url)
    }

    fn open(&mut self) -> Result<(), CaptureError> {
        self.close_stream();
        if self.runtime.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CaptureError::Fatal(format!("cannot start the RTSP runtime: {e}")))?;
            self.runtime = Some(rt);
        }
        let rt = self.runtime.as_ref().expect("set above");
        let stream = rt.block_on(async {
            tokio::time::timeout(FRAME_TIMEOUT, Self::connect(&self.config))
                .await
                .map_err(|_| CaptureError::Unavailable(format!("{}: no answer within {FRAME_TIMEOUT:?}", self.config.url)))?
        })?;
        self.stream = Some(stream);
        Ok(())
    }

    fn next_frame(&mut self, stop: &AtomicBool) -> Result<Captured, CaptureError> {
        let rt = self.runtime.as_ref().ok_or_else(|| CaptureError::Unavailable("not connected".into()))?;
        let stream = self.stream.as_mut().ok_or_else(|| CaptureError::Unavailable("not connected".into()))?;
        let url = &self.config.url;
        // Packets that never decode into a picture count as no frame at all.
        let deadline = std::time::Instant::now() + FRAME_TIMEOUT;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(CaptureError::Finished);
            }
            if std::time::Instant::now() > deadline {
                return Err(CaptureError::Unavailable(format!("{url}: no decodable picture for {FRAME_TIMEOUT:?}")));
            }
            let item = rt
                .block_on(async { tokio::time::timeout(FRAME_TIMEOUT, stream.demuxed.next()).await })
                .map_err(|_| CaptureError::Unavailable(format!("{url}: no frame for {FRAME_TIMEOUT:?}")))?;
            let frame = match item {
                None => return Err(CaptureError::Unavailable(format!("{url}: the camera ended the stream"))),
                Some(Err(e)) => return Err(CaptureError::Unavailable(format!("{url}: {e}"))),
                Some(Ok(CodecItem::VideoFrame(f))) if f.stream_id() == stream.video => f,
                Some(Ok(_)) => continue,
            };
            if frame.has_new_parameters() {
                if let Some(ParametersRef::Video(v)) = stream.demuxed.streams()[stream.video].parameters() {
                    stream.parameter_sets = avcc_to_annex_b(v.extra_data()).unwrap_or_default();
                    stream.needs_parameters = true;
                }
            }
            let mut annex_b = Vec::with_capacity(frame.data().len() + stream.parameter_sets.len() + 16);
            if stream.needs_parameters {
                annex_b.extend_from_slice(&stream.parameter_sets);
            }
            length_prefixed_to_annex_b(frame.data(), &mut annex_b)
                .map_err(|e| CaptureError::CorruptFrame(format!("{url}: {e}")))?;
            match stream.decoder.decode(&annex_b) {
                Ok(Some(yuv)) => {
                    stream.needs_parameters = false;
                    let (w, h) = yuv.dimensions();
                    let mut rgb = vec![0u8; w * h * 3];
                    yuv.write_rgb8(&mut rgb);
                    let image = RgbImage::from_raw(w as u32, h as u32, rgb)
                        .ok_or_else(|| CaptureError::CorruptFrame(format!("{url}: decoded size mismatch")))?;
                    return Ok(Captured { image, origin: url.clone() });
                }
                // The decoder wants more data (e.g. waiting for a key frame).
                Ok(None) => continue,
                Err(e) => return Err(CaptureError::CorruptFrame(format!("{url}: H.264 decode: {e}"))),
            }
        }
    }
}

/// SPS and PPS from an `avcC` record, as Annex B NAL units.
pub fn avcc_to_annex_b(avcc: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut pos = 5usize;
    let mut read_sets = |pos: &mut usize, count: usize| -> Result<(), String> {
        for _ in 0..count {
            let len = avcc.get(*pos..*pos + 2).ok_or("avcC truncated")?;
            let len = u16::from_be_bytes([len[0], len[1]]) as usize;
            let nal = avcc.get(*pos + 2..*pos + 2 + len).ok_or("avcC truncated")?;
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
            *pos += 2 + len;
        }
        Ok(())
    };
    let sps = *avcc.get(pos).ok_or("avcC truncated")? as usize & 0x1f;
    pos += 1;
    read_sets(&mut pos, sps)?;
    let pps = *avcc.get(pos).ok_or("avcC truncated")? as usize;
    pos += 1;
    read_sets(&mut pos, pps)?;
    Ok(out)
}

/// Converts 4-byte length-prefixed NAL units (what retina hands out) to Annex B.
pub fn length_prefixed_to_annex_b(mut data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    while !data.is_empty() {
        let len = data.get(..4).ok_or("NAL length prefix truncated")?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let nal = data.get(4..4 + len).ok_or("NAL unit truncated")?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        data = &data[4 + len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_parameter_sets_become_annex_b() {
        // version, profile, compat, level, length size, 1 SPS (3 bytes), 1 PPS (2 bytes)
        let avcc = [1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9];
        assert_eq!(avcc_to_annex_b(&avcc).unwrap(), vec![0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 9]);
        assert!(avcc_to_annex_b(&avcc[..9]).is_err());
    }

    #[test]
    fn length_prefixed_units_become_annex_b_and_truncation_is_an_error() {
        let mut out = Vec::new();
        length_prefixed_to_annex_b(&[0, 0, 0, 2, 0x65, 7, 0, 0, 0, 1, 0x41], &mut out).unwrap();
        assert_eq!(out, vec![0, 0, 0, 1, 0x65, 7, 0, 0, 0, 1, 0x41]);
        assert!(length_prefixed_to_annex_b(&[0, 0, 0, 9, 1], &mut Vec::new()).is_err());
    }
}
