//! Behaviour tests of the whole simulator (the parts have their own unit tests).
//! They need the `opencv-doc` sample photos.

use std::time::Instant;

use super::*;
use util::point_in_polygon;

/// A sample photo, or a failure that says how to get it.
fn photo(name: &str) -> RgbImage {
    opencv_photo(name).unwrap_or_else(|e| panic!("{e}"))
}

fn scene(seed: u64, w: u32, h: u32, script: Script) -> PodScene {
    PodScene::new(seed, &photo("building.jpg"), w, h, script).expect("scene").with_clothing_photo(&photo("baboon.jpg"))
}

fn script(events: Vec<Happening>) -> Script {
    Script { duration_s: 200.0, events, jpeg_quality: None }
}

fn spill(kind: LiquidKind, final_cm2: f64, seed: u64) -> Happening {
    Happening::Spill(Spill {
        start_s: 10.0,
        kind,
        container: 0,
        direction_deg: 90.0,
        start_cm2: 30.0,
        final_cm2,
        grow_s: 60.0,
        seed,
    })
}

/// Luma plane of a frame.
fn luma_plane(img: &RgbImage) -> Vec<f64> {
    img.pixels().map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64).collect()
}

/// 3x3 box blur (edges clamp), to take the sensor noise out of per-pixel comparisons.
fn blur3(p: &[f64], w: usize, h: usize) -> Vec<f64> {
    let mut out = vec![0.0; p.len()];
    for j in 0..h {
        for i in 0..w {
            let (mut s, mut n) = (0.0, 0.0);
            for jj in j.saturating_sub(1)..(j + 2).min(h) {
                for ii in i.saturating_sub(1)..(i + 2).min(w) {
                    s += p[jj * w + ii];
                    n += 1.0;
                }
            }
            out[j * w + i] = s / n;
        }
    }
    out
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum::<f64>() / a.as_raw().len() as f64
}

#[test]
fn same_seed_same_frames_and_other_seeds_differ() {
    let s = Script::random(5, 600.0, true);
    let mut a = scene(42, 320, 180, s.clone());
    let mut b = scene(42, 320, 180, s.clone());
    assert_eq!(a.reference(), b.reference());
    assert_eq!(a.geometry(), b.geometry());
    for t in [0.0, 37.0, 150.0, 420.0, 599.0] {
        assert_eq!(a.frame(t), b.frame(t), "t = {t}");
    }
    // The order of calls does not matter.
    let late = a.frame(420.0);
    assert_eq!(scene(42, 320, 180, s.clone()).frame(420.0), late);
    // Another seed is another pod; another time is other noise.
    let mut c = scene(43, 320, 180, s);
    assert_ne!(c.reference(), a.reference());
    assert_ne!(c.frame(37.0).0, a.frame(37.0).0);
    assert_ne!(a.frame(1.0).0, a.frame(2.0).0);
}

#[test]
fn geometry_maps_the_zone_to_3_by_1_7_metres() {
    for (seed, w, h) in [(0, 480, 270), (1, 1920, 1080), (2, 640, 480), (3, 300, 500), (4, 480, 270), (5, 800, 450)] {
        let sc = scene(seed, w, h, Script::quiet(10.0));
        let g = sc.geometry();
        assert_eq!((g.width, g.height), (w, h));
        let want = [[0.0, 0.0], [3000.0, 0.0], [3000.0, 1700.0], [0.0, 1700.0]];
        assert_eq!(g.floor.len(), 4);
        for (p, m) in g.floor.iter().zip(want) {
            let q = g.to_mm(p[0], p[1]);
            assert!((q[0] - m[0]).abs() < 1.0 && (q[1] - m[1]).abs() < 1.0, "seed {seed}: {p:?} -> {q:?}");
            assert!(p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= w as f64 && p[1] <= h as f64);
        }
        // The zone's area, summed pixel by pixel through the homography.
        let mut area = 0.0;
        for j in 0..h {
            for i in 0..w {
                let (u, v) = (i as f64 + 0.5, j as f64 + 0.5);
                if point_in_polygon([u, v], &g.floor) {
                    area += g.mm2_per_px(u, v);
                }
            }
        }
        assert!((area / 5.1e6 - 1.0).abs() < 0.02, "seed {seed} {w}x{h}: zone area {area} mm²");
        assert!(!g.containers.is_empty() && g.trays.is_empty());
        for (name, poly) in &g.containers {
            assert!(poly.len() >= 3, "{name}");
            for p in poly {
                assert!(
                    p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= w as f64 && p[1] <= h as f64,
                    "seed {seed} {name}: {p:?}"
                );
            }
        }
    }
}

