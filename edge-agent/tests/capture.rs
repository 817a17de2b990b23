//! Frame sources: replay pacing and corrupt files, camera buffer decoding with
//! real MJPEG and YUYV bytes, and RTSP against a local GStreamer RTSP server,
//! including a camera that vanishes and comes back.

mod common;

use common::*;
use edge_agent::backoff::Backoff;
use edge_agent::capture::replay::ReplaySource;
use edge_agent::capture::slot::Take;
use edge_agent::capture::{CaptureError, CameraState, FrameSource, spawn_camera};
use edge_agent::config::ReplayConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn replay(path: &std::path::Path, fps: f64, looping: bool) -> ReplaySource {
    ReplaySource::new(ReplayConfig { path: path.to_path_buf(), fps, looping })
}

#[test]
fn replay_plays_a_folder_in_name_order_then_finishes() {
    let stop = AtomicBool::new(false);
    let mut src = replay(&repo_root().join("demo/frames"), 100.0, false);
    src.open().unwrap();
    let mut origins = Vec::new();
    loop {
        match src.next_frame(&stop) {
            Ok(c) => origins.push(c.origin),
            Err(CaptureError::Finished) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(origins.len(), 4);
    assert!(origins[0].ends_with("01-fruits.jpg") && origins[3].ends_with("04-stuff.jpg"), "{origins:?}");
}

#[test]
fn a_corrupt_picture_is_skipped_and_counted_and_the_rest_still_play() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo_root().join("demo/frames/01-fruits.jpg"), dir.path().join("a.jpg")).unwrap();
    let good = std::fs::read(repo_root().join("demo/frames/02-apple.jpg")).unwrap();
    std::fs::write(dir.path().join("b.jpg"), &good[..good.len() / 4]).unwrap(); // truncated
    std::fs::write(dir.path().join("c.jpg"), b"not a jpeg at all").unwrap();
    std::fs::write(dir.path().join("d.jpg"), &good).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let camera = spawn_camera("replay", Box::new(replay(dir.path(), 50.0, false)), stop.clone(), Backoff::default());
    let mut seen = Vec::new();
    loop {
        match camera.latest.take(Duration::from_secs(5)) {
            Take::Frame(f) => seen.push(f.origin.to_string()),
            Take::Closed => break,
            Take::TimedOut => panic!("replay stalled"),
        }
    }
    let stats = camera.stats.clone();
    camera.join();
    assert_eq!(stats.corrupt.load(Ordering::Relaxed), 2);
    assert_eq!(stats.captured.load(Ordering::Relaxed), 2);
    assert_eq!(stats.state(), Some(CameraState::Finished));
    assert!(seen.iter().any(|o| o.ends_with("d.jpg")), "{seen:?}");
}

#[test]
fn replay_keeps_its_frame_rate() {
    let stop = AtomicBool::new(false);
    let mut src = replay(&repo_root().join("demo/frames"), 20.0, true);
    src.open().unwrap();
    let started = Instant::now();
    for _ in 0..11 {
        src.next_frame(&stop).unwrap();
    }
    // 11 frames at 20 fps: the first is immediate, ten intervals of 50 ms follow.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(480), "{elapsed:?}");
}

