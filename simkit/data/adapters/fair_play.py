"""``fair-play``: the FAIR-Play binaural set of 2.5D Visual Sound (Gao & Grauman, CVPR 2019).

Source layout (the release root)::

    binaural_audios/NNNNNN.wav        48 kHz 16-bit stereo, ~10 s each (1,871 clips)
    videos/NNNNNN.mp4                 the clips' videos
    splits/split1..split10/{train,val,test}.h5   dataset ``audio``: the authors' absolute wav paths
                                      (e.g. /private/home/.../binaural16k/001158.wav), matched by basename
    new_splits/split1..split5/{train,val,test}.txt   PseudoBinaural's five new splits (optional; lines
                                      ``NNNNNN.mp3``, the last one without a newline)
    frames/...                        optional pre-extracted frames (``--option frames=DIR``):
                                      2.5D / CCStereo ``DIR/NNNNNN.mp4/000001.png`` or Sep-Stereo
                                      ``DIR/NNNNNN/1.jpg`` (1-based, 10 fps)

One shard per clip (N = V = S = 1): ``audio/binaural`` resampled to 16 kHz and cut or padded to
``clip_seconds``, ``frames/rgb`` at 10 fps with ``frames/time_s`` (frame i, 1-based, shows time
(i - 0.5) / 10 s, as 2.5D Visual Sound's loader picks ``round((t + 0.05) * 10)``). Protocols: ``split1`` ..
``split10`` (family ``fair-play``; the default protocol repeats ``split1``) and ``new-split1`` ..
``new-split5`` (family ``new-splits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.data.adapters import Adapter, Plan, Protocol, ShardData, Unit, register_adapter, tree_inside
from simkit.data.adapters._media import (
    check_audio,
    decode_frames,
    fit_length,
    parse_size,
    read_audio,
    read_image,
    resample,
    video_info,
)
from simkit.data.layout import SPLITS
from simkit.errors import SimkitError

SOURCE_RATE = 48000
N_SPLITS, N_NEW_SPLITS = 10, 5


@dataclass
class FairPlayOptions:
    frames: Path | None = None  # pre-extracted frames (2.5D or Sep-Stereo layout); default: decode videos/
    new_splits: Path | None = None  # PseudoBinaural's new_splits/ folder; default: SRC/new_splits when present
    fps: float = 10.0  # frames per second stored (and of pre-extracted frames)
    frame_size: str = "112x224"  # stored frame HEIGHTxWIDTH (2.5D crops 224x448 from 240x480)
    clip_seconds: float = 10.0  # clips are cut or zero-padded to this length (the protocol's whole 10 s clips)
    source_rate: int = SOURCE_RATE  # sample rate the release's wavs must have


def _h5_names(path: Path) -> list[str]:
    """Clip ids of a FAIR-Play split file: basenames of the byte-string paths in dataset ``audio``."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "audio" not in f:
                raise SimkitError(f"split file {path} has no dataset 'audio'")
            raw = f["audio"][()]
    except OSError as e:
        raise SimkitError(f"split file {path} is not a readable HDF5 file ({e})") from None
    out = []
    for item in np.ravel(raw):
        text = item.decode() if isinstance(item, bytes) else str(item)
        out.append(Path(text.strip()).stem)
    return out


