#!/usr/bin/env bash
# A prepared GPU check (issue 12, item 4; docs/scale.md "GPU check"): `simkit bench` of ours_full (direction)
# and clup (binauralize) for a fixed number of optimizer steps with CUDA + AMP, then the same steps on CPU.
# Reports items/s, peak GPU memory (torch's allocator), GPU utilisation (nvidia-smi sampled every 200 ms), the
# time the training loop waited on the DataLoader (loader wait, s and % of training time: a starved GPU) and
# checks that the training loss falls (mean of the last 10 % of steps < mean of the first 10 %). On CUDA it also
# runs ours_full and mono2binaural at their paper recipe (`--recipe paper`, issue 20) for PAPER_STEPS steps.
# Without a GPU the CUDA half is skipped with a message and the CPU half still runs, so the script is proven
# on any machine. Exit status: 0 = every run trained and its loss fell, 1 = a check failed, 2 = setup failed.
#
#   benchmarks/gpu_check.sh [DATA_DIR]
#
# DATA_DIR   a small render (default out/gpu-check-data). When it is missing and the engine is installed it is
#            rendered first (`simkit render --scenes 10 --sets-per-scene 4`); a machine without the engine
#            (e.g. the GPU image, Python 3.12) needs it carried along.
# Environment (all optional):
#   PYTHON       an interpreter that already has simkit installed; default: a fresh venv in $VENV
#   VENV         venv folder (default .venv-gpu-check); made with --system-site-packages so a GPU image's
#                CUDA torch is used as it is (simkit is installed with --no-deps next to it)
#   WHEELS       folder of wheels for an offline machine: missing packages are installed from it only
#   STEPS        optimizer steps per run (default 40); BATCH (16); WIDTH (32); OUT (out/gpu-check)
#   MAX_ITEMS    items per split (default 32: the final val/test scoring, clup's diffusion sampling included,
#                stays short); WORKERS DataLoader workers (default: simkit.bench.harness.loader_workers's
#                auto value per device: CUDA min(8, cores - 1), CPU 2)
#   DEVICES      "cuda cpu" (default) or a subset
#   PAPER        models run with `--recipe paper` (issue 20: each model's published widths, batch, optimiser
#                and schedule, simkit/bench/recipes.py) for PAPER_STEPS steps (default 40), as MODEL:TASK;
#                default "ours_full:direction mono2binaural:binauralize"; "" skips them
#   PAPER_DEVICES devices for the paper-recipe runs (default "cuda": at the published sizes a CPU run is slow)
#   PAPER_MAX_ITEMS items per split for them (default 0 = all: a published batch of 96-256 needs the items)
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
DATA=${1:-out/gpu-check-data}
OUT=${OUT:-out/gpu-check}
STEPS=${STEPS:-40}
MAX_ITEMS=${MAX_ITEMS:-32}
WORKERS=${WORKERS:-}
BATCH=${BATCH:-16}
WIDTH=${WIDTH:-32}
DEVICES=${DEVICES:-cuda cpu}
PAPER=${PAPER-ours_full:direction mono2binaural:binauralize}
PAPER_DEVICES=${PAPER_DEVICES:-cuda}
PAPER_STEPS=${PAPER_STEPS:-40}
PAPER_MAX_ITEMS=${PAPER_MAX_ITEMS:-0}
say() { echo "[gpu_check $(( $(date +%s) - T0 ))s] $*"; }
die() { say "error: $*"; exit 2; }

