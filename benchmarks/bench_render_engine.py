"""Cost and accuracy of the RLRAudioPropagation ray-count presets on a fixed set of small furnished rooms.

For every preset in ``simkit.acoustics.PRESETS`` and for the engine's own default ray counts (read from
``rlr_audio_propagation.Config()``, which are also SoundSpaces 2.0's), render the same view sets (4 views at
one camera position x 3 sources, direct and indirect contexts) and report binaural RIRs per CPU-second,
seconds per view set, and the RT60 (T30 of the mixed RIR, mean of both ears) deviation from ``high``.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_render_engine.py --out bench_render_engine.json
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import rlr_audio_propagation as rlr

from simkit.acoustics import PRESETS, MaterialDatabase, Preset, make_backend, rt60_t30_batch
from simkit.acoustics.presets import ENGINE_DEFAULTS
from simkit.config import AcousticsConfig
from simkit.conventions import yaw_to_quat
from simkit.io import atomic_write_json, package_versions
from simkit.scenes.scene import Scene

VIEW_YAWS = (0.0, 35.0, 80.0, 120.0)  # deg, 4 views at one position (pairwise 35..120 deg apart)
N_SOURCES = 3


@dataclass
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    material: str


def _box_faces(lo: np.ndarray, hi: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    quads = [[0, 4, 5, 1], [2, 3, 7, 6], [0, 1, 3, 2], [4, 6, 7, 5], [0, 2, 6, 4], [1, 5, 7, 3]]
    tris = [[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads]
    return v, np.array(tris, dtype=np.int64) + offset


def furnished_room(
    scene_id: str,
    size: tuple[float, float, float],
    floor: str,
    ceiling: str,
    walls: list[str],
    boxes: list[Box],
) -> Scene:
    """A shoebox room (walls -x, +x, -z, +z) with box-shaped furniture standing in it."""
    w, h, d = size
    verts, faces, mats = [], [], []
    room_v, _ = _box_faces(np.zeros(3), np.array(size), 0)
    verts.append(room_v)
    quads = {
        "floor": [0, 4, 5, 1], "ceiling": [2, 3, 7, 6],
        "wall0": [0, 1, 3, 2], "wall1": [4, 6, 7, 5], "wall2": [0, 2, 6, 4], "wall3": [1, 5, 7, 3],
    }
    surface = {"floor": floor, "ceiling": ceiling, **{f"wall{i}": m for i, m in enumerate(walls)}}
    for key, q in quads.items():
        faces += [[q[0], q[1], q[2]], [q[0], q[2], q[3]]]
        mats += [surface[key]] * 2
    offset = 8
    for b in boxes:
        bv, bf = _box_faces(np.array(b.lo), np.array(b.hi), offset)
        verts.append(bv)
        faces += bf.tolist()
        mats += [b.material] * len(bf)
        offset += 8
    names = sorted(set(mats))
    n = len(faces)
    return Scene(
        scene_id=scene_id, vertices=np.concatenate(verts), faces=np.array(faces, dtype=np.int64),
        face_material=np.array([names.index(m) for m in mats], dtype=np.int64), material_names=names,
        face_instance=np.zeros(n, dtype=np.int64), face_color=np.zeros((n, 3), dtype=np.uint8),
        metadata={"size": [w, h, d], "boxes": [(b.lo, b.hi) for b in boxes]},
    )


def bench_rooms() -> list[Scene]:
    """Two fixed furnished rooms (a living room and an office)."""
    living = furnished_room(
        "living", (5.0, 2.7, 4.2), "woodfloor", "plaster", ["plaster", "plaster", "curtain", "glass"],
        [
            Box((0.3, 0.0, 0.4), (2.3, 0.85, 1.3), "sofa"),
            Box((2.6, 0.0, 2.2), (3.8, 0.75, 3.0), "furniture"),
            Box((1.0, 0.0, 2.6), (2.4, 0.02, 3.8), "carpet"),  # a rug
            Box((4.4, 0.0, 0.2), (4.9, 2.0, 1.4), "woodpanel"),  # a wardrobe
        ],
    )
    office = furnished_room(
        "office", (6.0, 3.0, 5.0), "carpet", "acoustictile", ["brick", "plaster", "glass", "woodpanel"],
        [
            Box((0.5, 0.0, 0.5), (2.1, 0.75, 1.3), "furniture"),
            Box((3.5, 0.0, 3.6), (5.1, 0.75, 4.4), "furniture"),
            Box((5.4, 0.0, 1.0), (5.95, 1.9, 2.6), "metal"),  # a filing cabinet
        ],
    )
    return [living, office]


def view_sets(scene: Scene, n_sets: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(listener position, source positions) per view set: 0.5 m clear of walls and furniture."""
    w, _, d = scene.metadata["size"]

    def free(p: np.ndarray) -> bool:
        boxes = scene.metadata["boxes"]
        return not any(np.all(p > np.array(lo) - 0.5) and np.all(p < np.array(hi) + 0.5) for lo, hi in boxes)

    def draw(m: float, y_range: tuple[float, float]) -> np.ndarray:
        while True:
            p = np.array([rng.uniform(m, w - m), rng.uniform(*y_range), rng.uniform(m, d - m)])
            if free(p):
                return p

    sets = []
    for _ in range(n_sets):
        cam = draw(1.2, (1.5, 1.5))
        src = np.stack([draw(0.5, (0.9, 1.7)) for _ in range(N_SOURCES)])
        sets.append((cam, src))
    return sets


