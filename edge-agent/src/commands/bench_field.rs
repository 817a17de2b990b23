//! `edge-agent bench-field`: the agent as a service sees it. Starts this same
//! binary as `run` with one camera, then with three, every camera running the
//! sorting and intake tasks (so every model is loaded: EfficientNet-Lite0,
//! U²-Net-p, PP-OCR det / rec / cls) on seeded station footage at `--fps`, and
//! measures, from outside the process like systemd would:
//! - start-up time to READY=1 (a real sd_notify socket);
//! - resident memory (VmRSS, and its peak VmHWM) after the warm-up;
//! - CPU time per camera over the measuring window (utime + stime).
//!
//! The one-camera run is the baseline for the three-camera ratios and for a
//! third run with ONNX Runtime's CPU arena allocator on.

use crate::calibration::{Calibration, ReferenceImage, Zone, ZoneKind};
use crate::cli::BenchFieldArgs;
use crate::simulate::station::{self, Drop, StationScene};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
struct Run {
    cameras: usize,
    /// ONNX Runtime's CPU arena allocator on (`inference.cpu_arena`).
    cpu_arena: bool,
    ready_s: f64,
    rss_mb: f64,
    peak_rss_mb: f64,
    cpu_percent_per_camera: f64,
    fps_per_camera: f64,
}