#[test]
fn an_empty_replay_folder_stops_the_camera_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let camera = spawn_camera("empty", Box::new(replay(dir.path(), 5.0, true)), stop, Backoff::default());
    assert!(matches!(camera.latest.take(Duration::from_secs(5)), Take::Closed));
    match camera.stats.state() {
        Some(CameraState::Failed { error }) => assert!(error.contains("no JPEG or PNG pictures"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[cfg(feature = "camera")]
mod usb_decoding {
    use super::*;
    use edge_agent::capture::usb::decode_buffer;
    use nokhwa::utils::{FrameFormat, Resolution};

    /// Four vertical colour bars.
    fn bars(w: u32, h: u32) -> image::RgbImage {
        let colours = [[220, 30, 30], [30, 200, 40], [40, 40, 210], [240, 240, 240]];
        image::RgbImage::from_fn(w, h, |x, _| image::Rgb(colours[(x * 4 / w) as usize]))
    }

    fn close(a: [u8; 3], b: [u8; 3], tolerance: i32) -> bool {
        a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() <= tolerance)
    }

    #[test]
    fn mjpeg_frames_decode_to_the_right_colours() {
        let img = bars(64, 32);
        let buffer = nokhwa::Buffer::new(Resolution::new(64, 32), &jpeg_bytes(&img, 95), FrameFormat::MJPEG);
        let decoded = decode_buffer(&buffer).unwrap();
        assert_eq!(decoded.dimensions(), (64, 32));
        for x in [8, 24, 40, 56] {
            let (got, want) = (decoded.get_pixel(x, 16).0, img.get_pixel(x, 16).0);
            assert!(close(got, want, 12), "x={x}: {got:?} vs {want:?}");
        }
    }

    /// BT.601 limited-range RGB -> YUYV (4:2:2), as a UVC camera sends it.
    fn yuyv(img: &image::RgbImage) -> Vec<u8> {
        let yuv = |p: [u8; 3]| {
            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
            let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
            let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
            let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
            (y.round() as u8, u.round() as u8, v.round() as u8)
        };
        let mut out = Vec::new();
        for y in 0..img.height() {
            for x in (0..img.width()).step_by(2) {
                let (y0, u, v) = yuv(img.get_pixel(x, y).0);
                let (y1, _, _) = yuv(img.get_pixel(x + 1, y).0);
                out.extend_from_slice(&[y0, u, y1, v]);
            }
        }
        out
    }

    #[test]
    fn yuyv_frames_decode_to_the_right_colours() {
        let img = bars(64, 32);
        let buffer = nokhwa::Buffer::new(Resolution::new(64, 32), &yuyv(&img), FrameFormat::YUYV);
        let decoded = decode_buffer(&buffer).unwrap();
        for x in [8, 24, 40, 56] {
            let (got, want) = (decoded.get_pixel(x, 16).0, img.get_pixel(x, 16).0);
            assert!(close(got, want, 24), "x={x}: {got:?} vs {want:?}");
        }
    }

    #[test]
    fn short_or_corrupt_camera_buffers_are_errors_not_panics() {
        let short = nokhwa::Buffer::new(Resolution::new(64, 32), &[0u8; 100], FrameFormat::YUYV);
        assert!(matches!(decode_buffer(&short), Err(CaptureError::CorruptFrame(m)) if m.contains("expected 4096")));
        let junk = nokhwa::Buffer::new(Resolution::new(64, 32), &[0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3], FrameFormat::MJPEG);
        assert!(matches!(decode_buffer(&junk), Err(CaptureError::CorruptFrame(_))));
    }
}

#[cfg(feature = "rtsp")]
mod rtsp {
    use super::*;
    use edge_agent::capture::rtsp::RtspSource;
    use edge_agent::config::{RtspConfig, RtspTransport};
    use std::io::BufRead;
    use std::process::{Child, Command, Stdio};

    /// The GStreamer RTSP server from tests/fixtures, on a free port.
    struct Server {
        child: Child,
    }

    impl Server {
        fn start(port: u16) -> Server {
            // Debian's python3 has the GObject bindings; a pyenv python on PATH may not.
            let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rtsp_server.py");
            let mut child = Command::new(python)
                .args([script, &port.to_string(), "320", "240"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the RTSP test server");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            assert_eq!(
                line.trim(),
                "ready",
                "RTSP test server did not start: apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 \
                 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"
            );
            Server { child }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn config(port: u16) -> RtspConfig {
        RtspConfig { url: format!("rtsp://127.0.0.1:{port}/test"), username: None, password: None, transport: RtspTransport::Tcp }
    }

    #[test]
    fn h264_frames_arrive_decoded_from_a_real_rtsp_server() {
        let port = free_port();
        let _server = Server::start(port);
        let stop = AtomicBool::new(false);
        let mut src = RtspSource::new(config(port));
        src.open().unwrap();
        for _ in 0..5 {
            let frame = src.next_frame(&stop).unwrap();
            assert_eq!(frame.image.dimensions(), (320, 240));
            // The test pattern (a white ball on black) decoded to both.
            let bright = frame.image.pixels().filter(|p| p.0.iter().all(|c| *c > 200)).count();
            let dark = frame.image.pixels().filter(|p| p.0.iter().all(|c| *c < 40)).count();
            assert!(bright > 100 && dark > 10_000, "bright {bright}, dark {dark}");
        }
    }

    #[test]
    fn no_server_is_unavailable_not_a_crash() {
        let mut src = RtspSource::new(config(free_port()));
        assert!(matches!(src.open(), Err(CaptureError::Unavailable(_))));
    }

    #[test]
    fn a_camera_that_vanishes_is_reconnected_when_it_returns() {
        let port = free_port();
        let server = Server::start(port);
        let stop = Arc::new(AtomicBool::new(false));
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let camera = spawn_camera("ipcam", Box::new(RtspSource::new(config(port))), stop.clone(), backoff);
        assert!(matches!(camera.latest.take(Duration::from_secs(10)), Take::Frame(_)), "first frames");

        drop(server); // the camera goes away
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(camera.stats.state(), Some(CameraState::Reconnecting { .. })) {
            assert!(Instant::now() < deadline, "loss never noticed: {:?}", camera.stats.state());
            std::thread::sleep(Duration::from_millis(50));
        }

        let _server = Server::start(port); // and comes back
        let deadline = Instant::now() + Duration::from_secs(20);
        while camera.stats.state() != Some(CameraState::Streaming) {
            assert!(Instant::now() < deadline, "never reconnected: {:?}", camera.stats.state());
            std::thread::sleep(Duration::from_millis(50));
        }
        let before = camera.stats.captured.load(Ordering::Relaxed);
        let _ = camera.latest.take(Duration::from_millis(10));
        assert!(matches!(camera.latest.take(Duration::from_secs(10)), Take::Frame(_)), "frames after reconnect");
        assert!(camera.stats.captured.load(Ordering::Relaxed) > before);
        assert!(camera.stats.reconnects.load(Ordering::Relaxed) >= 1);
        stop.store(true, Ordering::Relaxed);
        camera.join();
    }
}
