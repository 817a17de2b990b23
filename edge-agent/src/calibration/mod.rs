//! Per-camera calibration: named zones, the pixel ↔ floor-millimetre
//! homography, the reference "clean" pictures and the resolution they were
//! all made at. One TOML file per camera (see `calibration/README.md`),
//! validated as a whole on load so a technician sees every mistake at once.

pub mod chessboard;
pub mod homography;
pub mod preview;

pub use chessboard::Chessboard;
pub use homography::Homography;

use crate::config::{ConfigError, ConfigIssue};
use crate::waste::WasteCategory;
use geo::Validation;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file as written on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationFile {
    /// The camera id this calibration belongs to (as in the agent config).
    pub camera: String,
    /// `[width, height]` of the frames it was made on; the camera must deliver exactly this.
    pub resolution: [u32; 2],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homography: Option<HomographyRecord>,
    /// Reference pictures of the scene when clean (newest last).
    #[serde(default, rename = "reference", skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferenceImage>,
    #[serde(default, rename = "zone", skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<Zone>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomographyRecord {
    /// Row-major 3x3 matrix mapping a pixel (x right, y down) to floor millimetres.
    pub px_to_mm: [[f64; 3]; 3],
    /// How it was measured, e.g. `chessboard 9x6@25mm` or `4 points`.
    #[serde(default)]
    pub method: String,
    /// Root-mean-square reprojection error of the measured points, in pixels.
    #[serde(default)]
    pub rms_px: f64,
    #[serde(default)]
    pub computed_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceImage {
    /// JPEG or PNG, relative to the calibration file's folder.
    pub image: PathBuf,
    /// RFC 3339 time the picture was taken.
    pub taken_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    /// Corners in pixels, in order around the zone.
    pub polygon: Vec<[f64; 2]>,
    /// The waste a bin takes (bins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<WasteCategory>,
    /// The hazardous-waste categories a storage zone may hold (`["HW08", "HW49"]`;
    /// storage zones only; empty: any category).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    /// Where a container stands to be checked in.
    Intake,
    /// Floor watched for spills.
    Floor,
    /// A spill tray or bunded area under containers (watched for spills).
    SpillTray,
    /// Where a container stands; leaks are attributed to the nearest one.
    Container,
    /// A storage zone of a pod (GB 18597-2023 6.1.2): containers of the
    /// categories in its `allow` list stand there.
    Storage,
    /// A household-waste bin (sorting stations), with its `category`.
    Bin,
    /// Where a fire extinguisher must hang.
    Extinguisher,
    /// Where a warning sign must be.
    Sign,
    /// Anything else worth naming.
    Other,
}

impl ZoneKind {
    /// Zones on the floor plane, where the homography's millimetres are true.
    pub fn on_floor(self) -> bool {
        matches!(self, Self::Intake | Self::Floor | Self::SpillTray | Self::Container | Self::Storage)
    }

    pub fn watched_for_spills(self) -> bool {
        matches!(self, Self::Floor | Self::SpillTray)
    }
}

/// A validated calibration, ready for tasks.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub file: CalibrationFile,
    pub path: PathBuf,
    /// sha256 of the file's text: events name the calibration that judged them.
    pub sha256: String,
    pub homography: Option<Homography>,
}