/// Changed-pixel area (mm²) inside the zone: luma ratio to the clean reference beyond
/// about half of the liquid's nominal change, or lit by a lamp reflection in the
/// liquid at `t` (a glint can cancel the darkening exactly). `blur` takes the sensor
/// noise out of noisy frames.
fn changed_area_mm2(sc: &PodScene, frame: &RgbImage, t: f64, blur: bool) -> f64 {
    let g = sc.geometry();
    let (w, h) = (g.width as usize, g.height as usize);
    let (mut f, mut r) = (luma_plane(frame), luma_plane(&sc.reference_clean()));
    if blur {
        (f, r) = (blur3(&f, w, h), blur3(&r, w, h));
    }
    let pool = &sc.pools[0];
    let st = pool.state(t).expect("started");
    let ratio = pool.nominal_ratio(sc.stage.floor_luma) as f64;
    // Just under half the full change: the rim is a little thinner than the middle.
    let thr = 1.0 - 0.42 * (1.0 - ratio);
    let mut area = 0.0;
    for j in 0..h {
        for i in 0..w {
            let idx = j * w + i;
            let q = f[idx] / r[idx].max(1.0);
            let (u, v) = (i as f64 + 0.5, j as f64 + 0.5);
            let (x, y) = (sc.stage.xs[idx] as f64, sc.stage.ys[idx] as f64);
            let glint = sc.initial.cover[idx] <= 0.5
                && pool.depth(&st, x, y, 0.0) > 0.0
                && pool.glint_at(&st, &sc.stage.cam, x, y) > 0.05;
            if (q < thr || q > 2.0 - thr || glint) && point_in_polygon([u, v], &g.floor) {
                area += g.mm2_per_px(u, v);
            }
        }
    }
    area
}

#[test]
fn spill_area_grows_and_matches_the_changed_pixels() {
    let cases = [
        (1, LiquidKind::Oil, 1500.0, 480, 270),
        (2, LiquidKind::Water, 800.0, 480, 270),
        (3, LiquidKind::Coolant, 2500.0, 640, 360),
        (4, LiquidKind::Water, 300.0, 960, 540),
        (5, LiquidKind::Oil, 150.0, 960, 540),
        (6, LiquidKind::Coolant, 3000.0, 480, 270),
    ];
    for (seed, kind, cm2, w, h) in cases {
        let mut sc = scene(seed, w, h, script(vec![spill(kind, cm2, seed)]));
        let (_, before) = sc.frame(5.0);
        assert_eq!((before.spill_cm2, before.spill_source.as_deref()), (0.0, None));
        let mut prev = 0.0;
        for t in [10.0, 25.0, 40.0, 55.0, 100.0] {
            let (f, truth) = sc.frame(t);
            assert!(truth.spill_cm2 > prev, "seed {seed} t {t}: {} after {prev}", truth.spill_cm2);
            assert!(truth.spill_cm2 <= cm2 * 1.001);
            prev = truth.spill_cm2;
            assert_eq!(truth.spill_source.as_deref(), Some(sc.geometry().containers[0].0.as_str()));
            let c = truth.spill_centroid_px.expect("centroid");
            assert!(point_in_polygon(c, &sc.geometry().floor) || truth.spill_cm2 < 50.0);
            assert!(truth.distractors.is_empty());
            // Exact pixels (no sensor noise): the rendered pool is the truth's pool.
            let (clean, same) = sc.render_at(t, false);
            assert_eq!(same, truth);
            let seen = changed_area_mm2(&sc, &clean, t, false) / 100.0;
            // 10 %, or 15 pixels for pools only a few pixels across (rim pixels).
            let px_cm2 = sc.geometry().mm2_per_px(c[0], c[1]) / 100.0;
            assert!(
                (seen - truth.spill_cm2).abs() <= 0.1 * truth.spill_cm2 + (15.0 * px_cm2).max(2.0),
                "seed {seed} {kind:?} {w}x{h} t {t}: pixels say {seen:.1} cm², truth {:.1} cm²",
                truth.spill_cm2
            );
            // Through the camera's noise, once the pool spans many pixels.
            if truth.spill_cm2 > 300.0 {
                let seen = changed_area_mm2(&sc, &f, t, true) / 100.0;
                assert!(
                    (seen - truth.spill_cm2).abs() <= 0.1 * truth.spill_cm2,
                    "seed {seed} {kind:?} {w}x{h} t {t}: noisy pixels say {seen:.1} cm², truth {:.1} cm²",
                    truth.spill_cm2
                );
            }
        }
        // Most of a pool spreading towards the camera is in view.
        assert!(prev > 0.4 * cm2, "seed {seed}: only {prev} of {cm2} cm² visible");
    }
}