# ---------------------------------------------------------------- environment
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
else
  VENV=${VENV:-.venv-gpu-check}
  if [ ! -x "$VENV/bin/python" ]; then
    say "fresh venv $VENV (system site-packages visible)"
    ${BASE_PYTHON:-python3} -m venv --system-site-packages "$VENV" || die "could not create $VENV"
  fi
  PY=$VENV/bin/python
  PIP=("$PY" -m pip install -q --disable-pip-version-check)
  [ -n "${WHEELS:-}" ] && PIP+=(--no-index --find-links "$WHEELS")
  if "$PY" -c "import torch" 2>/dev/null; then
    say "torch $("$PY" -c 'import torch; print(torch.__version__)') found: simkit installed next to it (--no-deps)"
    "${PIP[@]}" --no-deps --no-build-isolation -e . || die "pip install -e . failed"
    # what `simkit bench` imports (pyproject's other dependencies are for rendering)
    missing=$("$PY" - <<'EOF'
import importlib.util
need = {"numpy": "numpy", "scipy": "scipy", "h5py": "h5py", "typer": "typer", "rich": "rich", "tqdm": "tqdm",
        "soxr": "soxr", "soundfile": "soundfile", "matplotlib": "matplotlib", "PIL": "pillow",
        "filelock": "filelock"}
print(" ".join(d for m, d in need.items() if importlib.util.find_spec(m) is None))
EOF
)
    if [ -n "$missing" ]; then
      say "installing missing packages: $missing"
      "${PIP[@]}" $missing || die "could not install: $missing (offline? pass WHEELS=folder of wheels)"
    fi
  else
    say "no torch in $PY: installing torch==2.13.0 (CPU wheel) and simkit with its dependencies"
    "${PIP[@]}" torch==2.13.0 && "${PIP[@]}" -e . || die "pip install failed"
  fi
fi
SIMKIT=("$PY" -m simkit)
"${SIMKIT[@]}" bench --help >/dev/null || die "simkit bench does not start with $PY"
say "python $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"

# ---------------------------------------------------------------- data
if [ ! -f "$DATA/manifest.json" ]; then
  say "no render in $DATA: rendering 10 scenes x 4 sets (needs the engine)"
  "${SIMKIT[@]}" render --out "$DATA" --scenes 10 --sets-per-scene 4 --visible-sources --workers 2 --quiet \
    || die "no render at $DATA and none could be made here: carry a small render along"
fi
say "data $DATA ($(du -sh "$DATA" | cut -f1))"

# ---------------------------------------------------------------- runs
HAVE_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
mkdir -p "$OUT"
RUNS=()
# one run per line: DEVICE MODEL:TASK RECIPE (quick = the smoke-test settings at WIDTH / BATCH / STEPS)
PLAN=""
for dev in $DEVICES; do
  for spec in ours_full:direction clup:binauralize; do PLAN+="$dev $spec quick"$'\n'; done
done
for dev in $PAPER_DEVICES; do
  for spec in $PAPER; do PLAN+="$dev $spec paper"$'\n'; done