def engine_default_preset() -> Preset:
    """The ray counts of a fresh ``rlr_audio_propagation.Config()``."""
    cfg = rlr.Config()
    return Preset(**{k: int(getattr(cfg, k)) for k in ENGINE_DEFAULTS.engine_fields()})


def run(n_sets_per_room: int, seed: int, sample_rate: int, threads: int) -> dict:
    db = MaterialDatabase.embedded()
    rng = np.random.default_rng(seed)
    work = [(scene, vs) for scene in bench_rooms() for vs in view_sets(scene, n_sets_per_room, rng)]
    quats = yaw_to_quat(np.array(VIEW_YAWS))
    variants: list[tuple[str, Preset]] = [(name, PRESETS[name]) for name in ("fast", "default", "high")]
    variants.append(("engine-defaults", engine_default_preset()))
    rows, rt60 = [], {}
    for label, preset in variants:
        cfg = AcousticsConfig(preset="default", sample_rate=sample_rate, thread_count=threads)
        backend = make_backend(cfg, db)
        backend.preset = preset  # type: ignore[attr-defined]  (engine-defaults is not a registered preset)
        wall, cpu, rts = [], [], []
        for scene, (cam, src) in work:
            listeners = np.repeat(cam[None], len(VIEW_YAWS), axis=0)
            t0, c0 = time.perf_counter(), time.process_time()
            rirs = backend.render(scene, listeners, quats, src)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            rts.append(rt60_t30_batch(rirs.mixed(cfg.indirect_gain), sample_rate).mean(axis=-1))
        rt60[label] = np.concatenate([r.ravel() for r in rts])
        n_rirs = len(work) * len(VIEW_YAWS) * N_SOURCES
        rows.append({
            "variant": label, **preset.engine_fields(),
            "view_sets": len(work), "binaural_rirs": n_rirs,
            "rirs_per_cpu_second": n_rirs / sum(cpu), "seconds_per_view_set": float(np.mean(wall)),
            "cpu_seconds_per_view_set": float(np.mean(cpu)), "rt60_mean_s": float(np.nanmean(rt60[label])),
        })
    ref = rt60["high"]
    for row in rows:
        dev = np.abs(rt60[row["variant"]] - ref) / ref * 100.0
        row["rt60_dev_mean_pct"] = float(np.nanmean(dev))
        row["rt60_dev_max_pct"] = float(np.nanmax(dev))
        row["rt60_nan"] = int(np.isnan(rt60[row["variant"]]).sum())
        row["rt60_per_pair_s"] = [round(float(x), 4) for x in rt60[row["variant"]]]
    same = rt60["default"].tobytes() == rt60["engine-defaults"].tobytes()
    return {
        "rows": rows,
        "engine_defaults_equal_default_preset": engine_default_preset() == PRESETS["default"] and same,
        "setup": {
            "rooms": [s.scene_id for s in bench_rooms()], "view_sets_per_room": n_sets_per_room,
            "views": len(VIEW_YAWS), "sources": N_SOURCES, "sample_rate": sample_rate,
            "thread_count": threads,
            "rir_seconds": AcousticsConfig().rir_seconds, "seed": seed,
        },
        "machine": {
            "platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()
        },
        "versions": package_versions(),
    }


def print_table(result: dict) -> None:
    head = (
        f"{'variant':<16}{'ind.rays':>9}{'src.rays':>9}{'RIR/cpu-s':>10}{'cpu-s/set':>10}{'wall-s/set':>11}"
        f"{'RT60 s':>8}{'dRT60 mean%':>12}{'max%':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in result["rows"]:
        print(
            f"{r['variant']:<16}{r['indirect_ray_count']:>9}{r['source_ray_count']:>9}"
            f"{r['rirs_per_cpu_second']:>10.2f}{r['cpu_seconds_per_view_set']:>10.2f}"
            f"{r['seconds_per_view_set']:>11.2f}{r['rt60_mean_s']:>8.3f}"
            f"{r['rt60_dev_mean_pct']:>12.2f}{r['rt60_dev_max_pct']:>7.2f}"
        )
    s = result["setup"]
    print(
        f"({len(s['rooms'])} rooms x {s['view_sets_per_room']} view sets x {s['views']} views x "
        f"{s['sources']} sources, {s['sample_rate']} Hz, {s['thread_count']} thread(s); "
        f"engine defaults == default preset: "
        f"{result['engine_defaults_equal_default_preset']})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_render_engine.json", help="where to write the JSON results")
    ap.add_argument("--sets-per-room", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    result = run(args.sets_per_room, args.seed, args.sample_rate, args.threads)
    print_table(result)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
