//! What a report records about where it ran: the machine (CPU, ISA flags, memory, GPU) and the
//! software (version, commit, candle, features), plus peak resident memory.

use crate::models::cpu::isa::KernelReport;
use candle_core::Device;

use super::report::{Gpu, Machine, Software};

/// ISA flags worth comparing between machines, as `/proc/cpuinfo` names them.
const X86_FLAGS: [&str; 14] = [
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
];
const ARM_FLAGS: [&str; 7] = ["asimd", "asimddp", "fphp", "bf16", "i8mm", "sve", "sve2"];

/// The machine this process runs on; `threads` is the number of CPU threads the run uses.
pub fn machine(device: &Device, threads: usize) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Machine {
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpu_model: cpu_model(&cpuinfo),
        logical_cpus: std::thread::available_parallelism().map_or(1, usize::from),
        physical_cores: physical_cores(&cpuinfo),
        cores_used: threads,
        isa_flags: isa_flags(&cpuinfo),
        memory_bytes: meminfo_total(),
        gpu: gpu(device),
    }
}

fn cpu_model(cpuinfo: &str) -> String {
    ["model name", "Model", "Hardware", "CPU part"]
        .iter()
        .find_map(|k| field(cpuinfo, k))
        .unwrap_or_else(|| "unknown".into())
}

/// The first `key : value` line of `/proc/cpuinfo` with this key.
fn field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

fn physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = std::collections::BTreeSet::new();
    let mut package = String::new();
    for l in cpuinfo.lines() {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim() {
                "physical id" => package = v.trim().to_string(),
                "core id" => {
                    cores.insert((package.clone(), v.trim().to_string()));
                }
                _ => {}
            }
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

fn isa_flags(cpuinfo: &str) -> Vec<String> {
    let from_cpuinfo = field(cpuinfo, "flags").or_else(|| field(cpuinfo, "Features"));
    match from_cpuinfo {
        Some(flags) => {
            let have: std::collections::HashSet<&str> = flags.split_whitespace().collect();
            X86_FLAGS
                .iter()
                .chain(ARM_FLAGS.iter())
                .filter(|f| have.contains(*f))
                .map(|f| f.to_string())
                .collect()
        }
        None => compiled_flags(),
    }
}

/// Without `/proc/cpuinfo` (macOS, Windows): what candle detects.
fn compiled_flags() -> Vec<String> {
    let mut v = Vec::new();
    if candle_core::utils::with_avx() {
        v.push("avx2".to_string());
    }
    if candle_core::utils::with_f16c() {
        v.push("f16c".to_string());
    }
    if candle_core::utils::with_neon() {
        v.push("asimd".to_string());
    }
    v
}

fn meminfo_total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&meminfo, "MemTotal")
}

/// A `Key:   123 kB` line of a `/proc` file, in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kib * 1024)
    })
}

fn gpu(device: &Device) -> Option<Gpu> {
    match device {
        Device::Cpu => None,
        Device::Cuda(_) => Some(nvidia_smi().unwrap_or_else(|| Gpu {
            name: "cuda".into(),
            memory_bytes: None,
            driver: None,
        })),
        Device::Metal(_) => Some(Gpu {
            name: "metal".into(),
            memory_bytes: None,
            driver: None,
        }),
    }
}

fn nvidia_smi() -> Option<Gpu> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut parts = text.lines().next()?.split(',').map(str::trim);
    let name = parts.next()?.to_string();
    let memory_bytes = parts
        .next()
        .and_then(|m| m.parse::<u64>().ok())
        .map(|mib| mib * 1024 * 1024);
    let driver = parts.next().map(str::to_string);
    Some(Gpu {
        name,
        memory_bytes,
        driver,
    })
}

/// This build: version, commit, candle version and enabled features.
pub fn software(dtype: &str, threads: usize, device: &str) -> Software {
    let mut features = Vec::new();
    if cfg!(feature = "cuda") {
        features.push("cuda".to_string());
    }
    if cfg!(feature = "metal") {
        features.push("metal".to_string());
    }
    if candle_core::utils::has_mkl() {
        features.push("mkl".to_string());
    }
    if candle_core::utils::has_accelerate() {
        features.push("accelerate".to_string());
    }
    if cfg!(debug_assertions) {
        features.push("debug-build".to_string());
    }
    Software {
        engine: "copydesk".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(),
        backend: "candle".into(),
        backend_version: candle_version().unwrap_or_else(|| "unknown".into()),
        features,
        dtype: dtype.to_string(),
        threads,
        device: device.to_string(),
        kernels: (device == "cpu").then(KernelReport::active),
    }
}

/// The candle-core version this binary was built with, from the lock file.
fn candle_version() -> Option<String> {
    let lock = include_str!("../../Cargo.lock");
    let at = lock.find("name = \"candle-core\"")?;
    let rest = &lock[at..];
    let line = rest.lines().nth(1)?;
    Some(
        line.strip_prefix("version = ")?
            .trim_matches('"')
            .to_string(),
    )
}

/// `COPYDESK_GIT_COMMIT` at build time (what `benches/peers/run_all.sh` sets), else the source
/// tree's `git rev-parse` now (with `-dirty` for uncommitted changes), marked as read at run time:
/// the binary may be older than the tree.
fn git_commit() -> Option<String> {
    if let Some(c) = option_env!("COPYDESK_GIT_COMMIT") {
        return Some(c.to_string());
    }
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let dirty = if dirty { "-dirty" } else { "" };
    Some(format!("{head}{dirty} (source tree at run time)"))
}

/// Resets the kernel's peak-RSS counter of this process (Linux); false when not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident memory of this process (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nmodel name\t: Test CPU @ 2.0GHz\nphysical id\t: 0\n\
        core id\t\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f\n\nprocessor\t: 1\n\
        physical id\t: 0\ncore id\t\t: 0\n\nprocessor\t: 2\nphysical id\t: 0\ncore id\t\t: 1\n";

    #[test]
    fn cpuinfo_fields() {
        assert_eq!(cpu_model(CPUINFO), "Test CPU @ 2.0GHz");
        assert_eq!(physical_cores(CPUINFO), Some(2));
        assert_eq!(
            isa_flags(CPUINFO),
            vec!["sse4_2", "avx", "avx2", "fma", "avx512f"]
        );
        assert_eq!(
            kib_field("VmHWM:\t  2048 kB\n", "VmHWM"),
            Some(2 * 1024 * 1024)
        );
        assert_eq!(kib_field("VmHWMx: 1 kB", "VmHWM"), None);
    }

    #[test]
    fn build_facts() {
        let v = candle_version().unwrap();
        assert!(v.starts_with("0."), "{v}");
        let s = software("f32", 2, "cpu");
        assert_eq!((s.engine.as_str(), s.threads), ("copydesk", 2));
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 0);
        }
    }
}
