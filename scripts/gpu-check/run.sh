#!/usr/bin/env bash
# Runs the OpenCL checks on a machine with a GPU, from what pack.sh put in .device/ (no JDK or build tools needed
# there): the devices and whether the kernels build, the OpenCL tests (kernels against their float64 references,
# end to end against the CPU), each v2 kernel's time (OpenClBenchmark), and bench --backends cpu,opencl at 8K and 32K
# on a synthetic Llama-3.2-1B-shaped Q8_0 file. One file per phase goes to RESULTS_DIR.
# Usage, from the checkout's root: scripts/gpu-check/run.sh RESULTS_DIR [PHASES]
#   PHASES: comma-separated, of devices, tests, kernels, bench (default all four, in that order)
set -uo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
RESULTS="${1:?usage: scripts/gpu-check/run.sh RESULTS_DIR [devices,tests,kernels,bench]}"
mkdir -p "$RESULTS" && RESULTS="$(cd "$RESULTS" && pwd)"
PHASES=",${2:-devices,tests,kernels,bench},"
for p in ${PHASES//,/ }; do
  case "$p" in devices|tests|kernels|bench) ;; *) echo "run: unknown phase '$p' (expected devices, tests, kernels, bench)" >&2; exit 2 ;; esac
done
cd "$(dirname "$SELF")/../.."
ROOT="$PWD"
D="$ROOT/.device"
[ -f "$D/jdk.tgz" ] || { echo "run: $D/jdk.tgz is missing: run scripts/gpu-check/pack.sh on the build machine first" >&2; exit 1; }
WORK="${TMPDIR:-/tmp}/gpu-check"
mkdir -p "$WORK"
[ -x "$WORK/jdk/bin/java" ] || tar xzf "$D/jdk.tgz" -C "$WORK"
JAVA="$WORK/jdk/bin/java"

# OpenCL: the ICD loader packed from the build machine; the driver's ICD entry, written here when the system has none.
if ! ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
  lib="$( (ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1/ {print $NF; exit}'; \
           ls /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 2>/dev/null) | head -1)"
  if [ -n "$lib" ]; then
    mkdir -p "$WORK/vendors" && echo "$lib" > "$WORK/vendors/nvidia.icd"
    export OCL_ICD_VENDORS="$WORK/vendors"
  else
    echo "run: no /etc/OpenCL/vendors/*.icd and no libnvidia-opencl.so.1 found: OpenCL will see no platform" | tee "$RESULTS/opencl-setup.txt"
  fi
fi
export TOKENBUTLER_ROOT="$ROOT" TOKENBUTLER_SHARED="$D/shared"
# The launcher's JVM flags (it cannot run here: it builds with Maven first), and the packed ICD loader.
JVM_FLAGS=()
eval "$(grep '^JVM_FLAGS=' "$ROOT/tokenbutler")"
[ "${#JVM_FLAGS[@]}" -gt 0 ] || { echo "run: no JVM_FLAGS=(...) line in $ROOT/tokenbutler" >&2; exit 1; }
FLAGS=("${JVM_FLAGS[@]}" -Dorg.lwjgl.opencl.libname="$D/opencl/libOpenCL.so.1")
[ -f "$WORK/jdk/lib/libjsig.so" ] && export LD_PRELOAD="$WORK/jdk/lib/libjsig.so"
TOOLS_CP="$D/lib/*"
TEST_CP="$D/plugin-test-classes:$D/lib-test/*:$D/runner"

phase() { # name, timeout seconds
  local name="$1" limit="$2"
  case "$PHASES" in *",$name,"*) ;; *) return 0 ;; esac
  local t0=$SECONDS
  echo "== $name" | tee "$RESULTS/$name.txt"
  GPU_CHECK_PHASE="$name" timeout "$limit" "$SELF" "$RESULTS" "$name" 2>&1 | tee -a "$RESULTS/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "== $name: rc $rc, $((SECONDS - t0)) s" | tee -a "$RESULTS/$name.txt" "$RESULTS/summary.txt"
}
tools() { "$JAVA" "${FLAGS[@]}" -cp "$TOOLS_CP" io.github.tokenbutler.tools.Main "$@"; }
kernels() {
  for c in 8192 32768; do "$JAVA" "${FLAGS[@]}" -Xmx16g -cp "$TEST_CP" io.github.tokenbutler.plugin.opencl.OpenClBenchmark "$c" 30 kv v2 || return; done
}
bench() {
  local m="$WORK/llama-1b-q8_0.gguf" p="$WORK/llama-1b.butler-v2-f16.gguf"
  [ -f "$m" ] || tools synth --preset llama-3.2-1b --type Q8_0 "$m" || return
  [ -f "$p" ] || tools synth-predictor --arch v2 --type F16 --model "$m" --out "$p" || return
  tools bench --model "$m" --context 8192,32768 --attention tokenbutler --attention-opt sparsity=0.75 \
      --attention-opt predictor="$p" --attention-opt gqa=kv --attention-opt mirror=f16 --backends cpu,opencl \
      --steps 16 --warmup 3 --rounds 2
}

devices() { tools devices --build; }
tests() { "$JAVA" "${FLAGS[@]}" -cp "$TEST_CP" RunTests "$D/plugin-test-classes" '.*OpenCl.*Test'; }

# A phase runs as this script again (timeout needs a command, not a function).
case "${GPU_CHECK_PHASE:-}" in
  devices|tests|kernels|bench) "$GPU_CHECK_PHASE"; exit ;;
esac
{ command -v nvidia-smi >/dev/null && nvidia-smi -L; uname -m; nproc; } > "$RESULTS/machine.txt" 2>&1
: > "$RESULTS/summary.txt"
phase devices 120
phase tests 300
phase kernels 180
phase bench 400
cat "$RESULTS/summary.txt"
