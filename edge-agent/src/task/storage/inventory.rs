//! What stands in storage, frame after frame, as pure state: container groups
//! tracked by place, containers known by their QR code, and the findings
//! that follow from comparing them with the ledger and the zone rules:
//! missing, unregistered, segregation, unlabelled. A finding opens only
//! after its condition has held for a while (people pass, codes fail to read
//! now and then) and closes once it has been gone for a while.

use super::ledger::Ledger;
use super::segregation::{IncompatibilityTable, category_of_code, zone_allows};
use serde::Serialize;
use std::collections::BTreeMap;

/// A container the detector identified by its QR code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdSighting {
    pub id_code: String,
    /// The waste code the 数字识别码 carries.
    pub waste_code: Option<String>,
    pub at_px: [f64; 2],
    /// Where it stands on the floor, mm.
    pub at_mm: Option<[f64; 2]>,
    pub zone: Option<String>,
}

/// A group of containers standing together (one, or several touching).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blob {
    /// x, y, width, height in frame pixels.
    pub bbox_px: [f64; 4],
    /// The point it stands on, frame pixels.
    pub base_px: [f64; 2],
    pub zone: Option<String>,
    /// How many containers it holds (by size, at least the codes read).
    pub estimated: usize,
    /// HJ 1276 labels seen on it.
    pub labels: usize,
    pub ids: Vec<IdSighting>,
}

#[derive(Debug, Clone, Copy)]
pub struct InventorySettings {
    /// How long a group must stand, or a condition hold, before it counts.
    pub settle_s: f64,
    /// A container in stock unseen this long, its place empty, is missing.
    pub missing_after_s: f64,
    /// Containers of incompatible categories closer than this (centre to centre) are flagged.
    pub separation_mm: f64,
    /// A finding whose condition has been gone this long is closed.
    pub clear_after_s: f64,
    /// A condition that stops holding for less than this keeps its clock.
    pub gap_s: f64,
    /// A group needs only one label in view (a side view: the rows behind hide theirs).
    pub one_label_per_group: bool,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self { settle_s: 60.0, missing_after_s: 300.0, separation_mm: 1000.0, clear_after_s: 180.0, gap_s: 90.0, one_label_per_group: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Missing,
    Unregistered,
    Segregation,
    Unlabelled,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Unregistered => "unregistered",
            Self::Segregation => "segregation",
            Self::Unlabelled => "unlabelled",
        }
    }
}

/// What a finding is about; the same key is one finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKey {
    Missing(String),
    Unregistered(String),
    WrongZone(String, String),
    /// The two codes, sorted.
    Incompatible(String, String),
    /// A container group, by track.
    Unlabelled(u64),
}

impl FindingKey {
    pub fn kind(&self) -> FindingKind {
        match self {
            Self::Missing(_) => FindingKind::Missing,
            Self::Unregistered(_) => FindingKind::Unregistered,
            Self::WrongZone(..) | Self::Incompatible(..) => FindingKind::Segregation,
            Self::Unlabelled(_) => FindingKind::Unlabelled,
        }
    }
}

/// A container named in a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerRef {
    pub id_code: Option<String>,
    pub category: Option<String>,
    pub waste_name: Option<String>,
    pub zone: Option<String>,
    pub at_px: [f64; 2],
    pub at_mm: Option<[f64; 2]>,
    /// In the ledger's stock.
    pub registered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    #[serde(skip)]
    pub key: FindingKey,
    pub containers: Vec<ContainerRef>,
    pub zone: Option<String>,
    /// Why, in words (the rule broken).
    pub reason: String,
    /// For unlabelled groups: the region, x, y, w, h pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_px: Option<[f64; 4]>,
    /// When its condition started holding (seconds on the watch's clock).
    pub since_s: f64,
}

/// A finding opened or closed by this frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub opened: bool,
    pub finding: Finding,
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    bbox: [f64; 4],
    /// Since when its outline has kept still (a person joining a group moves it).
    still_since: f64,
    last_seen: f64,
}

#[derive(Debug, Clone)]
struct Known {
    first_seen: f64,
    last_seen: f64,
    at_px: [f64; 2],
    at_mm: Option<[f64; 2]>,
    zone: Option<String>,
    waste_code: Option<String>,
}

