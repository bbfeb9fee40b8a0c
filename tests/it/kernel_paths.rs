//! The model tests once per kernel family this CPU runs: the transformers parity tests
//! (`parity`, the CLI goldens) and the 8-bit agreement floors (`quant`) run again in a child
//! process of this test binary with `COPYDESK_KERNELS` forcing each family below the detected
//! one (the detected one is this process's own run). Families the CPU lacks print
//! `skipped: ...`.

use std::process::Command;

use copydesk::models::cpu::isa::{Isa, KERNELS_ENV};

/// Test-name filters of the tests that load models.
const MODEL_TESTS: [&str; 4] = [
    "parity::",
    "quant::",
    "cli::translate_json_matches_transformers",
    "cli::summarize_json_matches_transformers",
];

#[test]
fn parity_and_q8_agreement_hold_on_every_kernel_path() {
    if let Ok(forced) = std::env::var(KERNELS_ENV) {
        println!("inside the {forced} run: its model tests are the ones checked");
        return;
    }
    let detected = Isa::detected();
    for isa in Isa::ALL {
        if !isa.available() {
            println!("skipped: kernels {} need {}", isa.name(), isa.needs());
            continue;
        }
        if isa == detected {
            println!("{}: the tests of this process", isa.name());
            continue;
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args(MODEL_TESTS)
            .env(KERNELS_ENV, isa.name())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} kernels:\n{stdout}\n{}",
            isa.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = stdout
            .lines()
            .find(|l| l.starts_with("test result: ok."))
            .unwrap_or_default();
        let passed: usize = summary
            .split_whitespace()
            .nth(3)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(passed >= 5, "{}: too few tests ran: {summary}", isa.name());
        println!("{}: {summary}", isa.name());
    }
}