done
while read -r dev spec recipe; do
  [ -n "$dev" ] || continue
  if [ "$dev" = cuda ] && [ "$HAVE_CUDA" != 1 ]; then
    say "SKIP cuda ($spec, $recipe recipe): torch sees no CUDA device here (nvidia-smi: $(command -v nvidia-smi || echo absent))"
    continue
  fi
  model=${spec%%:*}; task=${spec##*:}
  res="$OUT/results-$dev-$model-$recipe"
  rm -rf "$res"
  smi_pid=""
  if [ "$dev" = cuda ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 \
      > "$OUT/smi-$model-$recipe.csv" 2>/dev/null < /dev/null &
    smi_pid=$!
  fi
  workers=$WORKERS
  if [ -z "$workers" ]; then
    workers=$("$PY" -c "import torch; from simkit.bench.harness import loader_workers as w
print(w(-1, torch.device('$dev')))") || die "could not work out the loader workers"
  fi
  if [ "$recipe" = paper ]; then
    # the published width, batch, optimiser, learning rates and schedule (the recipe file cites each);
    # only the step count, the subset and the val items are the check's
    say "$model on $dev, paper recipe: $PAPER_STEPS steps, $workers loader workers"
    size=(--recipe paper --max-steps "$PAPER_STEPS" --max-items "$PAPER_MAX_ITEMS")
  else
    say "$model on $dev: $STEPS steps, batch $BATCH, width $WIDTH, $workers loader workers"
    # --quick's small features and lr 1e-3 (the loss must move within a few dozen steps), the real width and
    # batch; 2 val items per epoch keep clup's sampling short
    size=(--quick --width "$WIDTH" --batch-size "$BATCH" --max-steps "$STEPS" --max-items "$MAX_ITEMS")
  fi
  # patience high so only --max-steps ends training
  log="$OUT/log-$dev-$model-$recipe.txt"
  "${SIMKIT[@]}" bench --model "$model" --task "$task" --data "$DATA" --results "$res" --device "$dev" \
    "${size[@]}" --epochs 100000 --patience 100000 --val-items 2 --workers "$workers" --threads 0 > "$log" 2>&1 < /dev/null
  rc=$?
  [ -n "$smi_pid" ] && kill "$smi_pid" 2>/dev/null && wait "$smi_pid" 2>/dev/null
  [ $rc -eq 0 ] || { say "$model on $dev ($recipe) failed (rc $rc), last lines:"; tail -5 "$log"; }
  RUNS+=("$dev:$model:$recipe:$res:$rc")
done <<< "$PLAN"

# ---------------------------------------------------------------- report
"$PY" - "$OUT" "${RUNS[@]}" <<'EOF'
import glob, json, sys
from pathlib import Path
out, runs = Path(sys.argv[1]), sys.argv[2:]
rows, ok = [], True
for r in runs:
    dev, model, recipe, res, rc = r.split(":")
    m = sorted(glob.glob(f"{res}/runs/*/metrics.json"))
    if rc != "0" or not m:
        rows.append({"device": dev, "model": model, "recipe": recipe, "ok": False, "error": f"rc {rc}"})
        ok = False
        continue
    h = json.loads(Path(m[-1]).read_text())["history"]
    items, secs = sum(e["items"] for e in h), sum(e["train_seconds"] for e in h)
    first, last = h[0]["train_loss_first"], h[-1]["train_loss_last"]
    row = {"device": dev, "model": model, "recipe": recipe, "steps": h[-1]["steps"], "items": items, "train_seconds": round(secs, 2),
           "items_per_s": round(items / secs, 2), "peak_gpu_mem_mb": round(max(e["peak_gpu_mem_mb"] for e in h), 1),
           "loader_wait_s": round(sum(e.get("loader_wait_s", float("nan")) for e in h), 2),
           "loader_workers": h[-1].get("loader_workers"),
           "loss_first": round(first, 4), "loss_last": round(last, 4), "loss_falls": last < first}
    smi = out / f"smi-{model}-{recipe}.csv"
    if dev == "cuda" and smi.is_file():
        util = [float(x.split(",")[0]) for x in smi.read_text().split("\n") if x.strip()]
        mem = [float(x.split(",")[1]) for x in smi.read_text().split("\n") if x.strip()]
        if util:
            row |= {"gpu_util_mean_pct": round(sum(util) / len(util), 1), "gpu_util_max_pct": max(util),
                    "smi_mem_max_mb": max(mem), "smi_samples": len(util)}
    row["ok"] = row["loss_falls"]
    ok &= row["ok"]
    rows.append(row)
for a in rows:
    if a["device"] == "cpu":
        gpu = next((b for b in rows if b["device"] == "cuda" and b["model"] == a["model"]
                    and b["recipe"] == a["recipe"] and "items_per_s" in b), None)
        if gpu and "items_per_s" in a:
            gpu["speedup_vs_cpu"] = round(gpu["items_per_s"] / a["items_per_s"], 2)
print(f"{'device':<7}{'model':<14}{'recipe':<7}{'steps':>6}{'items/s':>9}{'peak MB':>9}{'util %':>8}{'wait s':>8}{'wait %':>7}"
      f"{'workers':>8}{'loss first':>11}{'last':>8}  ok")
for r in rows:
    if "items_per_s" not in r:
        print(f"{r['device']:<7}{r['model']:<14}{r['recipe']:<7}  FAILED ({r['error']})"); continue
    print(f"{r['device']:<7}{r['model']:<14}{r['recipe']:<7}{r['steps']:>6}{r['items_per_s']:>9.2f}{r['peak_gpu_mem_mb']:>9.1f}"
          f"{r.get('gpu_util_mean_pct', float('nan')):>8.1f}{r['loader_wait_s']:>8.2f}"
          f"{100 * r['loader_wait_s'] / max(r['train_seconds'], 1e-9):>7.1f}{r['loader_workers']!s:>8}"
          f"{r['loss_first']:>11.4f}{r['loss_last']:>8.4f}  {r['ok']}")
print("wait = seconds the training loop waited on the DataLoader for a batch (summed over epochs; the run's "
      "history, loader_wait_s), % of training time")
(out / "gpu_check.json").write_text(json.dumps({"runs": rows, "ok": ok}, indent=1))
print(f"wrote {out / 'gpu_check.json'}; all checks passed: {ok}")
sys.exit(0 if ok else 1)
EOF
status=$?
say "done in $(( $(date +%s) - T0 )) s"
exit $status