impl Calibration {
    /// Reads, parses and validates a calibration file; reference pictures
    /// must exist and match the resolution.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| single(path, format!("cannot read the calibration file ({e}); create it with `edge-agent calibrate`")))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let deserializer = toml::Deserializer::parse(text).map_err(|e| single(path, e.message().to_string()))?;
        let file: CalibrationFile = serde_path_to_error::deserialize(deserializer).map_err(|e| ConfigError {
            path: path.into(),
            issues: vec![ConfigIssue { key: e.path().to_string(), message: e.inner().message().to_string() }],
        })?;
        let mut issues = Vec::new();
        let homography = validate(&file, path, &mut issues);
        if !issues.is_empty() {
            return Err(ConfigError { path: path.into(), issues });
        }
        Ok(Self { file, path: path.into(), sha256: crate::inference::manifest::sha256_hex(text.as_bytes()), homography })
    }

    pub fn width(&self) -> u32 {
        self.file.resolution[0]
    }

    pub fn height(&self) -> u32 {
        self.file.resolution[1]
    }

    /// Share of the frame inside intake zones, where containers come and go by design.
    pub fn intake_share(&self) -> f64 {
        use geo::Area;
        let frame = f64::from(self.width()) * f64::from(self.height());
        let area: f64 = self.file.zones.iter().filter(|z| z.kind == ZoneKind::Intake).map(|z| to_geo(&z.polygon).unsigned_area()).sum();
        if frame > 0.0 { (area / frame).min(1.0) } else { 0.0 }
    }

    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.file.zones.iter().find(|z| z.name == name)
    }

    /// The newest reference picture's path, resolved against the file's folder.
    pub fn reference_path(&self) -> Option<PathBuf> {
        self.file.references.last().map(|r| resolve(&self.path, &r.image))
    }

    /// Decodes the newest reference picture.
    pub fn reference_image(&self) -> Result<RgbImage, String> {
        let path = self.reference_path().ok_or_else(|| {
            format!("{} has no reference picture: take one with `edge-agent calibrate --calibration {} --reference FRAME`", self.path.display(), self.path.display())
        })?;
        let image = image::open(&path).map_err(|e| format!("cannot read the reference picture {} ({e})", path.display()))?.to_rgb8();
        if image.dimensions() != (self.width(), self.height()) {
            return Err(format!(
                "the reference picture {} is {}x{}, the calibration is for {}x{}: take the reference again",
                path.display(),
                image.width(),
                image.height(),
                self.width(),
                self.height()
            ));
        }
        Ok(image)
    }

    /// A frame of another size cannot use these zones or this homography.
    pub fn check_frame_size(&self, width: u32, height: u32) -> Result<(), String> {
        if (width, height) == (self.width(), self.height()) {
            return Ok(());
        }
        Err(format!(
            "camera `{}` delivers {width}x{height} frames but its calibration {} was made at {}x{}: set the camera back to {}x{} or recalibrate with `edge-agent calibrate`",
            self.file.camera,
            self.path.display(),
            self.width(),
            self.height(),
            self.width(),
            self.height()
        ))
    }

    pub fn write(file: &CalibrationFile, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(file)?;
        let header = "# Camera calibration, written by `edge-agent calibrate`. Zones may be edited by hand;\n# run `edge-agent calibrate --calibration THIS_FILE` afterwards: it checks the file and redraws the preview.\n\n";
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, format!("{header}{text}")).map_err(|e| anyhow::anyhow!("cannot write {} ({e})", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("cannot write {} ({e})", path.display()))?;
        Ok(())
    }
}

/// A path in a calibration file is relative to that file's folder.
pub fn resolve(file: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.into();
    }
    file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(p)
}

fn single(path: &Path, message: String) -> ConfigError {
    ConfigError { path: path.into(), issues: vec![ConfigIssue { key: String::new(), message }] }
}

