//! Which kernel family runs: chosen once from what the CPU reports, or forced lower with
//! `COPYDESK_KERNELS` (so the AVX2 and portable paths are also tested on an AVX-512 machine).

use std::sync::OnceLock;

/// Environment variable that forces a kernel family: `portable`, `avx2`, `avxvnni`, `avx512`.
pub const KERNELS_ENV: &str = "COPYDESK_KERNELS";

/// Kernel families, lowest first; each needs what the ones below it need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust (the compiler's baseline vectorization).
    Portable,
    /// AVX2 + FMA (256-bit).
    Avx2,
    /// AVX2 + FMA + AVX-VNNI (`vpdpbusd` on 256-bit registers): the 8-bit kernel uses it.
    AvxVnni,
    /// AVX-512F (f32); the 8-bit kernel uses AVX-512 VNNI where the CPU has it.
    Avx512,
}

/// The 8-bit kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Q8Kernel {
    /// The same arithmetic, one element at a time.
    Portable,
    /// `vpmaddubsw` + `vpmaddwd` on `|w|` and `x · sign(w)` (no 16-bit saturation).
    Avx2,
    /// `vpdpbusd` on 256-bit registers.
    AvxVnni,
    /// `vpdpbusd` on 512-bit registers.
    Avx512Vnni,
}

impl Q8Kernel {
    /// Whether this CPU runs the kernel: some family it has chooses it (or it is portable).
    pub fn available(self) -> bool {
        self == Q8Kernel::Portable || Isa::ALL.iter().any(|i| i.available() && i.q8() == self)
    }

    pub fn name(self) -> &'static str {
        match self {
            Q8Kernel::Portable => "portable",
            Q8Kernel::Avx2 => "avx2",
            Q8Kernel::AvxVnni => "avxvnni",
            Q8Kernel::Avx512Vnni => "avx512vnni",
        }
    }
}

impl Isa {
    /// Every family, lowest first.
    pub const ALL: [Isa; 4] = [Isa::Portable, Isa::Avx2, Isa::AvxVnni, Isa::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }

    /// What the family needs, as the CPU flags are called.
    pub fn needs(self) -> &'static str {
        match self {
            Isa::Portable => "nothing",
            Isa::Avx2 => "avx2 and fma",
            Isa::AvxVnni => "avx2, fma and avx_vnni",
            Isa::Avx512 => "avx512f",
        }
    }

    /// Whether this CPU can run the family.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            match self {
                Isa::Portable => true,
                Isa::Avx2 => avx2,
                Isa::AvxVnni => avx2 && has!("avxvnni"),
                Isa::Avx512 => avx2 && has!("avx512f"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Portable
        }
    }

    /// The best family this CPU runs.
    pub fn detected() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|i| i.available())
            .unwrap_or(Isa::Portable)
    }

    /// The family in use: the detected one, or `COPYDESK_KERNELS` when it names one the CPU
    /// runs (a family the CPU lacks, or an unknown name, is reported once on stderr and the
    /// detected family is used). Read once per process.
    pub fn active() -> Isa {
        static ACTIVE: OnceLock<Isa> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let detected = Isa::detected();
            let Ok(asked) = std::env::var(KERNELS_ENV) else {
                return detected;
            };
            match Isa::parse(&asked) {
                Some(isa) if isa.available() => isa,
                Some(isa) => {
                    eprintln!(
                        "copydesk: {KERNELS_ENV}={asked}: this CPU lacks {} ({} kernels run)",
                        isa.needs(),
                        detected.name()
                    );
                    detected
                }
                None => {
                    eprintln!(
                        "copydesk: {KERNELS_ENV}={asked} is not one of portable, avx2, avxvnni, \
                         avx512 ({} kernels run)",
                        detected.name()
                    );
                    detected
                }
            }
        })
    }

    /// At least AVX2 + FMA.
    pub fn avx2(self) -> bool {
        self >= Isa::Avx2
    }

    /// The 8-bit kernel of this family on this CPU: the widest VNNI the family allows, else
    /// AVX2.
    pub fn q8(self) -> Q8Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            match self {
                Isa::Portable => Q8Kernel::Portable,
                Isa::Avx512 if has!("avx512vnni") => Q8Kernel::Avx512Vnni,
                Isa::Avx512 | Isa::AvxVnni if has!("avxvnni") => Q8Kernel::AvxVnni,
                _ => Q8Kernel::Avx2,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Q8Kernel::Portable
        }
    }
}

/// What ran, per kind of kernel, for reports read on another machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelReport {
    /// f32 dense layers: `avx512`, `avx2`, or `portable` (candle's GEMM and plain loops).
    pub dense_f32: String,
    /// 8-bit dense layers (`--dtype q8`): `avx512vnni`, `avxvnni`, `avx2`, `portable`.
    pub dense_q8: String,
    /// Attention and softmax: `avx2` or `portable`.
    pub attention: String,
}

impl KernelReport {
    /// The kernels of the active family.
    pub fn active() -> Self {
        let isa = Isa::active();
        let dense_f32 = match isa {
            Isa::Portable => "portable",
            Isa::Avx2 | Isa::AvxVnni => "avx2",
            Isa::Avx512 => "avx512",
        };
        Self {
            dense_f32: dense_f32.into(),
            dense_q8: isa.q8().name().into(),
            attention: if isa.avx2() { "avx2" } else { "portable" }.into(),
        }
    }
}

/// Runs `f` once per family this CPU has, printing `skipped: <kernel> needs <feature>` for the
/// others (tests: no path passes silently).
#[cfg(test)]
pub(crate) fn for_each_isa(kernel: &str, mut f: impl FnMut(Isa)) {
    for isa in Isa::ALL {
        if isa.available() {
            f(isa);
        } else {
            println!("skipped: {kernel} {} needs {}", isa.name(), isa.needs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_by_capability() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse("AVX2"), Some(Isa::Avx2));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Portable.available());
        assert!(Isa::detected().available());
        // Every family the CPU has chooses an 8-bit kernel the CPU has, and only the portable
        // family chooses the portable kernel.
        for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
            assert!(isa.q8().available(), "{}", isa.name());
            assert_eq!(isa.q8() == Q8Kernel::Portable, isa == Isa::Portable);
        }
    }
}
