"""Egomotion training without labels: egovideo -> curate -> ours_full / ours_rt / slfm, scored on a test render
and on held-out egovideo; ours_rt's L/R against curated clip count and walking share (issue 22 item 4;
docs/curation.md).

    .venv/bin/python benchmarks/bench_egomotion_training.py --out out/bench-ego
        [--train-scenes proc_000,proc_001] [--videos-per-scene 8] [--seconds 20] [--walk-speed 0.2]
        [--clips 30,60,120] [--shares pan,mix,walk] [--main-share mix] [--epochs 5] [--seeds 0]
        [--main-seeds 0] [--sweep-models ours_rt] [--results-dir DIR]
        [--mic NAME] [--egovideo-args "..."] [--render-args "..."] [--test-recipe seed000] [--render DIR]
        [--prepare-only] [--symmetry-only]

Steps (each a real ``simkit`` command, printed before it runs; re-runs resume):

1. ``simkit egovideo``: per training scene one pool of pan videos (random holds and pans, standing) and one
   of walking videos (the same with ``--walk-speed``), one speech source at a random position; a held-out
   pan pool and walk pool in ``--test-scene``. A video egovideo cannot place (no start pose) is skipped;
2. ``simkit curate`` three training sets from the same videos: ``pan`` (pan pools), ``walk`` (walk pools),
   ``mix`` (all), those that ``--shares`` and ``--main-share`` need; no label is used from here on;
3. ``simkit prepare video-folder`` the held-out pools (exact labels, all clips test) and ``simkit render``
   a test render (``--test-recipe``, default seed000: rotation and translation);
4. ``simkit bench --quick`` of iid, ours_full, ours_rt and slfm trained on ``--main-share`` (``--main-seeds``)
   and scored on every test set; then ``--sweep-models`` (ours_rt) on every (share, clip count): a nested,
   seeded subset of the curated train split (``OUT/subsets/``: the shards linked, the split files cut), so
   that val and the test sets stay whole (``--max-items`` would cap them too). A share is a curated set
   (``pan``, ``walk``, ``mix``) or ``mix:W``: the mix's clips with a walking share W (0-1), its clip count
   the largest that share allows;
5. for every sweep run, a diagnosis on its curated training clips, whose true azimuths come from
   egovideo's truth files: L/R accuracy of the trained network there; the rotation and translation losses
   at the true azimuths and at their left/right flip (what the loss can tell apart); and the gradient that
   each weighted term (0.9 rotation, 0.1 translation) sends to the predicted azimuths at the trained
   checkpoint. Tables: ``OUT/tables.md`` (``RESULTS/tables.md`` with ``--results-dir``), printed.

Conditions of the seed's in-the-wild sets: ``--mic NAME`` is passed to ``simkit egovideo`` and ``simkit
render`` (refused here when this simkit's ``egovideo --help`` offers no ``--mic``); ``--egovideo-args`` and
``--render-args`` pass further options as they are (e.g. ``--egovideo-args "--sources 3 --distractor-gain-db
-6,0 --noise-snr-db 5,20"`` where egovideo has those options; simkit itself refuses an option it does not
know; the diagnosis follows source 0, the target), and ``--test-recipe wild`` picks another render recipe.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from bench_direction_models import left_shares  # one side-share rule for both benchmarks (run from benchmarks/)

SIMKIT = [sys.executable, "-m", "simkit"]
METRICS = (("lr_accuracy", "L/R", "{:.3f}"), ("angle_error_mean", "angle err", "{:.1f}"),
           ("class4_accuracy", "4-class", "{:.3f}"))


def run(*args: str, check: bool = True) -> int:
    print("$ simkit " + " ".join(shlex.quote(a) for a in args), flush=True)
    return subprocess.run([*SIMKIT, *args], check=check).returncode


def offers(command: str, option: str) -> bool:
    """Whether ``simkit COMMAND --help`` lists ``option``."""
    text = subprocess.run([*SIMKIT, command, "--help"], capture_output=True, text=True).stdout
    return option in text


def egovideo(out: Path, videos: int, scene: str, seed: int, seconds: float, walk: float, extra: list[str]) -> None:
    """One pool; failed videos (no start pose) are skipped, as egovideo itself does (exit 2, the rest labelled)."""
    if (out / "egovideo.json").is_file():
        done = json.loads((out / "egovideo.json").read_text())
        if len(done.get("labelled", [])) + len(done.get("failed", {})) >= videos:
            return  # complete, or every missing video failed (a re-run fails again: same seed, same poses)
    run("egovideo", "--out", str(out), "--videos", str(videos), "--scene", scene, "--seed", str(seed),
             "--seconds", f"{seconds:g}", "--fps", "5", "--walk-speed", f"{walk:g}", "--no-progress", *extra,
             check=False)


def curated_counts(curated: Path) -> dict[str, int]:
    with open(curated / "curation.csv") as f:
        rows = list(csv.DictReader(f))
    out = {"candidates": sum(1 for r in rows if r["clip"])}
    for s in ("train", "val"):
        out[s] = sum(1 for r in rows if r["kept"] == "1" and r["split"] == s)
    return out


def clip_entries(curated: Path, split: str) -> list[str]:
    """Every clip of ``split`` as a split-file entry ``video#clip`` (curate lists whole videos)."""
    import h5py

    out = []
    for line in (curated / "splits" / f"{split}.txt").read_text().split():
        vid, _, idx = line.partition("#")
        if idx:
            out.append(line)
            continue
        with h5py.File(curated / "shards" / f"{vid}.h5", "r") as f:
            out += [f"{vid}#{i}" for i in range(len(f["meta/start_s"]))]
    return out