#[derive(Debug, Clone)]
struct Pending {
    since: f64,
    last_true: f64,
    finding: Finding,
}

/// Zone counts for the daily report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ZoneCount {
    /// Containers standing there (settled groups, by size).
    pub containers: usize,
    /// The codes read there lately.
    pub identified: Vec<String>,
    /// Groups seen without as many labels as containers.
    pub unlabelled_groups: usize,
}

pub struct Inventory {
    settings: InventorySettings,
    /// Zone name -> the categories it allows (empty: any).
    zones: BTreeMap<String, Vec<String>>,
    table: IncompatibilityTable,
    tracks: Vec<Track>,
    next_track: u64,
    known: BTreeMap<String, Known>,
    pending: BTreeMap<FindingKey, Pending>,
    open: BTreeMap<FindingKey, (Finding, f64)>,
    last_blobs: Vec<(Blob, bool)>,
}

impl Inventory {
    pub fn new(settings: InventorySettings, zones: BTreeMap<String, Vec<String>>, table: IncompatibilityTable) -> Self {
        Self { settings, zones, table, tracks: Vec::new(), next_track: 1, known: BTreeMap::new(), pending: BTreeMap::new(), open: BTreeMap::new(), last_blobs: Vec::new() }
    }

    /// The view was lost: forget places (they will be learnt again), keep codes and open findings.
    pub fn reset_view(&mut self) {
        self.tracks.clear();
        self.pending.clear();
        self.last_blobs.clear();
    }

    /// Takes one frame's groups at `t` seconds; returns the findings opened and closed.
    pub fn update(&mut self, t: f64, blobs: &[Blob], ledger: &Ledger) -> Vec<Change> {
        let s = self.settings;
        let settled = self.track(t, blobs);
        for b in blobs {
            for id in &b.ids {
                let k = self.known.entry(id.id_code.clone()).or_insert(Known {
                    first_seen: t,
                    last_seen: t,
                    at_px: id.at_px,
                    at_mm: id.at_mm,
                    zone: id.zone.clone(),
                    waste_code: id.waste_code.clone(),
                });
                k.last_seen = t;
                k.at_px = id.at_px;
                k.at_mm = id.at_mm;
                k.zone = id.zone.clone();
            }
        }
        self.last_blobs = settled.iter().map(|(b, s)| (b.clone(), s.is_some())).collect();

        let mut now: Vec<(Finding, f64)> = Vec::new();
        let seen_now: Vec<&IdSighting> = blobs.iter().flat_map(|b| &b.ids).collect();
        for id in &seen_now {
            let known = &self.known[&id.id_code];
            let record = ledger.in_stock(&id.id_code);
            let container = self.container_ref(&id.id_code, ledger);
            if record.is_none() && t - known.first_seen >= s.settle_s {
                // A container on a manifest is carried out after the command
                // comes: only one still here after `missing_after` is a finding.
                let (reason, hold) = match ledger.transferred(&id.id_code) {
                    Some(tr) => (format!("transferred out on manifest {} but still in storage", tr.manifest_no), s.missing_after_s),
                    None => ("no intake record".to_string(), 0.0),
                };
                now.push((finding(FindingKey::Unregistered(id.id_code.clone()), vec![container.clone()], id.zone.clone(), reason, None), hold));
            }
            if let (Some(zone), Some(category)) = (&id.zone, &container.category)
                && let Some(allow) = self.zones.get(zone)
                && !zone_allows(allow, category)
            {
                let reason = format!("{category} is not allowed in zone {zone} (it holds {})", allow.join(", "));
                now.push((finding(FindingKey::WrongZone(id.id_code.clone(), zone.clone()), vec![container.clone()], Some(zone.clone()), reason, None), s.settle_s));
            }
        }
        // Incompatible neighbours: among the containers there now (read now,
        // or read lately with their place still taken: codes fail to read at times).
        let present: Vec<ContainerRef> = self
            .known
            .iter()
            .filter(|(_, k)| k.last_seen == t || (t - k.last_seen <= s.missing_after_s && blobs.iter().any(|b| contains(grow(b.bbox_px, 0.15), k.at_px))))
            .map(|(id, _)| self.container_ref(id, ledger))
            .collect();
        for (i, a) in present.iter().enumerate() {
            for b in &present[i + 1..] {
                let (Some(ca), Some(cb), Some(pa), Some(pb)) = (&a.category, &b.category, a.at_mm, b.at_mm) else { continue };
                let distance = (pa[0] - pb[0]).hypot(pa[1] - pb[1]);
                if distance >= s.separation_mm {
                    continue;
                }
                if let Some(conflict) = self.table.conflict(ca, cb) {
                    let (ia, ib) = (a.id_code.clone().unwrap_or_default(), b.id_code.clone().unwrap_or_default());
                    let key = if ia <= ib { FindingKey::Incompatible(ia, ib) } else { FindingKey::Incompatible(ib, ia) };
                    let reason = format!(
                        "{ca} ({}) and {cb} ({}) stand {:.0} mm apart, closer than {:.0} mm: {}",
                        conflict.group_a, conflict.group_b, distance, s.separation_mm, conflict.why
                    );
                    now.push((finding(key, vec![a.clone(), b.clone()], a.zone.clone(), reason, None), s.settle_s));
                }
            }
        }
        // Missing: in stock, seen here before, unseen for long, and its place empty.
        for record in ledger.stock() {
            let Some(k) = self.known.get(&record.id_code) else { continue };
            if t - k.last_seen < s.missing_after_s {
                continue;
            }
            let covered = blobs.iter().any(|b| contains(grow(b.bbox_px, 0.15), k.at_px));
            if !covered {
                let c = self.container_ref(&record.id_code, ledger);
                let reason = format!("not seen for {:.0} min, its place is empty, and no transfer-out names it", (t - k.last_seen) / 60.0);
                now.push((finding(FindingKey::Missing(record.id_code.clone()), vec![c], k.zone.clone(), reason, None), 0.0));
            }
        }
        // Groups with fewer labels than containers.
        for (blob, track) in &settled {
            let Some(track) = track else { continue };
            if self.short_of_labels(blob) {
                let reason = format!("{} container(s) here, {} HJ 1276 label(s) visible", blob.estimated, blob.labels);
                let containers = blob.ids.iter().map(|i| self.container_ref(&i.id_code, ledger)).collect();
                now.push((finding(FindingKey::Unlabelled(*track), containers, blob.zone.clone(), reason, Some(blob.bbox_px)), s.settle_s));
            }
        }
        self.settle(t, now)
    }