/// Mean luma ratio frame / clean reference over mid-tone pixels (no clipping).
fn mean_ratio(frame: &RgbImage, reference: &RgbImage, max_ref: f64) -> f64 {
    let (f, r) = (luma_plane(frame), luma_plane(reference));
    let (mut sf, mut sr) = (0.0, 0.0);
    for (a, b) in f.iter().zip(&r) {
        if (20.0..max_ref).contains(b) {
            sf += a;
            sr += b;
        }
    }
    sf / sr
}

#[test]
fn light_switch_scales_brightness_by_its_gain() {
    for (seed, gain) in [(1, 0.6), (2, 1.3), (3, 1.5), (4, 0.5)] {
        let ev = Happening::LightSwitch(LightSwitch { at_s: 10.0, gain, tint: [1.0; 3] });
        let mut sc = scene(seed, 480, 270, script(vec![ev]));
        let clean = sc.reference_clean();
        let (before, t0) = sc.frame(5.0);
        let (after, t1) = sc.frame(20.0);
        assert!(t0.distractors.is_empty());
        assert_eq!(t1.distractors, vec!["light_switch"]);
        let max_ref = 250.0 / gain.max(1.0);
        assert!((mean_ratio(&before, &clean, max_ref) - 1.0).abs() < 0.01);
        let got = mean_ratio(&after, &clean, max_ref);
        assert!((got / gain - 1.0).abs() < 0.02, "gain {gain}: brightness x{got:.3}");
    }
    // A colour-temperature change moves the channels apart.
    let ev = Happening::LightSwitch(LightSwitch { at_s: 0.0, gain: 1.0, tint: [1.06, 1.0, 0.9] });
    let mut sc = scene(7, 480, 270, script(vec![ev]));
    let clean = sc.reference_clean();
    let (f, _) = sc.frame(1.0);
    let chan = |img: &RgbImage, c: usize| img.pixels().map(|p| p[c] as f64).sum::<f64>();
    let (rr, bb) = (chan(&f, 0) / chan(&clean, 0), chan(&f, 2) / chan(&clean, 2));
    assert!((rr - 1.06).abs() < 0.02 && (bb - 0.9).abs() < 0.02, "{rr} {bb}");
}