pub fn bench_field(args: &BenchFieldArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let frames = render_footage(dir.path(), args.fps)?;
    let ticks = clock_ticks();
    let mut runs = Vec::new();
    // The shipped settings with one and three cameras, then one camera with
    // ONNX Runtime's CPU arena on: what the default (arena off) saves and costs.
    for (cameras, cpu_arena) in [(1usize, false), (3, false), (1, true)] {
        let run = measure(dir.path(), &frames, cameras, cpu_arena, args, ticks)?;
        eprintln!(
            "{} camera(s), cpu arena {}: READY after {:.2} s, RSS {:.0} MB (peak {:.0} MB), CPU {:.1} % of one core per camera at {:.1} fps",
            run.cameras,
            if cpu_arena { "on" } else { "off" },
            run.ready_s,
            run.rss_mb,
            run.peak_rss_mb,
            run.cpu_percent_per_camera,
            run.fps_per_camera
        );
        runs.push(run);
    }
    let (one, three, arena) = (&runs[0], &runs[1], &runs[2]);
    let report = serde_json::json!({
        "fps": args.fps,
        "window_s": args.seconds,
        "runs": runs,
        "three_vs_one": {
            "rss": round2(three.rss_mb / one.rss_mb),
            "ready_time": round2(three.ready_s / one.ready_s),
            "cpu_per_camera": round2(three.cpu_percent_per_camera / one.cpu_percent_per_camera),
        },
        "arena_on_vs_off": {
            "rss": round2(arena.rss_mb / one.rss_mb),
            "peak_rss": round2(arena.peak_rss_mb / one.peak_rss_mb),
            "cpu_per_camera": round2(arena.cpu_percent_per_camera / one.cpu_percent_per_camera),
        },
        "environment": "MALLOC_ARENA_MAX=2, as systemd/edge-agent.service sets it",
        "rss_target_one_camera_mb": 250,
        "rss_target_met": one.rss_mb < 250.0,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// 20 s of a four-bin station with items dropped in, as JPEGs and a list file.
fn render_footage(dir: &Path, fps: f64) -> anyhow::Result<std::path::PathBuf> {
    let scene = StationScene::new(1280, 720, 11);
    let photos = station::item_photos().map_err(|e| anyhow::anyhow!("{e}"))?;
    let drops: Vec<Drop> = (0..6)
        .map(|i| Drop {
            item: std::sync::Arc::new(photos[(i * 5) % photos.len()].clone()),
            bin: i % 4,
            start_s: 1.0 + 3.0 * i as f64,
            hold_s: 1.2,
            nuisance: false,
        })
        .collect();
    let frames_dir = dir.join("frames");
    std::fs::create_dir_all(&frames_dir)?;
    let mut names = Vec::new();
    for i in 0..(20.0 * fps) as usize {
        let (img, _) = scene.frame(&drops, i as f64 / fps);
        let path = frames_dir.join(format!("f{i:04}.jpg"));
        img.save(&path)?;
        names.push(path.display().to_string());
    }
    // The empty station: the intake task's reference picture of its spot.
    scene.frame(&[], 0.0).0.save(dir.join("empty.jpg"))?;
    for camera in ["cam-1", "cam-2", "cam-3"] {
        let mut cal = scene.calibration(camera);
        cal.references.push(ReferenceImage { image: "empty.jpg".into(), taken_at: "2026-11-29T08:00:00Z".into() });
        // The intake task watches the top-left corner (no bin there): its OCR models load too.
        cal.zones.push(Zone { name: "intake-spot".into(), kind: ZoneKind::Intake, polygon: vec![[10.0, 10.0], [250.0, 10.0], [250.0, 150.0], [10.0, 150.0]], category: None, allow: Vec::new() });
        Calibration::write(&cal, &dir.join(format!("{camera}.toml")))?;
    }
    let list = dir.join("frames.txt");
    std::fs::write(&list, names.join("\n"))?;
    Ok(list)
}

fn measure(dir: &Path, frames: &Path, cameras: usize, cpu_arena: bool, args: &BenchFieldArgs, ticks: f64) -> anyhow::Result<Run> {
    let run_dir = dir.join(format!("run-{cameras}-{cpu_arena}"));
    std::fs::create_dir_all(&run_dir)?;
    let web = free_port()?;
    let mut config = format!(
        "site = \"bench\"\ndevice_id = \"bench-field\"\nmodels_dir = \"{}\"\n[inference]\nintra_threads = 1\ncpu_arena = {cpu_arena}\n\
         [[tasks]]\nid = \"sorting\"\nkind = \"sorting\"\n\
         [[tasks]]\nid = \"intake\"\nkind = \"intake\"\nstill_for = \"1s\"\nfacility_code = \"BENCH-01\"\nfacility_type = \"贮存库\"\n",
        std::fs::canonicalize(&args.models.models_dir)
            .map_err(|e| anyhow::anyhow!("models folder {}: {e}; pass --models-dir", args.models.models_dir.display()))?
            .display()
    );
    for c in 1..=cameras {
        config += &format!(
            "[[cameras]]\nid = \"cam-{c}\"\nsource = {{ kind = \"replay\", path = \"{}\", fps = {} }}\ncalibration = \"{}\"\ntasks = [\"sorting\", \"intake\"]\n",
            frames.display(),
            args.fps,
            dir.join(format!("cam-{c}.toml")).display()
        );
    }
    config += &format!(
        "[mqtt]\nbroker = \"embedded\"\nembedded_listen = \"127.0.0.1:{}\"\n[storage]\ndir = \"{}\"\n[web]\nlisten = \"127.0.0.1:{web}\"\n",
        free_port()?,
        run_dir.join("state").display()
    );
    let config_path = run_dir.join("agent.toml");
    std::fs::write(&config_path, config)?;
    crate::config::Config::load(&config_path).map_err(|e| anyhow::anyhow!("the bench config is invalid: {e}"))?;

    let socket_path = run_dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path)?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let log = std::fs::File::create(run_dir.join("agent.log"))?;
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["run", "--config"])
        .arg(&config_path)
        .arg("--output")
        .arg(run_dir.join("results.jsonl"))
        .env("NOTIFY_SOCKET", &socket_path)
        // The service's environment (systemd/edge-agent.service): fewer malloc arenas for many threads.
        .env("MALLOC_ARENA_MAX", "2")
        .env("EDGE_AGENT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let pid = child.id();
    let outcome = (|| -> anyhow::Result<Run> {
        let mut buf = [0u8; 4096];
        let ready_s = loop {
            if let Ok(n) = socket.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1")
            {
                break started.elapsed().as_secs_f64();
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the agent exited ({status}) before READY; see {}", run_dir.join("agent.log").display());
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "no READY=1 within 300 s");
        };
        // Warm-up: background models settle, allocator pools fill.
        std::thread::sleep(Duration::from_secs(args.warmup));
        let (cpu0, frames0, t0) = (cpu_seconds(pid, ticks)?, processed(web)?, Instant::now());
        std::thread::sleep(Duration::from_secs(args.seconds));
        let (cpu1, frames1, elapsed) = (cpu_seconds(pid, ticks)?, processed(web)?, t0.elapsed().as_secs_f64());
        let (rss_mb, peak_rss_mb) = memory_mb(pid)?;
        Ok(Run {
            cameras,
            cpu_arena,
            ready_s: round2(ready_s),
            rss_mb: round2(rss_mb),
            peak_rss_mb: round2(peak_rss_mb),
            cpu_percent_per_camera: round2((cpu1 - cpu0) / elapsed * 100.0 / cameras as f64),
            fps_per_camera: round2((frames1 - frames0) / elapsed / cameras as f64),
        })
    })();
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
    outcome
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Clock ticks per second for /proc/<pid>/stat (100 on every Linux we run on).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32, ticks: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    Ok((utime + stime) / ticks)
}

/// (VmRSS, VmHWM) in MB.
fn memory_mb(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| {
        status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    Ok((kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0))
}

/// Frames processed by all cameras, from the agent's own /metrics.
fn processed(web: u16) -> anyhow::Result<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("edge_agent_camera_frames_processed_total"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum())
}