def parse_counts(text: str, available: int) -> list[int]:
    """``--clips`` items: a count, a fraction ``A/B`` of the available clips, or ``all``; capped, unique."""
    out = []
    for item in text.split(","):
        if item == "all":
            n = available
        elif "/" in item:
            a, b = item.split("/")
            n = int(round(available * int(a) / int(b)))
        else:
            n = int(item)
        n = max(1, min(n, available))
        if n not in out:
            out.append(n)
    return out


def subset(curated: Path, out: Path, entries: list[str]) -> Path:
    """A dataset reading ``curated``'s shards with the train split cut to ``entries`` (val and test as they
    are): the manifest copied, ``shards`` a link, the split files written last (atomic rename)."""
    if (out / "splits" / "train.txt").is_file():
        if (out / "splits" / "train.txt").read_text().split() != entries:
            raise SystemExit(f"error: {out} holds another subset (remove it)")
        return out
    (out / "splits").mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_bytes((curated / "manifest.json").read_bytes())
    if not (out / "shards").exists():
        (out / "shards").symlink_to((curated / "shards").resolve(), target_is_directory=True)
    for split in ("val", "test"):
        (out / "splits" / f"{split}.txt").write_bytes((curated / "splits" / f"{split}.txt").read_bytes())
    tmp = out / "splits" / ".train.txt.tmp"
    tmp.write_text("".join(e + "\n" for e in entries))
    tmp.replace(out / "splits" / "train.txt")
    return out


def sweep_sets(share: str, curated: dict[str, Path], video_dirs: dict[str, tuple[Path, str]], clips: str,
               root: Path) -> list[tuple[int, Path]]:
    """(clip count, dataset) of every sweep point of ``share``; nested
    seeded subsets (the smaller inside the larger), walking and pan clips drawn in the share's proportion."""
    base, _, w = share.partition(":")
    src = curated[base]
    entries = clip_entries(src, "train")
    rng = np.random.default_rng(0)
    if not w:
        order = [entries[i] for i in rng.permutation(len(entries))]
        return [(n, subset(src, root / f"{share}-{n}", sorted(order[:n])) if n < len(entries) else src)
                for n in parse_counts(clips, len(entries))]
    walk_share = float(w)
    if not 0 <= walk_share <= 1:
        raise SystemExit(f"error: --shares {share}: the walking share must be in [0, 1]")
    is_walk = {e: video_dirs[f"{base}/{e.split('#')[0]}"][0].name.startswith("walk-") for e in entries}
    walk = [e for e in entries if is_walk[e]]
    pan = [e for e in entries if not is_walk[e]]
    walk, pan = [walk[i] for i in rng.permutation(len(walk))], [pan[i] for i in rng.permutation(len(pan))]
    most = min(len(walk) / walk_share if walk_share else np.inf, len(pan) / (1 - walk_share) if walk_share < 1
               else np.inf)
    out = []
    for n in parse_counts(clips, int(most)):
        k = int(round(n * walk_share))
        out.append((n, subset(src, root / f"{base}-w{w}-{n}", sorted(walk[:k] + pan[:n - k]))))
    return out


