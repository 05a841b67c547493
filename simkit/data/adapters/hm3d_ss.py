"""``hm3d-ss``: the HM3D-SS set of SLfM (Chen et al., "Sound Localization from Motion", ICCV 2023), as its
``Dataset/AI-Habitat`` scripts write it.

Source layout (SRC = the ``Dataset/AI-Habitat`` folder)::

    ProcessedData/<name>/<scene>/pair-XXXX/metadata.json
        camera_{c}_angle (deg in [0, 360), counter-clockwise), camera_{c}_position,
        relative_angle_between_sound_{s}_camera_{c} (deg, + = left), source_{s}_position,
        sound_{s}_camera_{c}_rir_rt60 ([left, right] s)
    ProcessedData/<name>/<scene>/pair-XXXX/camera_{c}_rgb.png                       320 x 240
    ProcessedData/<name>/<scene>/pair-XXXX/binaural_rirs{,_direct,_indirect}/sound_{s}_camera_{c}_rir.wav
                                                                                    16 kHz, 16-bit
    data-split/<name>/{train,val,test}.csv      header "path", every field quoted, rows like
        "./data/AI-Habitat/ProcessedData/<name>/<scene>/pair-0000" (matched by the trailing scene and pair)
    data-split/<name>-filterangle/{train,val,test}.csv   optional second protocol ``filterangle``

``<name>`` defaults to ``hm3d-4view-rotation`` (38,207 / 5,264 / 4,720 pairs). One shard per scene, one set
per pair, V = cameras, S = sounds. The split CSVs list pairs, so split entries are ``<scene>#<set>``. Speech
(``--option speech=LIBRISPEECH_ROOT`` or the built-in espeak voice) is convolved with the mixed RIRs
(``binaural_rirs``) exactly as ``simkit render`` does, the dry clip the same at every camera of a pair, so the
shards serve the direction task and online re-rendering alike. Conventions: the camera angle is simkit's
yaw (+ = turned left) and the relative angle simkit's azimuth (+90 = left), so they are stored as they are
(wrapped to (-180, 180]); distances and elevations come from the positions (habitat frame, y up).
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.conventions import wrap_deg, yaw_to_quat
from simkit.data.adapters import Adapter, Plan, Protocol, ShardData, Unit, register_adapter, tree_inside
from simkit.data.adapters._columns import append_item, stack_columns
from simkit.data.adapters._media import check_audio, parse_size, read_audio, read_image
from simkit.data.labels import ViewLabels
from simkit.data.layout import SPLITS, format_entry
from simkit.errors import SimkitError

RIR_RATE = 16000
_PAIR = re.compile(r"([^/]+)/(pair-\d+)/*$")


@dataclass
class Hm3dSsOptions:
    name: str = "hm3d-4view-rotation"  # the ProcessedData/ and data-split/ subfolder
    speech: Path | None = None  # LibriSpeech root; default: the built-in espeak-ng speech
    clip_seconds: float = 2.55  # speech clip length (SLfM)
    image_size: str = ""  # HEIGHTxWIDTH to resize camera images to; "" = as published (240x320)
    seed: int = 0  # every speech draw flows from it (per scene and pair)


def _read_split_csv(path: Path) -> list[tuple[str, str]]:
    """(scene, pair) rows of an SLfM split CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SimkitError(f"split file {path} cannot be read ({e})") from None
    if not rows or [c.strip() for c in rows[0]] != ["path"]:
        raise SimkitError(f"split file {path}: expected the header \"path\"")
    out = []
    for i, row in enumerate(rows[1:], 2):
        if not row or not row[0].strip():
            continue
        m = _PAIR.search(row[0].strip())
        if not m:
            raise SimkitError(f"split file {path}:{i}: {row[0]!r} does not end in <scene>/pair-XXXX")
        out.append((m.group(1), m.group(2)))
    return out