#[test]
fn lamp_off_gives_a_smooth_falloff() {
    let ev = Happening::LightGradient(LightGradient {
        start_s: 0.0,
        end_s: 50.0,
        lamp_mm: [1500.0, 850.0],
        height_mm: 2000.0,
        depth: 0.4,
    });
    let mut sc = scene(3, 480, 270, script(vec![ev]));
    let clean = luma_plane(&sc.reference_clean());
    let (f, truth) = sc.frame(10.0);
    assert_eq!(truth.distractors, vec!["light_gradient"]);
    let f = luma_plane(&f);
    let g = sc.geometry().clone();
    // Mean ratio in a small patch around a floor point.
    let patch = |x: f64, y: f64| {
        let [u, v] = sc.stage.cam.to_px(x, y);
        let (mut a, mut b) = (0.0, 0.0);
        for j in (v as usize).saturating_sub(3)..(v as usize + 4).min(g.height as usize) {
            for i in (u as usize).saturating_sub(3)..(u as usize + 4).min(g.width as usize) {
                a += f[j * g.width as usize + i];
                b += clean[j * g.width as usize + i];
            }
        }
        a / b
    };
    let under = patch(1500.0, 850.0);
    let corner = patch(100.0, 1600.0);
    assert!((under - 0.6).abs() < 0.04, "under the lamp x{under}");
    assert!(corner > 0.8 && corner > under + 0.15, "corner x{corner}");
    assert!(sc.frame(60.0).1.distractors.is_empty());
}

#[test]
fn shadows_darken_but_keep_chromaticity() {
    for (seed, darkness) in [(1, 0.6), (2, 0.75), (3, 0.5)] {
        let ev = Happening::Shadow(Shadow {
            start_s: 0.0,
            duration_s: 30.0,
            moving: false,
            from_mm: [1500.0, -2000.0],
            to_mm: [1500.0, -500.0],
            heading_deg: 90.0,
            shape: ShadowShape::Person,
            length_mm: 1700.0,
            width_mm: 550.0,
            darkness,
            softness_mm: 80.0,
        });
        let mut sc = scene(seed, 480, 270, script(vec![ev]));
        let clean = sc.reference_clean();
        let (f, truth) = sc.frame(10.0);
        assert_eq!(truth.distractors, vec!["shadow"]);
        assert_eq!(truth.spill_cm2, 0.0);
        let (w, h) = (480, 270);
        let q: Vec<f64> = blur3(&luma_plane(&f), w, h)
            .iter()
            .zip(blur3(&luma_plane(&clean), w, h))
            .map(|(a, b)| a / b.max(1.0))
            .collect();
        let core: Vec<usize> = (0..w * h).filter(|&i| q[i] < 1.0 - 0.7 * (1.0 - darkness)).collect();
        assert!(core.len() > 400, "seed {seed}: shadow core of {} px", core.len());
        let mut ratios: Vec<f64> = core.iter().map(|&i| q[i]).collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        assert!((median - darkness).abs() < 0.06, "seed {seed}: core at x{median}");
        let chroma = |img: &RgbImage| {
            let mut s = [0.0; 3];
            for &i in &core {
                let p = img.as_raw();
                let (r, g, b) = (p[3 * i] as f64, p[3 * i + 1] as f64, p[3 * i + 2] as f64);
                let n = (r + g + b).max(1.0);
                s = [s[0] + r / n, s[1] + g / n, s[2] + b / n];
            }
            s.map(|v| v / core.len() as f64)
        };
        let (a, b) = (chroma(&f), chroma(&clean));
        for c in 0..3 {
            assert!((a[c] - b[c]).abs() < 0.005, "seed {seed}: chromaticity {a:?} vs {b:?}");
        }
    }
}

