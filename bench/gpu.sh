#!/usr/bin/env bash
# drill on a GPU machine: a kernel card's first compile and what Triton's cache saves, warm and
# cold checks (CPU and CUDA tests), the CUDA state of the warm grader, every card's reference, the
# whole bank warm (and cold with GPU_COLD=1), the kernel cards' speed reports and benchmark, and
# the grading tests. Run from the repository root; wheels for missing packages in .whl/.
# Usage: bash bench/gpu.sh OUTDIR [SECTION ...]   (default: all, in this order)
# Sections: references kernels speed bench cache attention bank tests. One device command may
# run 10 minutes: split the sections over calls (the first four fit one).
set -uo pipefail
out=${1:-/tmp/drill-gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 DRILL_HOME=/tmp/drill-gpu-home TRITON_CACHE_DIR=/tmp/drill-gpu-triton
rm -rf "$DRILL_HOME" "$TRITON_CACHE_DIR"
if [ -d .whl ]; then python3 -m pip install -q --no-index --find-links .whl sqlite-utils; fi
python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, torch.cuda.get_device_name())'
drill() { python3 -m drills "$@"; }
check() { # FILE CARD LABEL: one --json check, summarised
  drill check "$1" --card "$2" --json --no-record | python3 -c "import json, sys
d = json.load(sys.stdin)
print(f'{sys.argv[1]:34s} {d[\"status\"]:6s} {d[\"passed\"]:3d}/{d[\"passed\"] + d[\"failed\"]:<3d} on {d[\"device\"]:9s} {d[\"duration_s\"]:6.2f} s {d.get(\"message\", \"\")}')" "$3"
}
kernel=cards/gpu/softmax_triton/reference.py
attention=cards/llm/attention/reference.py
sections=${*:2}
sections=${sections:-references kernels speed bench cache attention bank tests}
timed() { # LABEL LOG COMMAND...: run, then one line with its exit, wall time and counts
  local label=$1 log=$2; shift 2
  local start=$(date +%s.%N)
  "$@" > "$log" 2>&1
  echo "$label: exit $?, $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s wall," \
    "$(grep -c '^ok' "$log") ok, $(grep -c '^PROBLEM' "$log") problems"
}

references() {
echo "== the bank's references, -j 16 (each card's reference on cpu and cuda)"
timed references "$out/bank-references.log" drill cards check --references-only -j 16
}

kernels() {
echo "== the Triton cards' whole self-test (references, blanks, mutants, alternatives), -j 16"
timed kernels "$out/bank-kernels.log" drill cards check -j 16 softmax_triton vector_add_triton \
  layernorm_triton matmul_triton flash_attention_triton
}

cache() {
echo "== softmax_triton: Triton's cache empty, then filled"
rm -rf "$TRITON_CACHE_DIR"
drill grader stop > /dev/null
drill grader start
check $kernel softmax_triton "warm, empty Triton cache"
check $kernel softmax_triton "warm, cache filled"
check $kernel softmax_triton "warm, cache filled"
pid=$(drill grader status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
echo "warm grader $pid: libcuda mappings: $(grep -c 'libcuda\.so' /proc/$pid/maps)"
nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader | grep -w "$pid" \
  && echo "the warm grader holds a CUDA context" || echo "the warm grader holds no CUDA context"
drill grader stop
rm -rf "$TRITON_CACHE_DIR"
DRILL_WARM=0 check $kernel softmax_triton "cold, empty Triton cache"
DRILL_WARM=0 check $kernel softmax_triton "cold, cache filled"
}

attention() {
echo "== attention (CPU and CUDA tests)"
check $attention attention "first check (starts a grader)"
for i in 1 2 3; do check $attention attention "warm"; done
for i in 1 2; do DRILL_WARM=0 check $attention attention "cold"; done
drill grader stop
}

bank() {
echo "== the bank, -j 16 (cold too with GPU_COLD=1)"
for mode in warm ${GPU_COLD:+cold}; do
  timed $mode "$out/bank-$mode.log" drill cards check -j 16 $([ $mode = cold ] && echo --cold)
done
}

speed() {
echo "== speed feedback: each kernel card's blind alternative (else its first), checked (and recorded), then drill list"
for c in softmax_triton vector_add_triton layernorm_triton matmul_triton flash_attention_triton; do
  f=$(ls cards/gpu/$c/alternatives/independent_*.py 2> /dev/null | head -1)
  f=${f:-$(ls cards/gpu/$c/alternatives/*.py | head -1)}
  echo "-- drill check $f --card $c"; drill check "$f" --card "$c" 2>&1 | head -4
done
drill list | sed -n '/GPU and systems/,$p'
}

bench() {
echo "== the kernel cards' references beside torch, other tile configs, the flash experiments (bench/kernels.py)"
python3 bench/kernels.py --sweep --variants
}

tests() {
echo "== grading tests"
python3 -m pytest -q -p no:cacheprovider tests/test_grading.py tests/test_warm.py 2>&1 | tail -3
}

for section in $sections; do $section; done
