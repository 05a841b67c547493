"""``soundspaces1``: the pre-rendered binaural RIRs of SoundSpaces 1.0 (Chen et al., ECCV 2020).

Source layout (SRC = the folder holding ``binaural_rirs/`` and ``metadata/``)::

    binaural_rirs/<dataset>/<scene>/<azimuth>/<receiver>_<source>.wav
        azimuth in {0, 90, 180, 270}: the listener's heading, clockwise from the mesh +Y axis;
        Replica 44.1 kHz, Matterport3D 16 kHz; float32 stereo
    metadata/<dataset>/<scene>/points.txt      tab-separated: index, x, y, z (mesh coordinates, z up)
    metadata/<dataset>/<scene>/graph.pkl       networkx graph, node attribute ``point`` (habitat, y up)

One shard per scene; one set per (receiver, source) pair with the source within ``max_distance`` (3 m) of
the receiver and an RIR at all four headings: V = 4 views (the headings), S = 1. Speech (``--option
speech=LIBRISPEECH_ROOT`` or the built-in espeak voice) is convolved with each RIR (resampled to 16 kHz)
as ``simkit render`` does. Conventions, once: mesh (x, y, z) -> habitat/simkit (x, z, -y) (checked against
``graph.pkl`` when present), and heading ``a`` clockwise from mesh +Y is simkit yaw ``-a`` (yaw 0 faces
-z = mesh +Y; + = turned left). Protocol: a seeded 80/10/10 split of each scene's sets.
"""

from __future__ import annotations

import numbers
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.conventions import wrap_deg, yaw_to_quat, zup_to_yup
from simkit.data.adapters import (
    Adapter,
    Plan,
    Protocol,
    ShardData,
    Unit,
    random_split,
    register_adapter,
    tree_inside,
)
from simkit.data.adapters._columns import append_item, stack_columns
from simkit.data.adapters._media import audio_info, read_audio, resample
from simkit.data.labels import ViewLabels
from simkit.data.layout import format_entry
from simkit.errors import SimkitError

HEADINGS = (0, 90, 180, 270)
RATES = {"replica": 44100, "mp3d": 16000}
MAX_GRAPH_BYTES = 64 * 2**20  # a scene's graph.pkl: far above any real scene's navigation grid


@dataclass
class SoundSpaces1Options:
    dataset: str = "replica"  # replica | mp3d (the binaural_rirs/ subfolder)
    scenes: str = ""  # comma list of scenes; "" = every scene with RIRs
    max_distance: float = 3.0  # sources within this many metres of the receiver
    max_sources: int = 0  # nearest N sources per receiver (0 = all within max_distance)
    speech: Path | None = None  # LibriSpeech root; default: the built-in espeak-ng speech
    clip_seconds: float = 2.55
    seed: int = 0  # speech draws and the 80/10/10 split


def _point(value: object) -> np.ndarray | None:
    """A graph node's ``point`` as three finite floats, None if it is anything else."""
    if isinstance(value, np.ndarray):
        ok = value.shape == (3,) and value.dtype.kind in "iuf"
    else:
        ok = isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (numbers.Real, np.integer, np.floating)) and not isinstance(v, bool) for v in value)
    if not ok:
        return None
    out = np.asarray(value, dtype=np.float64)
    return out if np.isfinite(out).all() else None


def read_points(path: Path) -> dict[int, np.ndarray]:
    """points.txt: index -> mesh position."""
    if not path.is_file():
        raise SimkitError(f"missing {path}")
    out: dict[int, np.ndarray] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            idx, x, y, z = int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3])
        except (IndexError, ValueError):
            raise SimkitError(f"{path}:{i}: expected 'index<TAB>x<TAB>y<TAB>z'") from None
        out[idx] = np.array([x, y, z])
    return out


