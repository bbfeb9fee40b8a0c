//! `copydesk loadtest` against an in-process server on the fixture translator (one-second
//! points): closed-loop clients and a Poisson rate, every request answered and counted, the
//! report's figures consistent with each other; bad points are usage errors (exit 2).

use std::process::Output;

use serde_json::Value;

use crate::common::model_dir;

fn loadtest(args: &[&str]) -> Output {
    crate::cli::copydesk(&[&["loadtest"], args].concat(), "")
}

#[test]
fn closed_and_open_loop_points_are_measured_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (json, md) = (dir.path().join("load.json"), dir.path().join("load.md"));
    let model = model_dir("marian-tied");
    let out = loadtest(&[
        "--translator",
        model.to_str().unwrap(),
        "--clients",
        "1,4",
        "--rates",
        "10",
        "--duration",
        "1s",
        "--out",
        json.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["format"], "copydesk-loadtest/1");
    assert!(report["machine"]["cpu_model"].is_string());
    let results = report["results"].as_array().unwrap();
    let loads: Vec<&Value> = results.iter().map(|r| &r["load"]).collect();
    assert_eq!(
        loads,
        [
            &serde_json::json!({"clients": 1}),
            &serde_json::json!({"clients": 4}),
            &serde_json::json!({"rate": 10.0})
        ]
    );
    for r in results {
        let f = |k: &str| r[k].as_f64().unwrap();
        assert_eq!(r["errors"], 0, "{r}");
        assert_eq!(r["sent"], r["ok"], "every request answered: {r}");
        assert!(f("ok") >= 1.0 && f("generated_tokens_per_s") > 0.0, "{r}");
        assert!(
            f("latency_p50_s") <= f("latency_p95_s") && f("latency_p95_s") <= f("latency_p99_s")
        );
        assert!((f("requests_per_s") - f("ok") / f("wall_s")).abs() < 1e-9);
        // The server computed during the point, and not for longer than it lasted.
        let busy = f("server_busy");
        assert!(busy > 0.0 && busy <= 1.05, "{r}");
    }
    // Poisson at 10/s for one second: a handful of arrivals, not a closed loop's hundreds.
    let arrivals = results[2]["sent"].as_u64().unwrap();
    assert!((1..=30).contains(&arrivals), "{arrivals}");
    // Four clients keep more requests in flight than one.
    assert!(results[1]["sent"].as_u64() >= results[0]["sent"].as_u64());
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(
        table.contains("| 4 clients |") && table.contains("| 10 req/s |"),
        "{table}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), table.trim());
}

#[test]
fn the_head_of_line_scenario_runs_alone_and_reports_its_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("hol.json");
    let model = model_dir("marian-tied");
    let out = loadtest(&[
        "--translator",
        model.to_str().unwrap(),
        "--head-of-line",
        "--hol-runs",
        "1",
        "--hol-delay",
        "5ms",
        "--scheduler",
        "static",
        "--out",
        json.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // --head-of-line alone runs no load points.
    assert_eq!(report["results"], serde_json::json!([]));
    assert_eq!(report["settings"]["scheduler"], "static");
    let h = &report["head_of_line"];
    assert!(h["error"].is_null(), "{h}");
    let f = |k: &str| h[k].as_f64().unwrap();
    for k in [
        "headline_alone_s",
        "bulk_alone_s",
        "headline_during_bulk_s",
        "bulk_with_headline_s",
    ] {
        assert!(f(k) > 0.0, "{k}: {h}");
    }
    assert!((f("headline_vs_bulk") - f("headline_during_bulk_s") / f("bulk_alone_s")).abs() < 1e-9);
    assert!(
        (f("bulk_slowdown") - (f("bulk_with_headline_s") / f("bulk_alone_s") - 1.0)).abs() < 1e-9
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("headline sent 0.0 s into the bulk request"),
        "{stdout}"
    );
}

#[test]
fn bad_points_and_urls_are_usage_errors() {
    for args in [
        &["--clients", "0"][..],
        &["--clients", "1", "--rates", "-2"],
        &["--duration", "0s"],
        &["--url", "https://example.org"],
    ] {
        let out = loadtest(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
