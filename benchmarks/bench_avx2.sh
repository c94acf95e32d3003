#!/usr/bin/env bash
# The training-step table of bench_train_steps.py as an AVX2 machine would give it, run on
# an AVX-512 one: OpenBLAS uses its Haswell (AVX2) kernels, NumPy drops its AVX-512 loops,
# and PyTorch's own kernels (ATen) and convolutions (oneDNN) are held to AVX2. The caches,
# memory and clock stay this machine's, so it shows what the instruction set alone changes.
#   bash benchmarks/bench_avx2.sh [bench_train_steps.py options]
set -euo pipefail
here=$(dirname "$0")
if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    echo "bench_avx2.sh: this CPU has no AVX2 (or no /proc/cpuinfo): nothing to emulate" >&2
    exit 1
fi
# The AVX-512 features this NumPy found on this CPU (NumPy refuses to disable others).
avx512=$(python -c "from numpy._core._multiarray_umath import __cpu_features__ as f; print(','.join(k for k, on in f.items() if on and k.startswith('AVX512')))")
echo "emulating AVX2: OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 NPY_DISABLE_CPU_FEATURES=${avx512:-(none)}"
OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \
    NPY_DISABLE_CPU_FEATURES="$avx512" exec python "$here/bench_train_steps.py" "$@"