    /// Matches groups to tracks by overlap; returns each group with its track id once it has settled.
    fn track(&mut self, t: f64, blobs: &[Blob]) -> Vec<(Blob, Option<u64>)> {
        let s = self.settings;
        let mut used = vec![false; self.tracks.len()];
        let mut out = Vec::new();
        for b in blobs {
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, tr)| (i, iou(tr.bbox, b.bbox_px)))
                .filter(|(_, o)| *o >= 0.3)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let i = match best {
                Some((i, _)) => i,
                None => {
                    self.tracks.push(Track { id: self.next_track, bbox: b.bbox_px, still_since: t, last_seen: t });
                    self.next_track += 1;
                    used.push(false);
                    self.tracks.len() - 1
                }
            };
            used[i] = true;
            let tr = &mut self.tracks[i];
            if iou(tr.bbox, b.bbox_px) < 0.85 {
                tr.still_since = t;
            }
            tr.bbox = b.bbox_px;
            tr.last_seen = t;
            out.push((b.clone(), (t - tr.still_since >= s.settle_s).then_some(tr.id)));
        }
        // A group unseen for a while has gone (or was a person passing).
        self.tracks.retain(|tr| t - tr.last_seen <= s.gap_s);
        out
    }

    fn container_ref(&self, id: &str, ledger: &Ledger) -> ContainerRef {
        let record = ledger.in_stock(id);
        let known = self.known.get(id);
        let category = record
            .as_ref()
            .and_then(|r| r.category.clone().or_else(|| r.waste_code.as_deref().and_then(category_of_code)))
            .or_else(|| known.and_then(|k| k.waste_code.as_deref()).and_then(category_of_code));
        ContainerRef {
            id_code: Some(id.to_string()),
            category,
            waste_name: record.as_ref().and_then(|r| r.waste_name.clone()),
            zone: known.and_then(|k| k.zone.clone()),
            at_px: known.map(|k| k.at_px).unwrap_or_default(),
            at_mm: known.and_then(|k| k.at_mm),
            registered: record.is_some(),
        }
    }

    /// Debounces this frame's conditions into opened / closed findings.
    fn settle(&mut self, t: f64, now: Vec<(Finding, f64)>) -> Vec<Change> {
        let s = self.settings;
        let mut changes = Vec::new();
        let mut holding = std::collections::BTreeSet::new();
        for (f, hold) in now {
            let key = f.key.clone();
            if !holding.insert(key.clone()) {
                continue;
            }
            if let Some((open, last)) = self.open.get_mut(&key) {
                *last = t;
                open.containers = f.containers;
                continue;
            }
            // The same unlabelled place under a new track is the same finding.
            if let FindingKey::Unlabelled(_) = key
                && let Some(region) = f.region_px
                && self.open.values().any(|(o, _)| o.region_px.is_some_and(|r| iou(r, region) >= 0.3))
            {
                continue;
            }
            let p = self.pending.entry(key.clone()).or_insert(Pending { since: t, last_true: t, finding: f.clone() });
            if t - p.last_true > s.gap_s {
                p.since = t;
            }
            p.last_true = t;
            p.finding = f;
            if t - p.since >= hold {
                let mut finding = p.finding.clone();
                finding.since_s = p.since;
                self.pending.remove(&key);
                self.open.insert(key, (finding.clone(), t));
                changes.push(Change { opened: true, finding });
            }
        }
        self.pending.retain(|k, p| holding.contains(k) || t - p.last_true <= s.gap_s);
        // A missing container seen again is back at once; other findings must stay gone a while.
        let clear_after = |k: &FindingKey| if matches!(k, FindingKey::Missing(_)) { 0.0 } else { s.clear_after_s };
        let closed: Vec<FindingKey> = self
            .open
            .iter()
            .filter(|(k, (_, last))| !holding.contains(*k) && t - last >= clear_after(k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in closed {
            if let Some((finding, _)) = self.open.remove(&k) {
                changes.push(Change { opened: false, finding });
            }
        }
        changes
    }

    fn short_of_labels(&self, blob: &Blob) -> bool {
        if self.settings.one_label_per_group { blob.labels == 0 } else { blob.labels < blob.estimated }
    }

    /// Findings open now.
    pub fn open_findings(&self) -> Vec<Finding> {
        self.open.values().map(|(f, _)| f.clone()).collect()
    }

    /// Containers per zone, from the latest frame.
    pub fn zone_counts(&self, t: f64) -> BTreeMap<String, ZoneCount> {
        let mut counts: BTreeMap<String, ZoneCount> = self.zones.keys().map(|z| (z.clone(), ZoneCount::default())).collect();
        for (blob, settled) in &self.last_blobs {
            let (Some(zone), true) = (&blob.zone, *settled) else { continue };
            let c = counts.entry(zone.clone()).or_default();
            c.containers += blob.estimated;
            c.unlabelled_groups += usize::from(self.short_of_labels(blob));
        }
        for (id, k) in &self.known {
            if let Some(zone) = &k.zone
                && t - k.last_seen <= self.settings.gap_s
            {
                counts.entry(zone.clone()).or_default().identified.push(id.clone());
            }
        }
        counts
    }

    /// Codes in the ledger's stock never seen by this camera.
    pub fn never_seen(&self, ledger: &Ledger) -> Vec<String> {
        ledger.stock().into_iter().map(|r| r.id_code).filter(|id| !self.known.contains_key(id)).collect()
    }
}

fn finding(key: FindingKey, containers: Vec<ContainerRef>, zone: Option<String>, reason: String, region_px: Option<[f64; 4]>) -> Finding {
    Finding { kind: key.kind(), key, containers, zone, reason, region_px, since_s: 0.0 }
}

fn grow(b: [f64; 4], share: f64) -> [f64; 4] {
    [b[0] - b[2] * share, b[1] - b[3] * share, b[2] * (1.0 + 2.0 * share), b[3] * (1.0 + 2.0 * share)]
}

fn contains(b: [f64; 4], p: [f64; 2]) -> bool {
    p[0] >= b[0] && p[0] <= b[0] + b[2] && p[1] >= b[1] && p[1] <= b[1] + b[3]
}

/// Intersection over union of two x, y, w, h boxes.
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let x0 = a[0].max(b[0]);
    let y0 = a[1].max(b[1]);
    let x1 = (a[0] + a[2]).min(b[0] + b[2]);
    let y1 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::super::ledger::LedgerRecord;
    use super::*;

    const OIL: &str = "91110302MA01234567900249082026110100A";
    const ACID: &str = "91110302MA01234567900300342026110100B";
    const ALKALI: &str = "91110302MA01234567900352352026110100C";

    fn zones() -> BTreeMap<String, Vec<String>> {
        [("oil".to_string(), vec!["HW08".to_string(), "HW49".to_string()]), ("acid".to_string(), vec!["HW34".to_string()]), ("alkali".to_string(), vec!["HW35".to_string()])]
            .into_iter()
            .collect()
    }

    fn inventory() -> Inventory {
        Inventory::new(InventorySettings::default(), zones(), IncompatibilityTable::builtin())
    }

    fn ledger(ids: &[(&str, &str)]) -> Ledger {
        let l = Ledger::in_memory();
        for (id, cat) in ids {
            l.record_intake(LedgerRecord {
                id_code: id.to_string(),
                waste_code: None,
                category: Some(cat.to_string()),
                waste_name: None,
                weight_kg: Some(100.0),
                intake_at: "2026-12-01T09:00:00+08:00".into(),
                slip_id: None,
                verdict: "accept".into(),
                transfer: None,
            })
            .unwrap();
        }
        l
    }

    /// One container at (x, y) px = (x, y) mm, labelled, optionally identified.
    fn drum(x: f64, y: f64, zone: &str, id: Option<&str>) -> Blob {
        Blob {
            bbox_px: [x - 50.0, y - 50.0, 100.0, 100.0],
            base_px: [x, y],
            zone: Some(zone.into()),
            estimated: 1,
            labels: 1,
            ids: id
                .map(|i| IdSighting { id_code: i.into(), waste_code: Some(format!("{}-{}-{}", &i[18..21], &i[21..24], &i[24..26])), at_px: [x, y], at_mm: Some([x, y]), zone: Some(zone.into()) })
                .into_iter()
                .collect(),
        }
    }

    /// Runs frames every 15 s from `from` to `to`; returns the opened / closed kinds.
    fn run(inv: &mut Inventory, ledger: &Ledger, from: f64, to: f64, blobs: &[Blob]) -> Vec<(bool, FindingKind, String)> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            for c in inv.update(t, blobs, ledger) {
                out.push((c.opened, c.finding.kind, c.finding.reason.clone()));
            }
            t += 15.0;
        }
        out
    }

    #[test]
    fn registered_containers_in_their_zones_raise_nothing_and_are_counted() {
        let l = ledger(&[(OIL, "HW08"), (ACID, "HW34")]);
        let mut inv = inventory();
        let scene = [drum(500.0, 500.0, "oil", Some(OIL)), drum(3000.0, 500.0, "acid", Some(ACID)), drum(800.0, 500.0, "oil", None)];
        assert!(run(&mut inv, &l, 0.0, 3600.0, &scene).is_empty());
        let counts = inv.zone_counts(3600.0);
        assert_eq!(counts["oil"].containers, 2);
        assert_eq!(counts["oil"].identified, vec![OIL.to_string()]);
        assert_eq!(counts["alkali"].containers, 0);
    }

    #[test]
    fn a_container_gone_without_transfer_is_missing_and_one_transferred_is_not() {
        let l = ledger(&[(OIL, "HW08"), (ACID, "HW34")]);
        let mut inv = inventory();
        let both = [drum(500.0, 500.0, "oil", Some(OIL)), drum(3000.0, 500.0, "acid", Some(ACID))];
        assert!(run(&mut inv, &l, 0.0, 600.0, &both).is_empty());
        l.transfer_out("20261101000001", &[ACID.to_string()], "t").unwrap();
        // Both leave: only the one without a manifest is missing, after `missing_after`.
        let changes = run(&mut inv, &l, 600.0, 800.0, &[]);
        assert!(changes.is_empty(), "{changes:?}");
        let changes = run(&mut inv, &l, 800.0, 1200.0, &[]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!((changes[0].0, changes[0].1), (true, FindingKind::Missing));
        assert_eq!(inv.open_findings()[0].containers[0].id_code.as_deref(), Some(OIL));
        // It comes back: the finding closes.
        let changes = run(&mut inv, &l, 1200.0, 1230.0, &both[..1]);
        assert_eq!(changes.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(), vec![(false, FindingKind::Missing)]);
    }

    #[test]
    fn a_code_unreadable_for_a_while_with_its_place_taken_is_not_missing() {
        let l = ledger(&[(OIL, "HW08")]);
        let mut inv = inventory();
        run(&mut inv, &l, 0.0, 300.0, &[drum(500.0, 500.0, "oil", Some(OIL))]);
        // Same place, code not read (dirt, glare, a person over it) for an hour.
        assert!(run(&mut inv, &l, 300.0, 3900.0, &[drum(505.0, 498.0, "oil", None)]).is_empty());
    }

    #[test]
    fn an_unregistered_container_is_flagged_once_it_has_settled() {
        let l = ledger(&[(OIL, "HW08")]);
        let mut inv = inventory();
        let scene = [drum(500.0, 500.0, "oil", Some(OIL)), drum(900.0, 500.0, "oil", Some("91110302MA0123456790024908202611010099"[..37].as_ref()))];
        let changes = run(&mut inv, &l, 0.0, 45.0, &scene);
        assert!(changes.is_empty(), "not before it settles: {changes:?}");
        let changes = run(&mut inv, &l, 45.0, 600.0, &scene);
        assert_eq!(changes.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(), vec![(true, FindingKind::Unregistered)]);
    }

    #[test]
    fn wrong_zones_and_incompatible_neighbours_are_segregation_naming_both() {
        let l = ledger(&[(OIL, "HW08"), (ACID, "HW34"), (ALKALI, "HW35")]);
        let mut inv = inventory();
        // The acid drum put into the oil zone; the alkali drum 600 mm from the acid.
        let scene = [drum(500.0, 500.0, "oil", Some(OIL)), drum(1100.0, 500.0, "oil", Some(ACID)), drum(1100.0, 1100.0, "alkali", Some(ALKALI))];
        let changes = run(&mut inv, &l, 0.0, 600.0, &scene);
        let reasons: Vec<&str> = changes.iter().map(|c| c.2.as_str()).collect();
        assert_eq!(changes.len(), 2, "{reasons:?}");
        assert!(changes.iter().all(|c| c.0 && c.1 == FindingKind::Segregation));
        assert!(reasons.iter().any(|r| r.contains("HW34 is not allowed in zone oil")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("HW34 (acids) and HW35 (alkalis) stand 600 mm apart")), "{reasons:?}");
        let both = inv.open_findings().into_iter().find(|f| matches!(f.key, FindingKey::Incompatible(..))).unwrap();
        let ids: Vec<_> = both.containers.iter().filter_map(|c| c.id_code.clone()).collect();
        assert!(ids.contains(&ACID.to_string()) && ids.contains(&ALKALI.to_string()));
        // A passing glance (less than `settle`) is no segregation (the two
        // drums then vanish while in stock: missing, later).
        let mut inv = inventory();
        run(&mut inv, &l, 0.0, 30.0, &scene);
        let kinds: Vec<FindingKind> = run(&mut inv, &l, 30.0, 600.0, &scene[..1]).into_iter().map(|c| c.1).collect();
        assert_eq!(kinds, vec![FindingKind::Missing, FindingKind::Missing]);
    }

    #[test]
    fn a_group_with_fewer_labels_than_containers_is_unlabelled_once_and_a_passer_by_is_not() {
        let l = ledger(&[]);
        let mut inv = inventory();
        let mut bare = drum(500.0, 500.0, "oil", None);
        bare.labels = 0;
        let changes = run(&mut inv, &l, 0.0, 600.0, std::slice::from_ref(&bare));
        assert_eq!(changes.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(), vec![(true, FindingKind::Unlabelled)]);
        // A person crossing: a different place every frame, never settles.
        let mut inv = inventory();
        let mut out = Vec::new();
        for i in 0..20 {
            let mut p = drum(200.0 + 300.0 * i as f64, 800.0, "oil", None);
            p.labels = 0;
            out.extend(inv.update(i as f64 * 15.0, &[p], &l));
        }
        assert!(out.is_empty(), "{out:?}");
    }
}