def bench(model: str, data: Path, tests: list[Path], results: Path, epochs: int, seed: int,
          max_items: int | None = None) -> Path | None:
    """``simkit bench`` into its own results folder (skipped when it has a leaderboard); the run folder."""
    if not (results / "leaderboard.csv").is_file():
        extra = ["--max-items", str(max_items)] if max_items else []
        run("bench", "--model", model, "--data", str(data), "--test-data", ",".join(map(str, tests)),
            "--results", str(results), "--quick", "--epochs", str(epochs), "--seed", str(seed),
            "--device", "cpu", *extra)
    runs = sorted((results / "runs").glob("*"))
    return runs[-1] if runs else None


def test_rows(results: Path) -> dict[str, dict[str, float]]:
    """{test dataset: {metric: value}} of a run's leaderboard (test split)."""
    from simkit.bench.leaderboard import read_leaderboard

    out: dict[str, dict[str, float]] = {}
    for r in read_leaderboard(results / "leaderboard.csv"):
        if r["split"] == "test" and not r["is_reference"]:
            out.setdefault(r["dataset"].split("@")[0], {})[r["metric"]] = r["value"]
    return out


def truth_azimuths(video_dirs: dict[str, tuple[Path, str]], vid: str, starts: np.ndarray,
                   view_times: np.ndarray) -> np.ndarray:
    """True azimuth (deg) of source 0 at every view time of clips of video ``vid`` starting at ``starts``."""
    from simkit.render.egovideo import read_truth

    root, name = video_dirs[vid]
    times, _, _, az = read_truth(root, name)
    t = starts[:, None] + view_times[None, :]
    idx = np.clip(np.searchsorted(times, t), 0, len(times) - 1)
    return az[idx, 0]