#[test]
fn quiet_frames_differ_from_the_reference_only_by_noise() {
    let check = |sc: &mut PodScene, t: f64| {
        let sigma = sc.noise_sigma();
        let (f, truth) = sc.frame(t);
        assert!(truth.distractors.is_empty() && truth.spill_cm2 == 0.0);
        // Two independent noisy frames: E|d| = 2 sigma / sqrt(pi).
        let mad = mean_abs_diff(&f, &sc.reference());
        assert!(mad < 1.2 * 1.128 * sigma + 0.3, "t {t}: mean abs diff {mad:.2}, sigma {sigma:.2}");
        // No structure: block means of the difference to the clean reference are ~0.
        let clean = sc.reference_clean();
        let g = sc.geometry();
        let (w, h) = (g.width as usize, g.height as usize);
        let d: Vec<f64> = luma_plane(&f).iter().zip(luma_plane(&clean)).map(|(a, b)| a - b).collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        assert!(mean.abs() < 0.15, "t {t}: bias {mean}");
        for bj in 0..h / 16 {
            for bi in 0..w / 16 {
                let mut s = 0.0;
                for j in 0..16 {
                    for i in 0..16 {
                        s += d[(bj * 16 + j) * w + bi * 16 + i];
                    }
                }
                assert!((s / 256.0).abs() < 1.5, "t {t}: block ({bi},{bj}) off by {}", s / 256.0);
            }
        }
    };
    let mut sc = scene(9, 480, 270, Script::quiet(100.0));
    for t in [0.0, 50.0, 99.0] {
        check(&mut sc, t);
    }
    // In a busy script, the moments with nothing going on are quiet too.
    let mut sc = scene(10, 480, 270, Script::random(10, 900.0, false));
    let mut quiet = 0;
    for t in (0..900).step_by(7) {
        if sc.frame(t as f64).1.distractors.is_empty() {
            check(&mut sc, t as f64);
            quiet += 1;
        }
    }
    assert!(quiet >= 3, "only {quiet} quiet moments");
}

#[test]
fn people_trolleys_and_moves_show_and_are_reported() {
    let person = Happening::Person(Person {
        start_s: 0.0,
        from_mm: [-900.0, 900.0],
        to_mm: [3900.0, 900.0],
        speed_mps: 1.0,
        pause: Some(Pause { at_fraction: 0.5, secs: 4.0 }),
        height_mm: 1750.0,
        seed: 1,
    });
    let trolley = Happening::Trolley(Trolley {
        start_s: 20.0,
        from_mm: [1500.0, 2700.0],
        to_mm: [1500.0, -1200.0],
        speed_mps: 0.8,
        park: None,
        seed: 2,
    });
    // A pod with room to move its first container (a crowded one may have no free
    // spot; then nothing moves).
    let moved =
        Happening::ContainerMoved(ContainerMoved { at_s: 40.0, container: 0, to_mm: None, dust: 0.05, seed: 3 });
    let mut sc = (11..30)
        .map(|seed| scene(seed, 480, 270, script(vec![person.clone(), trolley.clone(), moved.clone()])))
        .find(|sc| !sc.moves.is_empty())
        .expect("a pod with room");
    let drum = 0;
    let clean = luma_plane(&sc.reference_clean());
    let changed = |f: &RgbImage| luma_plane(f).iter().zip(&clean).filter(|(a, b)| (*a - *b).abs() > 25.0).count();
    let (f, t) = sc.frame(4.0);
    assert_eq!(t.distractors, vec!["person"]);
    assert!(changed(&f) > 300, "person: {} px", changed(&f));
    let (f, t) = sc.frame(22.6);
    assert!(t.distractors.contains(&"trolley") && t.distractors.contains(&"person"), "{:?}", t.distractors);
    assert!(changed(&f) > 1000);
    let (_, t) = sc.frame(39.0);
    assert!(t.distractors.is_empty(), "{:?}", t.distractors);
    let (f, t) = sc.frame(41.0);
    assert_eq!(t.distractors, vec!["container_moved"]);
    // The old spot shows floor now: most of its outline changed.
    let g = sc.geometry().clone();
    let (w, h) = (g.width as usize, g.height as usize);
    let old = &g.containers[drum].1;
    let lum = luma_plane(&f);
    let (mut inside, mut diff) = (0, 0);
    for j in 0..h {
        for i in 0..w {
            if point_in_polygon([i as f64 + 0.5, j as f64 + 0.5], old) {
                inside += 1;
                diff += ((lum[j * w + i] - clean[j * w + i]).abs() > 12.0) as usize;
            }
        }
    }
    assert!(diff * 2 > inside, "{diff} of {inside} px changed at the old spot");
    // Commissioned geometry does not follow the move.
    assert_eq!(sc.geometry(), &g);
}