@register_adapter
class SoundSpaces1(Adapter):
    name = "soundspaces1"
    version = "1"
    description = "SoundSpaces 1.0 pre-rendered binaural RIRs (Replica, Matterport3D) on the navigation grid"
    licence = ("SoundSpaces RIRs: CC-BY 4.0 (facebookresearch/sound-spaces); the scenes: Replica / Matterport3D "
               "terms of use")
    homepage = "https://github.com/facebookresearch/sound-spaces"
    groups = ("audio", "poses", "labels", "pairs", "meta")
    tasks = ("direction",)
    Options = SoundSpaces1Options

    def scan(self, src: Path) -> Plan:
        o: SoundSpaces1Options = self.options
        if o.dataset not in RATES:
            raise SimkitError(f"soundspaces1 option dataset must be replica or mp3d (got {o.dataset!r})")
        root = src / "binaural_rirs" / o.dataset
        if not root.is_dir():
            raise SimkitError(f"missing folder {root}")
        scenes = [s.strip() for s in o.scenes.split(",") if s.strip()] or sorted(p.name for p in root.iterdir()
                                                                                 if p.is_dir())
        units, splits = [], {"train": [], "val": [], "test": []}
        self.sets: dict[str, list[tuple[int, int]]] = {}
        self.points: dict[str, dict[int, np.ndarray]] = {}
        for scene in scenes:
            d = root / scene
            if not d.is_dir():
                raise SimkitError(f"missing folder {d}")
            tree_inside(src, d, f"scene folder {d}")  # a symlink out of SRC is refused like a path naming one
            meta = tree_inside(src, src / "metadata" / o.dataset / scene, f"metadata of scene {scene}")
            pts = read_points(meta / "points.txt")
            self._check_graph(meta / "graph.pkl", pts)
            have: dict[int, set[tuple[int, int]]] = {}
            for a in HEADINGS:
                hd = d / str(a)
                if not hd.is_dir():
                    raise SimkitError(f"missing folder {hd} (headings 0, 90, 180, 270)")
                pairs = set()
                for p in hd.glob("*.wav"):
                    try:
                        r, s = (int(x) for x in p.stem.split("_"))
                    except ValueError:
                        raise SimkitError(f"{p}: expected <receiver>_<source>.wav") from None
                    pairs.add((r, s))
                have[a] = pairs
            common = sorted(set.intersection(*have.values()))
            chosen: list[tuple[int, int]] = []
            by_r: dict[int, list[tuple[float, int]]] = {}
            for r, s in common:
                if r == s:
                    continue
                if r not in pts or s not in pts:
                    raise SimkitError(f"{d}: RIR {r}_{s}.wav names a point missing from points.txt")
                dist = float(np.linalg.norm(pts[r] - pts[s]))
                if dist <= o.max_distance:
                    by_r.setdefault(r, []).append((dist, s))
            for r in sorted(by_r):
                near = sorted(by_r[r])
                if o.max_sources > 0:
                    near = near[: o.max_sources]
                chosen += [(r, s) for _d, s in near]
            if not chosen:
                continue
            rate = RATES[o.dataset]
            first = d / "0" / f"{chosen[0][0]}_{chosen[0][1]}.wav"
            sr, ch, _n = audio_info(first)
            if sr != rate or ch != 2:
                raise SimkitError(f"RIR {first} is {sr} Hz / {ch} channel(s); SoundSpaces 1.0 {o.dataset} has "
                                  f"{rate} Hz stereo")
            self.sets[scene], self.points[scene] = chosen, pts
            units.append(Unit(scene, {"dir": str(d)}))
            parts = random_split(len(chosen), np.random.default_rng([o.seed, zlib.crc32(scene.encode())]))
            for name, idx in parts.items():
                splits[name] += [format_entry(scene, k) for k in idx]
        protos = {"default": Protocol(splits, "seeded 80/10/10 split of each scene's (receiver, source) sets")}
        return Plan(units, protos, facts={"rir_dataset": o.dataset})

    @staticmethod
    def _check_graph(path: Path, pts: dict[int, np.ndarray]) -> None:
        """graph.pkl's habitat points must be the points.txt positions turned by
        :func:`simkit.conventions.zup_to_yup`, in the horizontal plane (SoundSpaces' ``load_metadata`` puts the
        graph at floor level, points.txt at ear height: 1.5528907 m higher in Replica, 1.5 m in Matterport3D).
        The pickle is read as data only (:mod:`simkit.data.adapters._safe_pickle`): a file that names or calls
        anything else is refused."""
        from simkit.data.adapters._safe_pickle import UnsafePickle, graph_nodes, load_graph

        if not path.is_file():
            return
        if path.stat().st_size > MAX_GRAPH_BYTES:
            raise SimkitError(f"{path} is larger than {MAX_GRAPH_BYTES // 2**20} MiB, far above any SoundSpaces "
                              "1.0 navigation graph")
        try:
            nodes = list(graph_nodes(load_graph(path.read_bytes())).items())
        except UnsafePickle as e:
            raise SimkitError(f"unsafe {path}: {e}") from None
        except Exception as e:  # a corrupt pickle raises many kinds of error
            raise SimkitError(f"corrupt {path} ({type(e).__name__}: {e})") from None
        for node, data in nodes[:20]:
            if not (isinstance(node, numbers.Integral) and int(node) in pts and "point" in data):
                continue
            point = _point(data["point"])
            if point is None:
                # the type only: repr would run networkx code on an object the pickle may have left uninitialised
                kind = type(data["point"]).__name__
                raise SimkitError(f"{path}: node {node}'s point (a {kind}) is not three numbers")
            want = zup_to_yup(pts[int(node)])
            if np.hypot(*(want - point)[[0, 2]]) > 0.05:
                raise SimkitError(f"{path}: node {node} at {point.tolist()} is not points.txt's "
                                  f"{list(pts[int(node)])} in habitat coordinates (x, z, -y)")

    def build(self, unit: Unit) -> ShardData:
        from simkit.audio.dsp import fft_convolve

        o: SoundSpaces1Options = self.options
        sr = self.common.sample_rate
        d = Path(unit.payload["dir"])
        pts = self.points[unit.shard_id]
        speech = self.speech_source()
        n_clip = int(round(o.clip_seconds * sr))
        yaw = np.array([float(wrap_deg(-a)) for a in HEADINGS])
        cols: dict[str, list] = {}
        for r, s in self.sets[unit.shard_id]:
            rirs = []
            for a in HEADINGS:
                x, rate = read_audio(d / str(a) / f"{r}_{s}.wav", RATES[o.dataset], 2)
                rirs.append(resample(x, rate, sr))
            n = max(x.shape[-1] for x in rirs)
            rir = np.stack([np.pad(x, ((0, 0), (0, n - x.shape[-1]))) for x in rirs])  # (V, 2, R)
            rng = np.random.default_rng([o.seed, zlib.crc32(f"{unit.shard_id}/{r}_{s}".encode())])
            clip = speech.draw("train", rng, o.clip_seconds, sr)
            mono = clip.audio.astype(np.float32)
            rec, src = zup_to_yup(pts[r]), zup_to_yup(pts[s])
            pos = np.repeat(rec[None], len(HEADINGS), axis=0)
            labels = ViewLabels.from_poses(pos, yaw, src[None])
            item = {
                "audio/binaural": fft_convolve(mono[None, None, None, :], rir[:, None], n_clip).astype(np.float32),
                "audio/source": mono[None],
                "audio/source_id": [clip.source_id],
                "poses/position": pos,
                "poses/yaw_deg": yaw,
                "poses/quat_wxyz": yaw_to_quat(yaw),
                "sources/position": src[None],
                **labels.as_datasets(),
                "meta/set_id": f"{r}_{s}",
            }
            append_item(cols, item)
        arrays = stack_columns(cols)
        return ShardData(arrays, attrs={"source_rate": RATES[o.dataset], "speech_source": speech.name,
                                        "scene_source": f"soundspaces1-{o.dataset}"})