def diagnose(run_dir: Path, curated: Path, video_dirs: dict[str, tuple[Path, str]]) -> dict[str, float]:
    """ours_rt on its own curated training clips: L/R against the truth, losses at the truth and its flip,
    and the gradient each weighted loss term sends to the predicted azimuths at the trained checkpoint."""
    import h5py
    import torch

    from simkit.bench.config import BenchConfig
    from simkit.bench.harness import make_loader
    from simkit.bench.tasks import get_task
    from simkit.config import from_dict
    from simkit.curate.pipeline import CurateConfig
    from simkit.models import get_model
    from simkit.models.direction.base import iid_pseudo_label, rotation_loss, translation_loss

    meta = json.loads((run_dir / "config.json").read_text())
    cfg = from_dict(BenchConfig, meta["config"])
    task = get_task("direction")
    info = task.data_info(curated, cfg)
    model = get_model(meta["model"]).build(cfg, info)
    model.load_state_dict(torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True)["model"])
    model.eval()
    lam1 = float(model.opts.lambda1)
    ds = task.open_split(curated, "train", cfg, False)
    view_times = CurateConfig(**{k: v for k, v in json.loads((curated / "manifest.json").read_text())["config"]
                                 .items() if k in ("clip_seconds", "views", "view_seconds")}).view_times()
    starts: dict[str, np.ndarray] = {}
    acc: dict[str, list[float]] = {}
    n_right, n_all = 0, 0
    n_iid_right, n_iid_fit, n_iid = 0, 0, 0  # the IID pseudo label (ours_full's third term) on the same crops
    for batch in make_loader(ds, cfg, torch.device("cpu"), False, task):
        vids, sets = [str(v) for v in batch["scene_id"]], np.asarray(batch["set_index"]).astype(int)
        for v in set(vids):
            if v not in starts:
                with h5py.File(curated / "shards" / f"{v}.h5", "r") as f:
                    starts[v] = np.asarray(f["meta/start_s"])
        true = np.stack([truth_azimuths(video_dirs, v, starts[v][[s]], view_times)[0]
                         for v, s in zip(vids, sets, strict=True)])
        th_true = torch.deg2rad(torch.as_tensor(true).float())
        ry, tr = batch["rel_yaw_deg"], batch["rel_translation"]
        theta = model.azimuth_rad(batch["audio"]).detach().requires_grad_(True)
        pred = np.rad2deg(theta.detach().numpy())
        keep = np.abs(np.sin(np.deg2rad(true))) > np.sin(np.deg2rad(5.0))  # lr_accuracy's median-plane rule
        n_right += int(((np.sin(np.deg2rad(pred)) > 0) == (np.sin(np.deg2rad(true)) > 0))[keep].sum())
        n_all += int(keep.sum())
        lab = iid_pseudo_label(batch["audio"]).numpy()
        has = keep & (lab != 0)
        n_iid_right += int(((lab > 0) == (np.sin(np.deg2rad(true)) > 0))[has].sum())
        n_iid_fit += int(((lab > 0) == (np.sin(np.deg2rad(pred)) > 0))[has].sum())
        n_iid += int(has.sum())
        for name, x in (("true", th_true), ("flip", -th_true)):
            acc.setdefault(f"rot_{name}", []).append(float(rotation_loss(x, ry, mirror=True)))
            acc.setdefault(f"trans_{name}", []).append(float(translation_loss(x, ry, tr)))
        g_rot = torch.autograd.grad(lam1 * rotation_loss(theta, ry, mirror=True), theta)[0]
        g_tr = torch.autograd.grad((1 - lam1) * translation_loss(theta, ry, tr), theta)[0]
        acc.setdefault("grad_rot", []).append(float(g_rot.abs().mean()))
        acc.setdefault("grad_trans", []).append(float(g_tr.abs().mean()))
        acc.setdefault("rot_pred", []).append(float(rotation_loss(theta.detach(), ry, mirror=True)))
        acc.setdefault("trans_pred", []).append(float(translation_loss(theta.detach(), ry, tr)))
        moved = torch.linalg.vector_norm(tr[..., [0, 2]].float(), dim=-1) > 1e-6
        acc.setdefault("moved_share", []).append(float(moved.float().mean()))
    out = {k: float(np.mean(v)) for k, v in acc.items()}
    out["train_lr"] = n_right / max(n_all, 1)
    out["iid_label_lr"] = n_iid_right / max(n_iid, 1)  # pseudo label's side against the truth
    out["iid_label_fit"] = n_iid_fit / max(n_iid, 1)  # trained network's side against the pseudo label
    out["train_views"] = n_all
    return out


