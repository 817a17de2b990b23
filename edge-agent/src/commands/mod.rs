//! One module per subcommand: each turns parsed arguments into work and an exit code.

pub mod bench;
pub mod bench_events;
pub mod bench_field;
pub mod bench_intake;
pub mod bench_leak;
pub mod bench_sorting;
pub mod bench_storage;
pub mod calibrate;
pub mod classify;
pub mod enroll;
pub mod inspect;
pub mod leak;
pub mod models;
pub mod run;
pub mod simulate_station;
pub mod storage;
pub mod watch;

/// sysexits' EX_CONFIG: the config (or a manifest it names) is wrong.
pub const EXIT_CONFIG: u8 = 78;
