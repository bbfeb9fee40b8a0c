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
# No link-time CUDA libraries are needed: candle 0.11's cudarc (0.19) loads libcuda, libcublas,
# libcublasLt, libcurand and libnvrtc at run time (dlopen). On the GPU machine they must be on
# the loader's path: the driver's libcuda.so.1 is; the CUDA 13 runtime libraries of a PyTorch
# environment are found with
#   export LD_LIBRARY_PATH="$(python -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))'):$LD_LIBRARY_PATH"
# (scripts/gpu-bench.sh does this). Without them the binary stops with cudarc's message naming
# the library it could not load.
#
# On a 2-core machine the release build takes about 20 minutes (the CUDA kernels are compiled to
# PTX by nvcc); the stripped binary is compressed with xz for the trip to the GPU machine.
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

if [[ "$mode" == check ]]; then
    exec cargo check --locked --features cuda --all-targets --target-dir "$target_dir"
fi

start=$(date +%s)
cargo build --locked --release --features cuda --bin copydesk --target-dir "$target_dir"
bin="$target_dir/release/copydesk"
strip -o "$bin.stripped" "$bin"
xz -T0 -6 -k -f "$bin.stripped"
echo "cuda-build: $bin ($(du -h "$bin.stripped" | cut -f1) stripped, $(du -h "$bin.stripped.xz" | cut -f1) as $bin.stripped.xz) in $(( $(date +%s) - start )) s" >&2