#[test]
fn jpeg_option_compresses_frames() {
    let mut plain = scene(12, 480, 270, Script::quiet(10.0));
    let mut jpeg = scene(12, 480, 270, Script::quiet(10.0).with_jpeg(80));
    let (a, _) = plain.frame(1.0);
    let (b, _) = jpeg.frame(1.0);
    assert_ne!(a, b);
    assert!(mean_abs_diff(&a, &b) < 4.0, "{}", mean_abs_diff(&a, &b));
}

#[test]
fn odd_inputs_give_errors_or_valid_frames() {
    let p = photo("home.jpg");
    let tiny = RgbImage::from_pixel(1, 1, image::Rgb([90, 90, 90]));
    let empty = RgbImage::new(0, 0);
    assert!(matches!(PodScene::new(1, &p, 0, 10, Script::quiet(1.0)), Err(SimError::EmptyFrame { .. })));
    assert!(matches!(PodScene::new(1, &p, 10, 0, Script::quiet(1.0)), Err(SimError::EmptyFrame { .. })));
    assert!(matches!(PodScene::new(1, &p, 100_000, 100_000, Script::quiet(1.0)), Err(SimError::FrameTooLarge { .. })));
    assert!(matches!(PodScene::new(1, &empty, 10, 10, Script::quiet(1.0)), Err(SimError::EmptyPhoto)));
    let nan = f64::NAN;
    let wild = Script {
        duration_s: nan,
        events: vec![
            Happening::Spill(Spill {
                start_s: nan,
                kind: LiquidKind::Oil,
                container: 999,
                direction_deg: nan,
                start_cm2: -5.0,
                final_cm2: 1e12,
                grow_s: 0.0,
                seed: 1,
            }),
            Happening::LightSwitch(LightSwitch { at_s: 1.0, gain: nan, tint: [0.0, nan, 1e9] }),
            Happening::LightGradient(LightGradient {
                start_s: 0.0,
                end_s: 1e9,
                lamp_mm: [nan, 0.0],
                height_mm: -1.0,
                depth: 7.0,
            }),
            Happening::Shadow(Shadow {
                start_s: 0.0,
                duration_s: -3.0,
                moving: false,
                from_mm: [0.0, 0.0],
                to_mm: [nan, 0.0],
                heading_deg: nan,
                shape: ShadowShape::Object,
                length_mm: 0.0,
                width_mm: nan,
                darkness: 2.0,
                softness_mm: 0.0,
            }),
            Happening::Person(Person {
                start_s: 0.0,
                from_mm: [0.0, 0.0],
                to_mm: [0.0, 0.0],
                speed_mps: 0.0,
                pause: Some(Pause { at_fraction: nan, secs: nan }),
                height_mm: nan,
                seed: 0,
            }),
            Happening::Trolley(Trolley {
                start_s: 0.0,
                from_mm: [5.0, 5.0],
                to_mm: [5.0, 5.0],
                speed_mps: -1.0,
                park: None,
                seed: 0,
            }),
            Happening::ContainerMoved(ContainerMoved {
                at_s: 2.0,
                container: usize::MAX,
                to_mm: Some([nan, nan]),
                dust: nan,
                seed: 0,
            }),
        ],
        jpeg_quality: Some(0),
    };
    for (ph, w, h) in [(&tiny, 480, 270), (&p, 1, 1), (&p, 3, 700), (&tiny, 700, 2)] {
        let mut sc = PodScene::new(7, ph, w, h, wild.clone()).expect("valid sizes");
        assert_eq!(sc.reference().dimensions(), (w, h));
        for t in [nan, -5.0, 0.0, 0.5, 3.0, 1e12, f64::INFINITY] {
            let (f, truth) = sc.frame(t);
            assert_eq!(f.dimensions(), (w, h));
            assert!(truth.spill_cm2.is_finite() && truth.spill_cm2 >= 0.0);
        }
    }
}