fn validate(file: &CalibrationFile, path: &Path, issues: &mut Vec<ConfigIssue>) -> Option<Homography> {
    let mut add = |key: String, message: String| issues.push(ConfigIssue { key, message });
    let [w, h] = file.resolution;
    if file.camera.is_empty() {
        add("camera".into(), "is empty: give the camera id from the agent config".into());
    }
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        add("resolution".into(), format!("{w}x{h} is not a camera resolution: use the frame size, e.g. [1920, 1080]"));
        return None;
    }
    let homography = file.homography.as_ref().and_then(|record| match Homography::from_rows(record.px_to_mm) {
        Ok(hm) => Some(hm),
        Err(e) => {
            add("homography.px_to_mm".into(), format!("{e}; recompute it with `edge-agent calibrate`"));
            None
        }
    });
    let mut names = std::collections::HashSet::new();
    for (i, zone) in file.zones.iter().enumerate() {
        let key = format!("zone[{i}]");
        if zone.name.is_empty() || !names.insert(zone.name.as_str()) {
            add(format!("{key}.name"), format!("`{}` is empty or used twice: every zone needs its own name", zone.name));
        }
        match (zone.kind, zone.category) {
            (ZoneKind::Bin, None) => add(format!("{key}.category"), format!("bin `{}` needs the waste it takes: kitchen, recyclable, hazardous or other", zone.name)),
            (kind, Some(_)) if kind != ZoneKind::Bin => add(format!("{key}.category"), format!("only bins take a category; remove it from `{}`", zone.name)),
            _ => {}
        }
        if !zone.allow.is_empty() && zone.kind != ZoneKind::Storage {
            add(format!("{key}.allow"), format!("only storage zones take `allow`; remove it from `{}` or make it kind = \"storage\"", zone.name));
        }
        for (j, category) in zone.allow.iter().enumerate() {
            if !crate::task::storage::segregation::is_hw_category(category) {
                add(format!("{key}.allow[{j}]"), format!("`{category}` is not a hazardous-waste category: write HW01-HW50 as in the 2021 catalogue, e.g. \"HW08\""));
            }
        }
        if let Err(message) = check_polygon(&zone.polygon, w, h) {
            add(format!("{key}.polygon"), format!("zone `{}`: {message}", zone.name));
            continue;
        }
        if let (Some(hm), true) = (homography, zone.kind.on_floor()) {
            if zone.polygon.iter().any(|p| hm.to_floor(*p).is_none()) {
                add(format!("{key}.polygon"), format!("zone `{}` reaches beyond the floor's horizon under the homography: recalibrate or redraw the zone", zone.name));
            }
        }
    }
    for (i, reference) in file.references.iter().enumerate() {
        let key = format!("reference[{i}]");
        if humantime::parse_rfc3339_weak(&reference.taken_at).is_err() {
            add(format!("{key}.taken_at"), format!("`{}` is not a time: use RFC 3339, e.g. 2026-11-29T10:15:00Z", reference.taken_at));
        }
        let image = resolve(path, &reference.image);
        match image::image_dimensions(&image) {
            Ok(size) if size == (w, h) => {}
            Ok((iw, ih)) => add(format!("{key}.image"), format!("{} is {iw}x{ih} but the calibration is for {w}x{h}: take the reference again at the camera's resolution", image.display())),
            Err(e) => add(format!("{key}.image"), format!("cannot read {} ({e}): take a reference with `edge-agent calibrate --reference FRAME`", image.display())),
        }
    }
    homography
}

/// A zone must be a simple polygon inside the frame.
fn check_polygon(points: &[[f64; 2]], w: u32, h: u32) -> Result<(), String> {
    if points.len() < 3 {
        return Err(format!("has {} corners; a zone needs at least 3", points.len()));
    }
    for (i, [x, y]) in points.iter().enumerate() {
        if !(x.is_finite() && y.is_finite()) {
            return Err(format!("corner {i} is not a number"));
        }
        if *x < 0.0 || *y < 0.0 || *x > f64::from(w) || *y > f64::from(h) {
            return Err(format!("corner {i} ({x}, {y}) lies outside the {w}x{h} frame"));
        }
    }
    let polygon = to_geo(points);
    if let Err(e) = polygon.check_validation() {
        return Err(format!("is not a simple polygon ({e}): list its corners once each, in order around the zone, without crossing edges"));
    }
    Ok(())
}