def symmetry_check(n: int = 4000, seed: int = 0) -> str:
    """ours_rt's losses on exact two-view geometry: true azimuths against their left/right flip and a 180 deg
    shift, for a camera that walks straight ahead, walks while turning, or steps sideways (no network).
    Sources 1-4 m away in every direction; view 1 is moved 0.3-1 m and turned by a uniform yaw."""
    import torch

    from simkit.models.direction.base import rotation_loss, translation_loss

    rng = np.random.default_rng(seed)
    lines = ["| camera motion | trans loss true | flip | 180 deg shift | rot loss (mirror min) true | flip |",
             "|---|---|---|---|---|---|"]
    for name, yaw_max, lateral, forward in (("straight ahead, no turn", 0.0, 0.0, 1.0),
                                            ("ahead, turning up to 30 deg", 30.0, 0.0, 1.0),
                                            ("sideways, no turn", 0.0, 1.0, 0.0)):
        az0, r = rng.uniform(-np.pi, np.pi, n), rng.uniform(1, 4, n)
        src = np.stack([-np.sin(az0) * r, -np.cos(az0) * r], 1)  # (x, z); azimuth +90 = left = -x
        yaw = np.deg2rad(rng.uniform(-yaw_max, yaw_max, n))  # + = turned left
        t = np.stack([np.full(n, lateral), np.full(n, -forward)], 1) * rng.uniform(0.3, 1.0, n)[:, None]
        rel = src - t
        az1 = np.arctan2(-rel[:, 0], -rel[:, 1]) - yaw
        theta = torch.as_tensor(np.stack([az0, az1], 1)).float()
        ry = np.zeros((n, 2, 2))
        ry[:, 0, 1], ry[:, 1, 0] = np.rad2deg(yaw), -np.rad2deg(yaw)
        tr = np.zeros((n, 2, 2, 3))
        tr[:, 0, 1, 0], tr[:, 0, 1, 2] = t[:, 0], t[:, 1]
        c, s = np.cos(yaw), np.sin(yaw)  # view 0's position seen from view 1 (turned left by yaw)
        tr[:, 1, 0, 0], tr[:, 1, 0, 2] = -(c * t[:, 0] - s * t[:, 1]), -(s * t[:, 0] + c * t[:, 1])
        ry_t, tr_t = torch.as_tensor(ry), torch.as_tensor(tr)
        lt = [float(translation_loss(x, ry_t, tr_t)) for x in (theta, -theta, theta + np.pi)]
        lr = [float(rotation_loss(x, ry_t, mirror=True)) for x in (theta, -theta)]
        lines.append(f"| {name} | {lt[0]:.4f} | {lt[1]:.4f} | {lt[2]:.4f} | {lr[0]:.4f} | {lr[1]:.4f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/bench-ego"))
    ap.add_argument("--train-scenes", default="proc_000,proc_001")
    ap.add_argument("--videos-per-scene", type=int, default=8, help="per scene and pool (pan, walk)")
    ap.add_argument("--test-scene", default="proc_005")
    ap.add_argument("--test-videos", type=int, default=3, help="per held-out pool (pan, walk)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--walk-speed", type=float, default=0.2, help="m/s of the walking pools")
    ap.add_argument("--clips", default="30,60,120", help="sweep: training clips per run (counts, fractions "
                    "such as 1/4 of the share's clips, or all)")
    ap.add_argument("--shares", default="pan,mix,walk", help="sweep: training sets (pan, walk, mix, or mix:W "
                    "with a walking share W; empty: no sweep)")
    ap.add_argument("--sweep-models", default="ours_rt", help="sweep's models")
    ap.add_argument("--models", default="iid,ours_full,ours_rt,slfm", help="main table's models")
    ap.add_argument("--main-share", default="mix", choices=("pan", "walk", "mix"), help="main table's training set")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", default="0", help="bench seeds of the sweep")
    ap.add_argument("--main-seeds", default="0", help="bench seeds of the main table (iid: the first only)")
    ap.add_argument("--results-dir", type=Path, default=None, help="bench results and tables here (default "
                    "OUT/results and OUT/tables.md); e.g. a second folder to retrain after a code change")
    ap.add_argument("--render", type=Path, default=None, help="reuse this test render")
    ap.add_argument("--test-recipe", default="seed000", help="render recipe of the test render")
    ap.add_argument("--mic", default="", help="microphone model for egovideo and render (needs --mic there)")
    ap.add_argument("--egovideo-args", default="", help="more egovideo options, passed as they are")
    ap.add_argument("--render-args", default="", help="more render options, passed as they are")
    ap.add_argument("--symmetry-only", action="store_true", help="only print ours_rt's losses on exact "
                    "two-view geometry (true azimuths against their flips; no video, no network)")
    ap.add_argument("--prepare-only", action="store_true", help="stop after the videos, curated and test sets "
                    "(a later run without it resumes from them)")
    args = ap.parse_args()
    if args.symmetry_only:
        print(symmetry_check())
        return
    o = args.out
    ego_extra, render_extra = shlex.split(args.egovideo_args), shlex.split(args.render_args)
    if args.mic:
        for cmd in ("egovideo", "render"):
            if not offers(cmd, "--mic"):
                raise SystemExit(f"error: this simkit's `{cmd}` has no --mic option")
        ego_extra += ["--mic", args.mic]
        render_extra += ["--mic", args.mic]

    # 1. pools of videos (seed: a fixed hash of the pool's name)
    pools: dict[str, list[Path]] = {"pan": [], "walk": [], "test": []}
    for kind, scenes, n, key in (("pan", args.train_scenes.split(","), args.videos_per_scene, "pan"),
                                 ("walk", args.train_scenes.split(","), args.videos_per_scene, "walk"),
                                 ("pan", [args.test_scene], args.test_videos, "test"),
                                 ("walk", [args.test_scene], args.test_videos, "test")):
        for scene in scenes:
            d = o / "ego" / f"{key}-{kind}-{scene}"
            seed = int(hashlib.sha256(d.name.encode()).hexdigest()[:6], 16)
            egovideo(d, n, scene, seed, args.seconds, args.walk_speed if kind == "walk" else 0.0, ego_extra)
            if any((d / "videos").glob("*.mp4")):  # a pool whose every video failed (no start pose) is left out
                pools[key].append(d)
            else:
                print(f"# {d}: no video made, left out", flush=True)
    video_dirs: dict[str, tuple[Path, str]] = {}

    # 2. curated training sets (ids as curate makes them, to find each clip's truth)
    from simkit.curate.pipeline import discover, video_ids

    curated: dict[str, Path] = {}
    needed = {*(s.partition(":")[0] for s in filter(None, args.shares.split(","))), args.main_share}
    for share, dirs in (("pan", pools["pan"]), ("walk", pools["walk"]), ("mix", pools["pan"] + pools["walk"])):
        if share not in needed:
            continue
        inputs = [d / "videos" for d in dirs]
        curated[share] = o / f"curated-{share}"
        if not (curated[share] / "manifest.json").is_file():
            run("curate", *map(str, inputs), "--out", str(curated[share]), "--split", "0.8,0.2,0", "--no-progress")
        paths = discover(inputs)
        for p, vid in zip(paths, video_ids(paths), strict=True):
            video_dirs.setdefault(f"{share}/{vid}", (p.parent.parent, p.stem))

    # 3. labelled test sets
    tests = []
    for d in pools["test"]:
        lab = o / f"{d.name}-labelled"
        if not (lab / "manifest.json").is_file():
            run("prepare", "video-folder", str(d), "--out", str(lab), "--option", "split=0,0,1", "--option",
                "frames_per_clip=1", "--quiet")
        tests.append(lab)
    render = args.render or o / "render"
    if args.render is None:
        run("render", "--recipe", args.test_recipe, "--out", str(render), "--scenes", "10", "--sets-per-scene", "8",
            "--preset", "fast", "--no-views", "--quiet", *render_extra)
    tests.append(render)
    if args.prepare_only:
        print({s: curated_counts(c) for s, c in curated.items()})
        return

    # 4. main table: every model on the mix
    lines = [f"## Trained on curated `{args.main_share}` (no labels), scored on labelled test sets", ""]
    counts = {s: curated_counts(c) for s, c in curated.items()}
    lines.append("curated clips (train/val kept of candidates): " + ", ".join(
        f"{s} {c['train']}/{c['val']} of {c['candidates']}" for s, c in counts.items()))
    lines.append("")
    names = [t.name for t in tests]
    lines.append("| model | seed | " + " | ".join(f"{n} {m[1]}" for n in names for m in METRICS)
                 + " | predicted left (per test set) |")
    lines.append("|" + "---|" * (3 + len(names) * len(METRICS)))
    results = args.results_dir or o / "results"
    main_seeds = [int(s) for s in args.main_seeds.split(",")]
    vd_main = {k.split("/", 1)[1]: v for k, v in video_dirs.items() if k.startswith(f"{args.main_share}/")}
    diag_lines = ["", "## Diagnosis of the main table's egomotion runs on their curated training clips", "",
                  "| model | seed | train-clip L/R | IID pseudo label L/R (its side vs truth) | network vs IID label | "
                  "rot loss true / pred | trans loss true / flip / pred | mean abs grad 0.9 rot / 0.1 trans |",
                  "|---|---|---|---|---|---|---|---|"]
    for model in args.models.split(","):
        for seed in main_seeds[:1] if model == "iid" else main_seeds:
            res = results / (f"main-{args.main_share}-{model}" + (f"-s{seed}" if seed else ""))
            run_dir = bench(model, curated[args.main_share], tests, res, args.epochs, seed)
            rows, shares = test_rows(res), left_shares(run_dir) if run_dir else {}
            cells = [fmt.format(rows.get(n, {}).get(m, float("nan"))) for n in names for m, _, fmt in METRICS]
            lines.append(f"| {model} | {seed} | " + " | ".join(cells) + " | " + " / ".join(
                f"{v[0]:.2f}" for k, v in shares.items() if k.endswith(":test")) + " |")
            if model in ("ours_rt", "ours_full") and run_dir:
                d = diagnose(run_dir, curated[args.main_share], vd_main)
                diag_lines.append(
                    f"| {model} | {seed} | {d['train_lr']:.3f} | {d['iid_label_lr']:.3f} | {d['iid_label_fit']:.3f} | "
                    f"{d['rot_true']:.3f} / {d['rot_pred']:.3f} | {d['trans_true']:.4f} / {d['trans_flip']:.4f} / "
                    f"{d['trans_pred']:.4f} | {d['grad_rot']:.2e} / {d['grad_trans']:.2e} |")
    lines += diag_lines

    # 5. ours_rt sweep and diagnosis
    lines += ["", f"## {', '.join(args.sweep_models.split(','))} by curated clips and walking share", "",
              "| model | share | walking clips | train clips | seed | "
              + " | ".join(f"{n} L/R (predicted left)" for n in names)
              + " | train-clip L/R | rot loss true / flip | trans loss true / flip / pred | "
              "mean abs grad 0.9 rot / 0.1 trans | moved pairs |",
              "|" + "---|" * (10 + len(names))]
    diag_all = {}
    tag = {"ours_rt": "rt", "ours_full": "full"}
    for share in filter(None, args.shares.split(",")):
        base = share.partition(":")[0]
        vd = {k.split("/", 1)[1]: v for k, v in video_dirs.items() if k.startswith(f"{base}/")}
        for clips, data in sweep_sets(share, curated, video_dirs, args.clips, o / "subsets"):
            walking = sum(vd[e.split("#")[0]][0].name.startswith("walk-") for e in clip_entries(data, "train"))
            for model in args.sweep_models.split(","):
                for seed in (int(s) for s in args.seeds.split(",")):
                    res = results / f"{tag.get(model, model)}-{share.replace(':', '-w')}-{clips}-s{seed}"
                    run_dir = bench(model, data, tests, res, args.epochs, seed)
                    rows = test_rows(res)
                    d = diagnose(run_dir, data, vd)
                    diag_all[res.name] = d
                    shares = left_shares(run_dir)
                    lr = " | ".join(f"{rows.get(n, {}).get('lr_accuracy', float('nan')):.3f} (" + " ".join(
                        f"{v[0]:.2f}" for k, v in shares.items() if k.startswith(n + "@")) + ")" for n in names)
                    lines.append(
                        f"| {model} | {share} | {walking} | {clips} | {seed} | {lr} | "
                        f"{d['train_lr']:.3f} | {d['rot_true']:.3f} / {d['rot_flip']:.3f} | "
                        f"{d['trans_true']:.4f} / {d['trans_flip']:.4f} / {d['trans_pred']:.4f} | "
                        f"{d['grad_rot']:.2e} / {d['grad_trans']:.2e} | {d['moved_share']:.2f} |")
    lines += ["", "## ours_rt's losses on exact two-view geometry (no network)", "", symmetry_check()]
    text = "\n".join(lines)
    where = args.results_dir or o
    where.mkdir(parents=True, exist_ok=True)
    (where / "tables.md").write_text(text + "\n")
    (where / "diagnosis.json").write_text(json.dumps(diag_all, indent=2) + "\n")
    print("\n" + text)


if __name__ == "__main__":
    main()