@register_adapter
class Hm3dSs(Adapter):
    name = "hm3d-ss"
    version = "1"
    description = "HM3D-SS (SLfM): 4-view rotation pairs with binaural RIRs, images and source angles"
    licence = ("HM3D scenes: Matterport End User License (non-commercial research); SLfM code and splits: "
               "see IFICL/SLfM; RIRs rendered with SoundSpaces 2.0 (CC-BY-NC 4.0)")
    homepage = "https://github.com/IFICL/SLfM"
    groups = ("audio", "rir", "poses", "labels", "pairs", "views", "meta")
    tasks = ("direction",)
    Options = Hm3dSsOptions

    def scan(self, src: Path) -> Plan:
        o: Hm3dSsOptions = self.options
        self.size = parse_size(o.image_size, "image_size") if o.image_size else None
        if o.clip_seconds <= 0:
            raise SimkitError("hm3d-ss option clip_seconds must be > 0")
        data = src / "ProcessedData" / o.name
        split_dir = src / "data-split" / o.name
        for d in (data, split_dir):
            if not d.is_dir():
                raise SimkitError(f"missing folder {d} (SRC is SLfM's Dataset/AI-Habitat folder)")
        protocols_rows: dict[str, dict[str, list[tuple[str, str]]]] = {}
        for proto, d in (("default", split_dir), ("filterangle", src / "data-split" / f"{o.name}-filterangle")):
            if not d.is_dir():
                continue
            tree_inside(src, d, f"split folder {d}")
            rows = {}
            for s in SPLITS:
                p = d / f"{s}.csv"
                if not p.is_file():
                    raise SimkitError(f"missing split file {p}")
                rows[s] = _read_split_csv(p)
            protocols_rows[proto] = rows
        pairs: dict[str, set[str]] = {}
        for rows in protocols_rows.values():
            for items in rows.values():
                for scene, pair in items:
                    pairs.setdefault(scene, set()).add(pair)
        self.layout: dict[str, dict] = {}
        for scene in sorted(pairs):
            names = sorted(pairs[scene])
            for pair in names:
                d = tree_inside(src, data / scene / pair, f"pair {scene}/{pair} listed in the split files")
                if not d.is_dir():
                    raise SimkitError(f"pair {scene}/{pair} listed in the split files is absent: no folder {d}")
                if not (d / "metadata.json").is_file():
                    raise SimkitError(f"missing {d / 'metadata.json'}")
            self.layout[scene] = {"pairs": names, "meta": self._check_pair(data / scene / names[0])}
        index = {scene: {p: k for k, p in enumerate(v["pairs"])} for scene, v in self.layout.items()}
        protocols = {}
        for proto, rows in protocols_rows.items():
            desc = (f"SLfM {o.name} split" if proto == "default" else f"SLfM {o.name}-filterangle split")
            protocols[proto] = Protocol({s: [format_entry(sc, index[sc][p]) for sc, p in items]
                                         for s, items in rows.items()}, desc)
        self.data = data
        units = [Unit(scene, {"dir": str(data / scene), "pairs": v["pairs"]}) for scene, v in self.layout.items()]
        speech_split = {}
        for s, items in protocols_rows["default"].items():
            for sc, p in items:
                speech_split[(sc, p)] = s
        self.speech_split = speech_split
        return Plan(units, protocols, facts={"processed_name": o.name, "pairs": sum(len(v["pairs"])
                                                                                   for v in self.layout.values())})

    def _check_pair(self, d: Path) -> dict:
        """Cameras and sounds of a pair from its metadata, with every file the pair needs checked."""
        meta = self._meta(d)
        n_cam = len([k for k in meta if re.fullmatch(r"camera_\d+_angle", k)])
        n_src = len([k for k in meta if re.fullmatch(r"relative_angle_between_sound_\d+_camera_0", k)])
        if n_cam < 1 or n_src < 1:
            raise SimkitError(f"{d / 'metadata.json'} names no cameras or sounds (camera_0_angle, "
                              "relative_angle_between_sound_0_camera_0)")
        for c in range(n_cam):
            for s in range(n_src):
                for sub in ("binaural_rirs_direct", "binaural_rirs_indirect"):
                    check_audio(d / sub / f"sound_{s}_camera_{c}_rir.wav", RIR_RATE, 2)
        return {"cameras": n_cam, "sounds": n_src}

    @staticmethod
    def _meta(d: Path) -> dict:
        p = d / "metadata.json"
        if not p.is_file():
            raise SimkitError(f"missing {p}")
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SimkitError(f"malformed {p} ({e})") from None

    def build(self, unit: Unit) -> ShardData:
        from simkit.audio.dsp import fft_convolve

        o: Hm3dSsOptions = self.options
        sr = self.common.sample_rate
        scene_dir = Path(unit.payload["dir"])
        shape = self.layout[unit.shard_id]["meta"]
        v, s = shape["cameras"], shape["sounds"]
        n_clip = int(round(o.clip_seconds * sr))
        cols: dict[str, list] = {}
        speech = self.speech_source()
        for pair in unit.payload["pairs"]:
            d = scene_dir / pair
            meta = self._meta(d)
            try:
                yaw = np.array([float(wrap_deg(meta[f"camera_{c}_angle"])) for c in range(v)])
                pos = np.array([meta[f"camera_{c}_position"] for c in range(v)], dtype=np.float64)
                az = np.array([[float(wrap_deg(meta[f"relative_angle_between_sound_{k}_camera_{c}"]))
                                for k in range(s)] for c in range(v)])
                src = np.array([meta.get(f"source_{k}_position", [np.nan] * 3) for k in range(s)], np.float64)
                rt60 = np.array([[np.mean(meta.get(f"sound_{k}_camera_{c}_rir_rt60", np.nan)) for k in range(s)]
                                 for c in range(v)], dtype=np.float64)
            except (KeyError, TypeError, ValueError) as e:
                raise SimkitError(f"{d / 'metadata.json'}: missing or malformed entry {e}") from None
            parts = {}
            for sub in ("binaural_rirs_direct", "binaural_rirs_indirect"):
                rirs = []
                for c in range(v):
                    for k in range(s):
                        x, rate = read_audio(d / sub / f"sound_{k}_camera_{c}_rir.wav", RIR_RATE, 2)
                        if rate != sr:
                            from simkit.data.adapters._media import resample

                            x = resample(x, rate, sr)
                        rirs.append(x)
                n = max(r.shape[-1] for r in rirs)
                padded = [np.pad(r, ((0, 0), (0, n - r.shape[-1]))) for r in rirs]
                parts[sub] = np.stack(padded).reshape(v, s, 2, n)
            n = max(p.shape[-1] for p in parts.values())
            direct, indirect = (np.pad(parts[k], ((0, 0), (0, 0), (0, 0), (0, n - parts[k].shape[-1])))
                                for k in ("binaural_rirs_direct", "binaural_rirs_indirect"))
            split = self.speech_split.get((unit.shard_id, pair), "train")
            key = zlib.crc32(f"{unit.shard_id}/{pair}".encode())
            rng = np.random.default_rng(np.random.SeedSequence([o.seed, key]))
            clips = [speech.draw(split, rng, o.clip_seconds, sr) for _ in range(s)]
            mono = np.stack([c.audio for c in clips]).astype(np.float32)  # (S, T)
            binaural = fft_convolve(mono[None, :, None, :], direct + indirect, n_clip)  # (V, S, 2, T)
            images = []
            for c in range(v):
                img = read_image(d / f"camera_{c}_rgb.png", self.size)
                if images and img.shape != images[0].shape:
                    raise SimkitError(f"{d / f'camera_{c}_rgb.png'} is {img.shape[1]}x{img.shape[0]}, camera 0 "
                                      f"{images[0].shape[1]}x{images[0].shape[0]}")
                images.append(img)
            labels = ViewLabels.from_poses(pos, yaw, src)
            labels.azimuth_deg = az  # the release's own angles (SoundSpaces' relative_angle_between_...)
            item = {
                "audio/binaural": binaural.astype(np.float32),
                "audio/source": mono,
                "audio/source_id": [c.source_id for c in clips],
                "audio/speaker": [c.speaker for c in clips],
                "audio/text": [c.text for c in clips],
                "rir/direct": direct.astype(np.float32),
                "rir/indirect": indirect.astype(np.float32),
                "rir/rt60": rt60.astype(np.float32),
                "poses/position": pos,
                "poses/yaw_deg": yaw,
                "poses/quat_wxyz": yaw_to_quat(yaw),
                "sources/position": src,
                **labels.as_datasets(),
                "views/rgb": np.stack(images),
                "meta/set_id": pair,
            }
            append_item(cols, item)
        lengths = {a.shape[-1] for a in cols["rir/direct"]}
        if len(lengths) > 1:  # pairs of one scene with RIRs of different lengths: pad to the longest
            n = max(lengths)
            for key in ("rir/direct", "rir/indirect"):
                cols[key] = [np.pad(a, ((0, 0), (0, 0), (0, 0), (0, n - a.shape[-1]))) for a in cols[key]]
        arrays = stack_columns(cols)
        h, w = arrays["views/rgb"].shape[2:4]
        return ShardData(
            arrays=arrays,
            attrs={"indirect_gain": 1.0, "speech_source": speech.name, "scene_source": "hm3d-ss"},
            group_attrs={"views": {"width": w, "height": h}},
        )