/// Renders sample frames for a person to look at, and reports frame times.
#[test]
fn render_timings_and_samples() {
    let busy = |start: f64| {
        let mut s = Script::random(21, 600.0, false);
        s.events.push(spill(LiquidKind::Oil, 2000.0, 3));
        s.events.push(Happening::Person(Person {
            start_s: start,
            from_mm: [-900.0, 1000.0],
            to_mm: [3900.0, 700.0],
            speed_mps: 0.05,
            pause: None,
            height_mm: 1800.0,
            seed: 5,
        }));
        s
    };
    for (w, h, frames, budget_ms) in [(480, 270, 60, 25.0), (1920, 1080, 8, 250.0)] {
        let t0 = Instant::now();
        let mut sc = scene(21, w, h, busy(0.0));
        let build = t0.elapsed();
        let t0 = Instant::now();
        for k in 0..frames {
            std::hint::black_box(sc.frame(30.0 + k as f64));
        }
        let per = t0.elapsed().as_secs_f64() * 1000.0 / frames as f64;
        let mut q = scene(21, w, h, Script::quiet(10.0));
        let t0 = Instant::now();
        for k in 0..frames {
            std::hint::black_box(q.frame(k as f64));
        }
        let quiet = t0.elapsed().as_secs_f64() * 1000.0 / frames as f64;
        let mut j = scene(21, w, h, busy(0.0).with_jpeg(85));
        let t0 = Instant::now();
        for k in 0..frames.min(4) {
            std::hint::black_box(j.frame(30.0 + k as f64));
        }
        let jpeg = t0.elapsed().as_secs_f64() * 1000.0 / frames.min(4) as f64;
        println!(
            "render {w}x{h}: build {:.0} ms, busy frame {per:.1} ms (spill + person + shadows), quiet frame {quiet:.1} ms, busy + JPEG q85 {jpeg:.1} ms",
            build.as_secs_f64() * 1000.0
        );
        assert!(per < budget_ms, "{w}x{h}: {per:.1} ms a frame");
    }

    // Samples at 960x540.
    let dir = std::path::Path::new("/tmp/sim-samples");
    std::fs::create_dir_all(dir).expect("sample folder");
    let shadow = Happening::Shadow(Shadow {
        start_s: 100.0,
        duration_s: 30.0,
        moving: false,
        from_mm: [2200.0, -2000.0],
        to_mm: [2200.0, -450.0],
        heading_deg: 100.0,
        shape: ShadowShape::Person,
        length_mm: 1700.0,
        width_mm: 520.0,
        darkness: 0.65,
        softness_mm: 120.0,
    });
    let person = Happening::Person(Person {
        start_s: 140.0,
        from_mm: [-900.0, 1100.0],
        to_mm: [3900.0, 800.0],
        speed_mps: 1.0,
        pause: None,
        height_mm: 1780.0,
        seed: 8,
    });
    let trolley = Happening::Trolley(Trolley {
        start_s: 160.0,
        from_mm: [3900.0, 1200.0],
        to_mm: [-1200.0, 1000.0],
        speed_mps: 1.0,
        park: None,
        seed: 4,
    });
    let lamp = Happening::LightGradient(LightGradient {
        start_s: 180.0,
        end_s: 190.0,
        lamp_mm: [600.0, 400.0],
        height_mm: 2200.0,
        depth: 0.45,
    });
    for (seed, kind) in [(31, LiquidKind::Water), (32, LiquidKind::Oil), (33, LiquidKind::Coolant)] {
        let sc_script =
            script(vec![spill(kind, 1800.0, seed), shadow.clone(), person.clone(), trolley.clone(), lamp.clone()]);
        let mut sc = scene(seed, 960, 540, sc_script);
        sc.reference().save(dir.join(format!("{seed}-reference.png"))).expect("save");
        for (name, t) in [
            ("spill-mid", 35.0),
            ("spill-full", 95.0),
            ("shadow", 110.0),
            ("person", 142.9),
            ("trolley", 162.0),
            ("lamp-off", 185.0),
        ] {
            let (f, truth) = sc.frame(t);
            f.save(dir.join(format!("{seed}-{name}.png"))).expect("save");
            println!(
                "sample {seed}-{name}: {kind:?} {:.0} cm² from {:?}, {:?}",
                truth.spill_cm2, truth.spill_source, truth.distractors
            );
        }
    }
    assert!(dir.join("31-spill-mid.png").exists());
}