pub fn to_geo(points: &[[f64; 2]]) -> geo::Polygon<f64> {
    geo::Polygon::new(geo::LineString::from(points.iter().map(|[x, y]| (*x, *y)).collect::<Vec<_>>()), vec![])
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
camera = "pod-floor"
resolution = [640, 480]

[homography]
px_to_mm = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
method = "test"

[[zone]]
name = "floor"
kind = "floor"
polygon = [[0, 200], [640, 200], [640, 480], [0, 480]]

[[zone]]
name = "green-bin"
kind = "bin"
category = "kitchen"
polygon = [[10, 10], [100, 10], [100, 100]]
"#;

    fn parse(text: &str) -> Result<Calibration, ConfigError> {
        Calibration::parse(text, Path::new("/tmp/cam.toml"))
    }

    fn messages(text: &str) -> String {
        parse(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn a_good_file_loads_with_its_zones_and_homography() {
        let c = parse(GOOD).expect("valid");
        assert_eq!((c.width(), c.height()), (640, 480));
        assert_eq!(c.zone("green-bin").and_then(|z| z.category), Some(WasteCategory::Kitchen));
        assert_eq!(c.homography.and_then(|h| h.to_floor([10.0, 20.0])), Some([20.0, 40.0]));
        assert_eq!(c.sha256.len(), 64);
        assert!(c.check_frame_size(640, 480).is_ok());
        let e = c.check_frame_size(1280, 720).unwrap_err();
        assert!(e.contains("1280x720") && e.contains("640x480") && e.contains("recalibrate"), "{e}");
    }

    #[test]
    fn a_self_intersecting_zone_is_refused_with_the_fix() {
        let text = GOOD.replace("[[0, 200], [640, 200], [640, 480], [0, 480]]", "[[0, 200], [640, 480], [640, 200], [0, 480]]");
        let m = messages(&text);
        assert!(m.contains("zone[0].polygon") && m.contains("not a simple polygon") && m.contains("in order around the zone"), "{m}");
    }

    #[test]
    fn a_zone_outside_the_frame_and_a_bin_without_category_are_both_reported() {
        let text = GOOD.replace("[640, 480], [0, 480]]", "[700, 480], [0, 480]]").replace("category = \"kitchen\"\n", "");
        let m = messages(&text);
        assert!(m.contains("outside the 640x480 frame"), "{m}");
        assert!(m.contains("zone[1].category") && m.contains("kitchen, recyclable"), "{m}");
    }

    #[test]
    fn a_singular_homography_a_bad_time_and_a_missing_reference_are_reported() {
        let text = GOOD.replace("[0.0, 2.0, 0.0]", "[4.0, 0.0, 0.0]")
            + "\n[[reference]]\nimage = \"nowhere.jpg\"\ntaken_at = \"yesterday\"\n";
        let m = messages(&text);
        assert!(m.contains("homography.px_to_mm") && m.contains("edge-agent calibrate"), "{m}");
        assert!(m.contains("reference[0].taken_at") && m.contains("RFC 3339"), "{m}");
        assert!(m.contains("reference[0].image") && m.contains("nowhere.jpg"), "{m}");
    }

    #[test]
    fn unknown_keys_and_zone_kinds_are_named() {
        let m = messages(&GOOD.replace("kind = \"floor\"", "kind = \"ceiling\""));
        assert!(m.contains("zone[0].kind") || m.contains("zone"), "{m}");
        assert!(m.contains("ceiling"), "{m}");
        let m = messages(&format!("{GOOD}\nlens = 3\n"));
        assert!(m.contains("lens"), "{m}");
    }

    #[test]
    fn a_reference_of_another_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        RgbImage::new(320, 240).save(dir.path().join("ref.png")).unwrap();
        let text = format!("{GOOD}\n[[reference]]\nimage = \"ref.png\"\ntaken_at = \"2026-11-29T10:15:00Z\"\n");
        let e = Calibration::parse(&text, &dir.path().join("cam.toml")).expect_err("wrong size").to_string();
        assert!(e.contains("320x240") && e.contains("640x480"), "{e}");
        RgbImage::new(640, 480).save(dir.path().join("ref.png")).unwrap();
        let c = Calibration::parse(&text, &dir.path().join("cam.toml")).expect("right size");
        assert_eq!(c.reference_image().unwrap().dimensions(), (640, 480));
    }

    #[test]
    fn a_written_file_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let c = parse(GOOD).unwrap();
        let path = dir.path().join("cam.toml");
        Calibration::write(&c.file, &path).unwrap();
        let back = Calibration::load(&path).expect("reads back");
        assert_eq!(back.file.zones.len(), 2);
        assert_eq!(back.homography, c.homography);
    }
}
