"""``rwavs``: the Real-World Audio-Visual Scene set of AV-NeRF (Liang et al., NeurIPS 2023).

Source layout (SRC = the ``release`` folder)::

    <scene>/binaural_syn_re.wav        binaural recording, 22,050 Hz
    <scene>/source_syn_re.wav          the played source signal, 22,050 Hz mono
    <scene>/frames/%05d.png            video frames; the frame number is the time in seconds
    <scene>/transforms_scale_{train,val}.json   ``camera_path[i]``: ``camera_to_world`` (row-major 4 x 4,
                                       OpenGL camera: x right, y up, looking along -z) and ``file_path``
    position.json                      {"<scene>": {"source_position": [x, y, z]}} (world z up, as AV-NeRF
                                       reads the ground plane from x, y)

One shard per scene, one set per posed frame (V = S = 1): the clip is the second around the frame's time
(AV-NeRF's ``time +- 0.5 s``, clamped at the start and zero-padded; frames with less than 0.5 s of audio are
left out, as AV-NeRF does), resampled to 16 kHz; ``views/rgb`` is the frame. The source azimuth is derived
relative to each camera (+90 = left) in the horizontal plane through :mod:`simkit.conventions`: the z-up
world is turned into simkit's y-up frame once (x, y, z) -> (x, z, -y) and the camera's yaw is the heading
of its -z axis. Camera-path entries without a pose are left out (counted in the manifest). Protocols:
``random-80-10-10`` (seed 000's random split per scene, seeded; the default) and ``authors`` (AV-NeRF's
train / val; its test split repeats val, on which the authors report).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.conventions import source_labels, wrap_deg, yaw_to_quat, zup_to_yup
from simkit.data.adapters import (
    Adapter,
    Plan,
    Protocol,
    ShardData,
    Unit,
    inside,
    random_split,
    register_adapter,
    tree_inside,
)
from simkit.data.adapters._columns import append_item, stack_columns
from simkit.data.adapters._media import check_audio, fit_length, parse_size, read_audio, read_image, resample
from simkit.data.layout import format_entry
from simkit.errors import SimkitError

SOURCE_RATE = 22050
CLIP_HALF_S = 0.5


def camera_yaw_deg(camera_to_world: np.ndarray) -> float:
    """simkit yaw (deg, + = turned left) of an OpenGL camera in a z-up world: the heading of its -z axis."""
    fwd = -np.asarray(camera_to_world, dtype=np.float64)[:3, 2]
    if np.hypot(fwd[0], fwd[1]) < 1e-9:
        raise ValueError("camera looks straight up or down")
    # at simkit yaw t the forward direction is (-sin t, 0, -cos t) (y-up) = (-sin t, cos t, 0) (z-up)
    return float(np.rad2deg(np.arctan2(-fwd[0], fwd[1])))


@dataclass
class RwavsOptions:
    image_size: str = "120x160"  # HEIGHTxWIDTH of the stored frames (the originals are large)
    seed: int = 0  # the random 80/10/10 split per scene
    source_rate: int = SOURCE_RATE  # sample rate the release's wavs must have


@register_adapter
class Rwavs(Adapter):
    name = "rwavs"
    version = "1"
    description = "RWAVS (AV-NeRF): real binaural recordings with camera poses and a known source position"
    licence = "RWAVS dataset: see liangsusan-git/AV-NeRF (research use)"
    homepage = "https://github.com/liangsusan-git/AV-NeRF"
    groups = ("audio", "poses", "labels", "pairs", "views", "meta")
    tasks = ("direction",)
    Options = RwavsOptions

    def scan(self, src: Path) -> Plan:
        o: RwavsOptions = self.options
        self.size = parse_size(o.image_size, "image_size")
        pos_file = inside(src, "position.json", "position.json")
        if not pos_file.is_file():
            raise SimkitError(f"missing {pos_file} (SRC is RWAVS' release/ folder)")
        try:
            positions = json.loads(pos_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SimkitError(f"malformed {pos_file} ({e})") from None
        scenes = sorted((p.name for p in src.iterdir() if p.is_dir()), key=lambda s: (len(s), s))
        if not scenes:
            raise SimkitError(f"{src} holds no scene folders")
        units, authors, rand = [], {"train": [], "val": [], "test": []}, {"train": [], "val": [], "test": []}
        skipped = 0
        self.scenes: dict[str, dict] = {}
        for scene in scenes:
            d = tree_inside(src, src / scene, f"scene folder {src / scene}")
            for f in ("binaural_syn_re.wav", "source_syn_re.wav", "transforms_scale_train.json",
                      "transforms_scale_val.json"):
                if not (d / f).is_file():
                    raise SimkitError(f"missing {d / f}")
            _sr, _ch, n_audio = check_audio(d / "binaural_syn_re.wav", o.source_rate, 2)
            check_audio(d / "source_syn_re.wav", o.source_rate, 1)
            entry = positions.get(scene)
            if not isinstance(entry, dict) or len(entry.get("source_position") or []) != 3:
                raise SimkitError(f"{pos_file} has no source_position [x, y, z] for scene {scene}")
            frames: list[dict] = []
            for split in ("train", "val"):
                path = d / f"transforms_scale_{split}.json"
                try:
                    items = json.loads(path.read_text())["camera_path"]
                except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
                    raise SimkitError(f"malformed {path} ({e})") from None
                for i, item in enumerate(items):
                    pose = item.get("camera_to_world") if isinstance(item, dict) else None
                    if pose is None or len(pose) != 16:
                        skipped += 1  # a camera-path entry without a pose
                        continue
                    try:
                        t = int(Path(str(item["file_path"])).stem)
                    except (KeyError, ValueError):
                        raise SimkitError(f"{path}: camera_path[{i}].file_path does not name a frame number") from None
                    start = max(0, int(o.source_rate * (t - CLIP_HALF_S)))
                    end = min(n_audio - 1, int(o.source_rate * (t + CLIP_HALF_S)))
                    if end - start < int(CLIP_HALF_S * o.source_rate):
                        skipped += 1
                        continue
                    img = self._frame_path(src, d, str(item["file_path"]), t,
                                           f"{path}: camera_path[{i}].file_path {str(item['file_path'])!r}")
                    if not img.is_file():
                        raise SimkitError(f"missing frame {img} (camera_path[{i}] of {path})")
                    frames.append({"t": t, "pose": [float(x) for x in pose], "img": str(img), "split": split,
                                   "start": start, "end": end})
            frames.sort(key=lambda f: (f["t"], f["split"]))
            if not frames:
                continue
            self.scenes[scene] = {"source": [float(x) for x in entry["source_position"]], "frames": frames}
            units.append(Unit(scene, {"dir": str(d)}))
            for k, f in enumerate(frames):
                authors[f["split"]].append(format_entry(scene, k))
                if f["split"] == "val":
                    authors["test"].append(format_entry(scene, k))
            parts = random_split(len(frames), np.random.default_rng([o.seed, zlib.crc32(scene.encode())]))
            for name, idx in parts.items():
                rand[name] += [format_entry(scene, k) for k in idx]
        protocols = {
            "random-80-10-10": Protocol(rand, "seed 000's random 80/10/10 split of each scene's frames (seeded)"),
            "authors": Protocol(authors, "AV-NeRF's train/val split; test repeats val (the authors report on val)"),
        }
        protocols["default"] = Protocol(rand, "random 80/10/10 per scene (seed 000)")
        return Plan(units, protocols, default_alias="random-80-10-10", facts={"frames_without_pose": skipped})

    @staticmethod
    def _frame_path(src: Path, d: Path, file_path: str, t: int, where: str) -> Path:
        """The frame a camera-path entry names (``file_path`` relative to the scene folder), else the frame of
        its second; never a file outside SRC."""
        direct = inside(src, d / file_path, where)
        return direct if direct.is_file() else inside(src, d / "frames" / f"{t:05d}.png", where)

    def build(self, unit: Unit) -> ShardData:
        o: RwavsOptions = self.options
        sr = self.common.sample_rate
        d = Path(unit.payload["dir"])
        info = self.scenes[unit.shard_id]
        audio, rate = read_audio(d / "binaural_syn_re.wav", o.source_rate, 2)
        source, _ = read_audio(d / "source_syn_re.wav", o.source_rate, 1)
        src_world = zup_to_yup(np.array(info["source"]))
        n_clip = int(round(2 * CLIP_HALF_S * sr))
        n_src = int(round(2 * CLIP_HALF_S * rate))
        cols: dict[str, list] = {}
        for f in info["frames"]:
            pose = np.array(f["pose"]).reshape(4, 4)
            try:
                yaw = camera_yaw_deg(pose)
            except ValueError:
                raise SimkitError(f"{d}: the camera of frame {f['t']} looks straight up or down") from None
            cam = zup_to_yup(pose[:3, 3])
            az, el, dist = source_labels(src_world[None], cam, yaw)
            clip = fit_length(audio[:, f["start"]:f["end"]], n_src)
            dry = fit_length(source[:, f["start"]:f["end"]], n_src)
            item = {
                "audio/binaural": fit_length(resample(clip, rate, sr), n_clip)[None, None],
                "audio/source": fit_length(resample(dry, rate, sr), n_clip),
                "audio/source_id": [f"rwavs:{unit.shard_id}@{f['t']:d}s"],
                "poses/position": cam[None],
                "poses/yaw_deg": np.array([wrap_deg(yaw)]),
                "poses/quat_wxyz": yaw_to_quat(np.array([yaw])),
                "sources/position": src_world[None],
                "labels/azimuth_deg": np.asarray(az, np.float32).reshape(1, 1),
                "labels/elevation_deg": np.asarray(el, np.float32).reshape(1, 1),
                "labels/distance_m": np.asarray(dist, np.float32).reshape(1, 1),
                "pairs/rel_yaw_deg": np.zeros((1, 1), np.float32),
                "pairs/rel_translation": np.zeros((1, 1, 3), np.float32),
                "views/rgb": read_image(Path(f["img"]), self.size)[None],
                "meta/set_id": f"{f['t']:05d}",
                "meta/start_s": f["start"] / rate,
            }
            append_item(cols, item)
        arrays = stack_columns(cols)
        h, w = self.size
        return ShardData(arrays, attrs={"source_rate": rate}, group_attrs={"views": {"width": w, "height": h}})
