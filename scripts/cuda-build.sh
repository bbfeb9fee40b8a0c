#!/usr/bin/env bash
# Build copydesk with `--features cuda` on a machine that has no CUDA toolkit and no GPU driver,
# from NVIDIA's PyPI wheels, for a GPU machine that has the driver and a CUDA 13 runtime.
#
#   scripts/cuda-build.sh                 # release build -> target/cuda/release/copydesk (+ .xz)
#   scripts/cuda-build.sh --check         # cargo check --features cuda only (for code changes)
#   CUDA_COMPUTE_CAP=80 scripts/cuda-build.sh   # another GPU (default 90: H100/H200)
#
# What it does:
#   1. creates target/venv-cuda (ignored) with NVIDIA's CUDA 13.0 compiler, headers and libraries
#      from PyPI, every wheel pinned to CUDA 13.0 (about 1 GB downloaded once: nvcc, nvvm, crt,
#      nvrtc, cudart, cccl, cublas, curand). The pins matter: the PTX must load on a 580 driver
#      (CUDA 13.0), and a newer nvvm or crt pulled in unpinned emits PTX that 13.0's own ptxas
#      rejects (`Unsupported .version 9.5`).
#   2. puts that nvcc on PATH and sets CUDA_ROOT, CUDA_COMPUTE_CAP and CUDARC_CUDA_VERSION=13000
#      (cudarc's build script only accepts toolkit versions it lists);
#   3. runs cargo into its own target directory (target/cuda), so the CPU build is untouched.
#
# Linking: candle 0.11 asks cudarc (0.19) for `dynamic-linking`, so the binary links against
# libcuda, libcublas, libcublasLt, libcurand, libnvrtc and libcudart. A driverless machine has no
# libcuda and the wheels ship only versioned names, so the script makes, in target/cuda-link (on
# LIBRARY_PATH, not RUSTFLAGS, which would rebuild everything): unversioned links to the wheels'
# libcublas.so.13, libcublasLt.so.13, libcurand.so.10, libcudart.so.13, libnvrtc.so.13, and a
# link-time stub libcuda.so (soname libcuda.so.1, one empty function per `cu*` driver symbol
# cudarc declares: the approach of the CUDA toolkit's own lib/stubs). The stub is never loaded:
# at run time the loader finds the driver's real libcuda.so.1. On the GPU machine the other
# libraries must be on the loader's path too: the CUDA 13 runtime libraries of a PyTorch
# environment are found with
#   export LD_LIBRARY_PATH="$(python -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))'):$LD_LIBRARY_PATH"
# (scripts/gpu-bench.sh does this). Without them the binary stops at start with the loader's
# message naming the library it could not load.
#
# On a 2-core machine the first release build takes about 10 minutes (the CUDA kernels are
# compiled by nvcc); the binary is about 90 MB stripped and 23 MB xz-compressed, which is what
# travels to the GPU machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

mode=build
case "${1:-}" in
    --check) mode=check ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

venv="${CUDA_VENV:-$root/target/venv-cuda}"
target_dir="${CUDA_TARGET_DIR:-$root/target/cuda}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

wheels=(
    "nvidia-cuda-nvcc==13.0.88"
    "nvidia-nvvm==13.0.88"
    "nvidia-cuda-crt==13.0.88"
    "nvidia-cuda-nvrtc==13.0.88"
    "nvidia-cuda-runtime==13.0.96"
    "nvidia-cuda-cccl==13.0.85"
    "nvidia-cublas==13.0.2.14"
    "nvidia-curand==10.4.0.35"
)

if [[ ! -x "$venv/bin/python" ]]; then
    echo "cuda-build: creating $venv" >&2
    python3 -m venv "$venv"
fi
if ! "$venv/bin/pip" install --quiet --no-deps "${wheels[@]}"; then
    echo "cuda-build: could not install the CUDA 13.0 wheels from PyPI (network?)" >&2
    exit 2
fi

cuda_root="$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')"
if [[ ! -x "$cuda_root/bin/nvcc" ]]; then
    echo "cuda-build: no nvcc under $cuda_root" >&2
    exit 2
fi
export CUDA_ROOT="$cuda_root" CUDA_PATH="$cuda_root" CUDA_HOME="$cuda_root"
export PATH="$cuda_root/bin:$PATH"
export CUDARC_CUDA_VERSION=13000
nvcc --version | tail -n 2 >&2

# --- link-time libraries --------------------------------------------------------------------
link_dir="$root/target/cuda-link"
mkdir -p "$link_dir"
for lib in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudart.so.13 libnvrtc.so.13; do
    [[ -f "$cuda_root/lib/$lib" ]] || { echo "cuda-build: $cuda_root/lib/$lib is missing" >&2; exit 2; }
    ln -sf "$cuda_root/lib/$lib" "$link_dir/${lib%%.so*}.so"
done
# cudarc's driver declarations: from its unpacked source, or (on a machine that has not built
# it yet: `cargo fetch` only downloads) straight from the downloaded crate.
registry="${CARGO_HOME:-$HOME/.cargo}/registry"
cudarc_version=$(grep -A1 '^name = "cudarc"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
driver_decls() {
    local src
    src=$(ls -d "$registry"/src/*/"cudarc-$cudarc_version"/src/driver/sys/mod.rs 2>/dev/null | tail -n 1 || true)
    if [[ -n "$src" ]]; then
        cat "$src"
        return
    fi
    local crate
    crate=$(ls "$registry"/cache/*/"cudarc-$cudarc_version.crate" 2>/dev/null | tail -n 1 || true)
    if [[ -z "$crate" ]]; then
        cargo fetch --locked >/dev/null
        crate=$(ls "$registry"/cache/*/"cudarc-$cudarc_version.crate" | tail -n 1)
    fi
    tar -xzOf "$crate" "cudarc-$cudarc_version/src/driver/sys/mod.rs"
}
driver_decls | grep -oE '^\s+fn cu[A-Za-z0-9_]+\(' | grep -oE 'cu[A-Za-z0-9_]+' | sort -u \
    | sed 's/.*/void &(void) {}/' > "$link_dir/cuda_stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$link_dir/libcuda.so" "$link_dir/cuda_stub.c"
export LIBRARY_PATH="$link_dir${LIBRARY_PATH:+:$LIBRARY_PATH}"
echo "cuda-build: link stubs in $link_dir ($(wc -l < "$link_dir/cuda_stub.c") driver symbols)" >&2

if [[ "$mode" == check ]]; then
    exec cargo check --locked --features cuda --all-targets --target-dir "$target_dir"
fi

start=$(date +%s)
cargo build --locked --release --features cuda --bin copydesk --target-dir "$target_dir"
bin="$target_dir/release/copydesk"
strip -o "$bin.stripped" "$bin"
xz -T0 -6 -k -f "$bin.stripped"
echo "cuda-build: $bin ($(du -h "$bin.stripped" | cut -f1) stripped, $(du -h "$bin.stripped.xz" | cut -f1) as $bin.stripped.xz) in $(( $(date +%s) - start )) s" >&2
