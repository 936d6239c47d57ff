#!/usr/bin/env bash
# The GPU check: on a machine with a real GPU and nothing but Node.js/npm, in about 8 minutes,
#   1. the WebGPU tests (kernels against the CPU, both families, default limits),
#   2. `deno task bench --json` (matmul, scan, attention, dispatches, steps, peak memory),
#   3. 200 steps of `exp:parity --preset paper` (GPT-2 and Mamba at the paper's size), steps/s,
# everything written under the folder given as the argument, with the adapter line first.
# Usage: bench/gpu.sh OUT_DIR [--quick]   (--quick: bench --quick, 50 parity steps)
set -u
out=${1:?usage: bench/gpu.sh OUT_DIR [--quick]}
quick=0
[ "${2:-}" = "--quick" ] && quick=1
cd "$(dirname "$0")/.." || exit 2
mkdir -p "$out" || exit 2
export NO_COLOR=1 XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
deno=(npx -y deno@2.9.6)
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
} | tee "$out/machine.txt"

step() { # name, timeout (s), command...
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - t0)) s" | tee -a "$out/steps.txt"
  return $rc
}

tests=(tests/webgpu_basic_test.ts tests/webgpu_runtime_test.ts tests/matmul_test.ts
  tests/attention_test.ts tests/scan_test.ts tests/norm_conv_adam_test.ts
  tests/nn_webgpu_test.ts tests/dispatch_count_test.ts)
step tests 240 "${deno[@]}" test -A "${tests[@]}"
grep -E "^(ok|FAILED) \|" "$out/tests.log" | tail -n 1
bench=(task bench --json "$out/bench.json")
[ $quick -eq 1 ] && bench+=(--quick)
step bench 180 "${deno[@]}" "${bench[@]}"
grep -m1 "adapter" "$out/bench.log"
steps=200
[ $quick -eq 1 ] && steps=50
step parity 180 "${deno[@]}" task exp:parity --preset paper --models transformer,mamba \
  --seeds 1 --steps "$steps" --fractions 1 --no-baselines --out "$out/parity"
grep -E "steps/s" "$out/parity.log" | tail -n 2
echo "wrote $out (machine.txt, steps.txt, tests.log, bench.json, bench.log, parity.log, parity/)"
