//! `edge-agent bench-leak`: placeholder until the simulator lands.
use crate::cli::BenchLeakArgs;
use std::process::ExitCode;

pub fn bench_leak(_args: &BenchLeakArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