def _txt_names(path: Path) -> list[str]:
    """Clip ids of a new-splits text file: ``NNNNNN.mp3`` lines (the last may lack its newline)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SimkitError(f"split file {path} cannot be read ({e})") from None
    return [Path(line.strip()).stem for line in lines if line.strip()]


@register_adapter
class FairPlay(Adapter):
    name = "fair-play"
    version = "1"
    description = "FAIR-Play (2.5D Visual Sound): 1,871 10 s binaural clips with video; 10 + 5 split protocols"
    licence = "CC BY 4.0 (FAIR-Play dataset, facebookresearch/FAIR-Play)"
    homepage = "https://github.com/facebookresearch/FAIR-Play"
    groups = ("audio", "frames", "meta")
    tasks = ("binauralize", "av_localize")
    Options = FairPlayOptions

    def scan(self, src: Path) -> Plan:
        o: FairPlayOptions = self.options
        self.size = parse_size(o.frame_size, "frame_size")
        if o.fps <= 0 or o.clip_seconds <= 0:
            raise SimkitError("fair-play options fps and clip_seconds must be > 0")
        audio_dir = src / "binaural_audios"
        if not audio_dir.is_dir():
            raise SimkitError(f"missing folder {audio_dir} (the FAIR-Play release root holds binaural_audios/)")
        tree_inside(src, audio_dir, f"folder {audio_dir}")  # no symlink out of SRC among the clips
        wavs = {p.stem: p for p in audio_dir.glob("*.wav")}
        protocols: dict[str, Protocol] = {}
        split_root = src / "splits"
        if not split_root.is_dir():
            raise SimkitError(f"missing folder {split_root} (FAIR-Play's split1..split10)")
        tree_inside(src, split_root, f"folder {split_root}")
        for k in range(1, N_SPLITS + 1):
            d = split_root / f"split{k}"
            files = {s: d / f"{s}.h5" for s in SPLITS}
            if not d.is_dir():
                if k == 1:
                    raise SimkitError(f"missing folder {d}")
                continue
            protocols[f"split{k}"] = Protocol({s: _h5_names(p) if p.is_file() else self._missing(p)
                                               for s, p in files.items()},
                                              f"FAIR-Play split{k} (2.5D Visual Sound)", "fair-play")
        new_root = o.new_splits or (src / "new_splits")
        if o.new_splits is not None and not new_root.is_dir():
            raise SimkitError(f"missing folder {new_root} (--option new_splits)")
        if new_root.is_dir():
            if o.new_splits is None:  # the release's own lists (a folder given as an option may be anywhere)
                tree_inside(src, new_root, f"folder {new_root}")
            for k in range(1, N_NEW_SPLITS + 1):
                d = new_root / f"split{k}"
                if not d.is_dir():
                    continue
                files = {s: d / f"{s}.txt" for s in SPLITS}
                protocols[f"new-split{k}"] = Protocol(
                    {s: _txt_names(p) if p.is_file() else self._missing(p) for s, p in files.items()},
                    f"PseudoBinaural (Xu et al., CVPR 2021) new split{k}: no scene in two splits", "new-splits")
        used: list[str] = sorted({c for p in protocols.values() for es in p.splits.values() for c in es})
        for pname, proto in protocols.items():
            for split, clips in proto.splits.items():
                for c in clips:
                    if c not in wavs:
                        missing = audio_dir / f"{c}.wav"
                        raise SimkitError(f"clip {c} listed in {pname}/{split} is absent: no {missing}")
        for c in used:
            check_audio(wavs[c], o.source_rate, 2)
        self.frame_source = self._frame_layout(src, used)
        protocols["default"] = Protocol(protocols["split1"].splits, "FAIR-Play split1 (the default)", None)
        units = [Unit(c, {"wav": str(wavs[c]), "clip": c}) for c in used]
        return Plan(units, protocols, default_alias="split1",
                    facts={"frames_from": self.frame_source[0], "clips_in_release": len(wavs)})

    @staticmethod
    def _missing(path: Path) -> list[str]:
        raise SimkitError(f"missing split file {path}")

    def _frame_layout(self, src: Path, clips: list[str]) -> tuple[str, Path]:
        o: FairPlayOptions = self.options
        if o.frames is not None:
            root = Path(o.frames)
            if not root.is_dir():
                raise SimkitError(f"missing folder {root} (--option frames)")
            first = clips[0]
            if (root / f"{first}.mp4").is_dir():
                layout = ("frames-2.5d", root)
            elif (root / first).is_dir():
                layout = ("frames-sep-stereo", root)
            else:
                raise SimkitError(f"no frames of clip {first} in {root} (expected {root / (first + '.mp4')}/000001.png "
                                  f"or {root / first}/1.jpg)")
            for c in clips:
                if not self._frame_dir(layout, c).is_dir():
                    raise SimkitError(f"missing frame folder {self._frame_dir(layout, c)}")
            return layout
        vdir = src / "videos"
        if not vdir.is_dir():
            raise SimkitError(f"missing folder {vdir} (or give pre-extracted frames with --option frames=DIR)")
        tree_inside(src, vdir, f"folder {vdir}")
        for c in clips:
            video_info(vdir / f"{c}.mp4")
        return ("video", vdir)

    @staticmethod
    def _frame_dir(layout: tuple[str, Path], clip: str) -> Path:
        kind, root = layout
        return root / f"{clip}.mp4" if kind == "frames-2.5d" else root / clip

    def _frames(self, clip: str, n: int) -> np.ndarray:
        kind, root = self.frame_source
        times = (np.arange(n) + 0.5) / self.options.fps
        if kind == "video":
            return decode_frames(root / f"{clip}.mp4", times, self.size)
        d = self._frame_dir(self.frame_source, clip)
        pattern = "{:06d}.png" if kind == "frames-2.5d" else "{}.jpg"
        files = [d / pattern.format(i) for i in range(1, n + 1)]
        present = [p for p in files if p.is_file()]
        if not present:
            raise SimkitError(f"frame folder {d} holds no frame named like {pattern.format(1)}")
        out, last = [], None
        for p in files:  # a clip with fewer frames than the audio repeats its last frame
            last = read_image(p, self.size) if p.is_file() else (last if last is not None else
                                                                  read_image(present[0], self.size))
            out.append(last)
        return np.stack(out)

    def build(self, unit: Unit) -> ShardData:
        o: FairPlayOptions = self.options
        sr = self.common.sample_rate
        audio, rate = read_audio(Path(unit.payload["wav"]), o.source_rate, 2)
        seconds = audio.shape[-1] / rate
        clip = fit_length(resample(audio, rate, sr), int(round(o.clip_seconds * sr)))
        n_frames = int(round(o.clip_seconds * o.fps))
        frames = self._frames(unit.payload["clip"], n_frames)
        times = ((np.arange(n_frames) + 0.5) / o.fps).astype(np.float32)
        return ShardData(
            arrays={
                "audio/binaural": clip[None, None, None],
                "audio/source_id": np.array([[f"fair-play:{unit.shard_id}"]], dtype=object),
                "frames/rgb": frames[None, None],
                "frames/time_s": times[None, None],
                "meta/set_id": np.array([unit.shard_id], dtype=object),
                "meta/start_s": np.zeros(1),
            },
            attrs={"source_seconds": seconds, "source_rate": rate},
            group_attrs={"frames": {"fps": o.fps, "source": self.frame_source[0]}},
        )
