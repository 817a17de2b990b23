//! The camera watch on real photos: a knocked camera, a blurred, covered,
//! glared or frozen picture are reported; light changes, noise and people
//! passing are not.

mod common;

use common::*;
use edge_agent::task::camera_watch::{CameraWatch, Fault, WatchSettings};
use image::{Rgb, RgbImage};

fn scene() -> RgbImage {
    let photo = image::open(opencv_photo("building.jpg")).unwrap().to_rgb8();
    image::imageops::resize(&photo, 960, 540, image::imageops::FilterType::Triangle)
}

/// Camera noise, seeded.
fn noisy(img: &RgbImage, rng: &mut fastrand::Rng) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (i16::from(*c) + rng.i16(-3..=3)).clamp(0, 255) as u8;
        }
    }
    out
}

/// Runs `frames(t)` at 1 fps from `from` to `to` seconds; returns (t, raised?, fault).
fn run(watch: &mut CameraWatch, from: u32, to: u32, frame: impl Fn(u32) -> RgbImage) -> Vec<(u32, bool, Fault)> {
    (from..to).flat_map(|t| watch.assess(&frame(t), f64::from(t)).into_iter().map(move |(raised, f)| (t, raised, f))).collect()
}

#[test]
fn noise_light_changes_and_a_person_passing_raise_nothing() {
    let reference = scene();
    let mut watch = CameraWatch::with_reference("cam", &reference, WatchSettings::default()).unwrap();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut frames = Vec::new();
    for t in 0..60u32 {
        let mut f = noisy(&reference, &mut rng);
        if (20..40).contains(&t) {
            // Lights dimmed to 55 %.
            f.pixels_mut().for_each(|p| p.0 = p.0.map(|c| (f32::from(c) * 0.55) as u8));
        }
        if (40..55).contains(&t) {
            // A person (a dark 120x300 figure) walking across.
            let x0 = (t - 40) * 50;
            for y in 200..500 {
                for x in x0..(x0 + 120).min(960) {
                    f.put_pixel(x, y, Rgb([40, 35, 60]));
                }
            }
        }
        frames.push(f);
    }
    let events = run(&mut watch, 0, 60, |t| frames[t as usize].clone());
    assert!(events.is_empty(), "{events:?}");
    assert!(watch.usable());
}

#[test]
fn a_knocked_camera_is_reported_with_its_shift_pauses_tasks_and_is_restored_when_put_back() {
    let reference = scene();
    let mut watch = CameraWatch::with_reference("cam", &reference, WatchSettings::default()).unwrap();
    let mut rng = fastrand::Rng::with_seed(2);
    // The camera turned: the picture moves 40 px left and 16 px up.
    let shifted = RgbImage::from_fn(960, 540, |x, y| *reference.get_pixel((x + 40).min(959), (y + 16).min(539)));
    let mut frames: Vec<RgbImage> = (0..10).map(|_| noisy(&reference, &mut rng)).collect();
    frames.extend((10..30).map(|_| noisy(&shifted, &mut rng)));
    frames.extend((30..50).map(|_| noisy(&reference, &mut rng)));
    let events = run(&mut watch, 0, 50, |t| frames[t as usize].clone());
    assert_eq!(events.len(), 2, "{events:?}");
    let (t, raised, fault) = &events[0];
    assert!(*raised && (15..=16).contains(t), "raised after the 5 s confirmation: {events:?}");
    match fault {
        Fault::ViewLost { shift_px: Some([dx, dy]), similarity, best_similarity } => {
            assert!((dx + 40.0).abs() <= 4.0 && (dy + 16.0).abs() <= 4.0, "shift {dx},{dy}");
            assert!(best_similarity > similarity);
        }
        other => panic!("expected a moved view, got {other:?}"),
    }
    let (t, raised, _) = &events[1];
    assert!(!raised && (39..=41).contains(t), "restored 10 s after the view is back: {events:?}");
    assert!(watch.usable());
}

#[test]
fn blur_glare_a_covered_lens_and_a_frozen_picture_are_each_named() {
    let reference = scene();
    let cases: Vec<(&str, Box<dyn Fn(&RgbImage, &mut fastrand::Rng) -> RgbImage>, bool)> = vec![
        ("sharpness", Box::new(|r, rng| noisy(&image::imageops::blur(r, 4.0), rng)), true),
        (
            "glare",
            Box::new(|r, rng| {
                let mut f = noisy(r, rng);
                for y in 0..540 {
                    for x in 0..960 {
                        let d = ((x as f32 - 480.0).powi(2) + (y as f32 - 270.0).powi(2)).sqrt();
                        if d < 280.0 {
                            f.put_pixel(x, y, Rgb([255, 255, 255]));
                        }
                    }
                }
                f
            }),
            true,
        ),
        ("covered", Box::new(|_, rng| noisy(&RgbImage::from_pixel(960, 540, Rgb([4, 4, 4])), rng)), false),
        ("frozen", Box::new(|r, _| r.clone()), false),
    ];
    for (measure, fault, still_usable) in cases {
        let mut watch = CameraWatch::with_reference("cam", &reference, WatchSettings::default()).unwrap();
        let mut rng = fastrand::Rng::with_seed(3);
        let frames: Vec<RgbImage> = (0..30).map(|t| if t < 5 { noisy(&reference, &mut rng) } else { fault(&reference, &mut rng) }).collect();
        let events = run(&mut watch, 0, 30, |t| frames[t as usize].clone());
        let raised: Vec<_> = events.iter().filter(|e| e.1).collect();
        assert_eq!(raised.len(), 1, "{measure}: {events:?}");
        match &raised[0].2 {
            Fault::Degraded { measure: m, .. } => assert_eq!(*m, measure),
            other => panic!("{measure}: got {other:?}"),
        }
        assert_eq!(watch.usable(), still_usable, "{measure}: tasks pause only when the picture is useless");
    }
}
