"""Tiny copies of published dataset layouts, written by the tests (real wav, mp4, png, jpg, h5, json, csv files).

Each writer reproduces the quirks of the real release that an adapter must cope with: FAIR-Play's split files
hold the authors' absolute paths and PseudoBinaural's split lists end without a newline; 2.5D frames are
1-based; HM3D-SS CSVs quote every field; RWAVS frame numbers are seconds; StereoCRW start times are in 10 fps
frames. Clips are noise bursts whose louder ear is the labelled side, so the IID rule and a cheap model can
be checked against the labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F


def bursts(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Speech-like noise bursts (0.25 s on, 0.1 s off) of ``n`` samples."""
    t = np.arange(n) / rate
    return 0.2 * rng.standard_normal(n) * (np.mod(t, 0.35) < 0.25)


def panned(rng: np.random.Generator, n: int, rate: int, side: float) -> np.ndarray:
    """(n, 2) stereo: ``side`` +1 = left ear louder (and earlier), -1 = right."""
    mono = bursts(rng, n, rate)
    near, far = mono, np.concatenate([np.zeros(8), mono])[:n] * 0.4
    left, right = (near, far) if side > 0 else (far, near)
    return np.stack([left, right], axis=1)


def write_video(path: Path, seconds: float, fps: int = 10, size: tuple[int, int] = (48, 64), seed: int = 0,
                side: float = 1.0) -> None:
    """An mp4 (mpeg4) whose frame k shows a bright square on the ``side`` and k's index in its top-left pixel."""
    import av

    h, w = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for k in range(int(round(seconds * fps))):
            img = np.full((h, w, 3), 40, np.uint8)
            x0 = 4 if side > 0 else w - 20
            img[h // 3: h // 3 + 16, x0: x0 + 16] = (230, 230, 60)
            img[:8, :8] = min(255, 10 * k)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def write_fair_play(root: Path, n_clips: int = 8, seconds: float = 2.0, rate: int = 48000, seed: int = 0,
                    n_splits: int = 2, frames_25d: bool = False, videos: bool = True) -> Path:
    """FAIR-Play release root: binaural_audios/, videos/, splits/splitK/{train,val,test}.h5 (byte strings of
    absolute author paths), new_splits/split1/*.txt (``NNNNNN.mp3`` lines, no final newline) and, with
    ``frames_25d``, frames/NNNNNN.mp4/000001.png (1-based, 10 fps)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ids = [f"{i:06d}" for i in range(1, n_clips + 1)]
    for k, cid in enumerate(ids):
        side = 1.0 if k % 2 == 0 else -1.0
        (root / "binaural_audios").mkdir(parents=True, exist_ok=True)
        sf.write(root / "binaural_audios" / f"{cid}.wav", panned(rng, int(seconds * rate), rate, side), rate,
                 subtype="PCM_16")
        if videos:
            write_video(root / "videos" / f"{cid}.mp4", seconds, side=side)
        if frames_25d:
            d = root / "frames" / f"{cid}.mp4"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(1, int(round(seconds * 10)) + 1):
                img = np.full((24, 32, 3), i, np.uint8)  # frame i (1-based) is filled with the value i
                Image.fromarray(img).save(d / f"{i:06d}.png")
    for s in range(1, n_splits + 1):
        order = list(np.roll(ids, s - 1))
        k = max(1, n_clips // 4)
        parts = {"train": order[:-2 * k], "val": order[-2 * k:-k], "test": order[-k:]}
        d = root / "splits" / f"split{s}"
        d.mkdir(parents=True, exist_ok=True)
        for split, clips in parts.items():
            paths = [f"/private/home/rhgao/datasets/BINAURAL/binaural16k/{c}.wav".encode() for c in clips]
            with h5py.File(d / f"{split}.h5", "w") as f:
                f.create_dataset("audio", data=np.array(paths, dtype=object), dtype=h5py.string_dtype("ascii"))
    d = root / "new_splits" / "split1"
    d.mkdir(parents=True, exist_ok=True)
    k = max(1, n_clips // 4)
    parts = {"train": ids[2 * k:], "val": ids[:k], "test": ids[k:2 * k]}
    for split, clips in parts.items():
        (d / f"{split}.txt").write_text("\n".join(f"{c}.mp3" for c in clips))  # no newline after the last
    return root


def write_hm3d_ss(root: Path, scenes: dict[str, list[dict]], name: str = "hm3d-4view-rotation",
                  rate: int = 16000, rir_samples: int = 800, size: tuple[int, int] = (24, 32),
                  splits: dict[str, list[tuple[str, int]]] | None = None) -> Path:
    """``Dataset/AI-Habitat`` as SLfM's scripts write it. ``scenes``: scene -> list of pairs, each a dict with
    ``angles`` (4 camera angles, deg counter-clockwise), ``rel`` (relative angle of sound s seen by camera c,
    (S, 4) deg, + = left) and optional ``skip_rgb`` (a camera whose image is missing)."""
    from PIL import Image

    base = root / "ProcessedData" / name
    for scene, pairs in scenes.items():
        for p, pair in enumerate(pairs):
            d = base / scene / f"pair-{p:04d}"
            for sub in ("binaural_rirs", "binaural_rirs_direct", "binaural_rirs_indirect"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            rel = np.asarray(pair["rel"], dtype=np.float64)
            meta: dict = {}
            for c, ang in enumerate(pair["angles"]):
                meta[f"camera_{c}_angle"] = float(ang)
                meta[f"camera_{c}_position"] = list(pair.get("position", [1.0, 1.5, 2.0]))
                meta[f"camera_{c}_rotation_in_quaternion"] = [1.0, 0.0, 0.0, 0.0]
                if c not in pair.get("skip_rgb", ()):
                    img = np.full((*size, 3), 20 * c, np.uint8)
                    Image.fromarray(img).save(d / f"camera_{c}_rgb.png")
                for s in range(rel.shape[0]):
                    meta[f"relative_angle_between_sound_{s}_camera_{c}"] = float(rel[s, c])
                    meta[f"sound_{s}_camera_{c}_rir_rt60"] = [0.3, 0.32]
                    side = np.sign(np.sin(np.deg2rad(rel[s, c]))) or 1.0
                    direct = np.zeros((rir_samples, 2))
                    near, far = (0, 1) if side > 0 else (1, 0)
                    direct[10, near], direct[13, far] = 0.9, 0.45
                    indirect = np.zeros((rir_samples, 2))
                    indirect[40:, :] = 0.02 * np.exp(-np.arange(rir_samples - 40) / 150)[:, None]
                    for sub, x in (("binaural_rirs", direct + indirect), ("binaural_rirs_direct", direct),
                                   ("binaural_rirs_indirect", indirect)):
                        sf.write(d / sub / f"sound_{s}_camera_{c}_rir.wav", x, rate, subtype="PCM_16")
            for s in range(rel.shape[0]):
                meta[f"source_{s}_position"] = list(pair.get("sources", [[0.0, 1.5, 0.0]] * rel.shape[0])[s])
            (d / "metadata.json").write_text(json.dumps(meta))
    split_dir = root / "data-split" / name
    split_dir.mkdir(parents=True, exist_ok=True)
    if splits is None:
        every = [(sc, p) for sc, pairs in scenes.items() for p in range(len(pairs))]
        splits = {"train": every[:-2], "val": every[-2:-1], "test": every[-1:]}
    for split, items in splits.items():
        lines = ['"path"'] + [f'"./data/AI-Habitat/ProcessedData/{name}/{sc}/pair-{p:04d}"' for sc, p in items]
        (split_dir / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return root


def opengl_camera_zup(yaw_deg: float, position: tuple[float, float, float]) -> list[float]:
    """Row-major camera_to_world of an OpenGL camera (x right, y up, looking along -z) in a z-up world, turned
    ``yaw_deg`` counter-clockwise from facing +y."""
    t = np.deg2rad(yaw_deg)
    fwd = np.array([-np.sin(t), np.cos(t), 0.0])
    right = np.array([np.cos(t), np.sin(t), 0.0])
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, (0.0, 0.0, 1.0), -fwd, position
    return m.ravel().tolist()


def write_rwavs(root: Path, scenes: dict[str, dict], rate: int = 22050, seconds: int = 12, seed: int = 0) -> Path:
    """RWAVS ``release/``: per scene ``frames`` (frame number = second -> camera yaw), a source position, the
    binaural recording whose louder ear follows the source side at each second, train/val camera paths and
    one camera-path entry without a pose."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    positions = {}
    for scene, spec in scenes.items():
        d = root / scene
        (d / "frames").mkdir(parents=True, exist_ok=True)
        src = np.asarray(spec["source"], float)
        positions[scene] = {"source_position": src.tolist()}
        n = seconds * rate
        mono = bursts(rng, n, rate)
        left, right = mono.copy(), mono.copy()
        paths = {"train": [], "val": []}
        for t in range(seconds):
            yaw = spec["yaw"](t)
            fwd = np.array([-np.sin(np.deg2rad(yaw)), np.cos(np.deg2rad(yaw))])
            s = src[:2] - np.asarray(spec["camera"][:2])
            side = np.sign(fwd[0] * s[1] - fwd[1] * s[0]) or 1.0  # > 0: the source is to the left
            seg = slice(max(0, int((t - 0.5) * rate)), int((t + 0.5) * rate))
            (right if side > 0 else left)[seg] *= 0.3
            Image.fromarray(np.full((30, 40, 3), 8 * t, np.uint8)).save(d / "frames" / f"{t:05d}.png")
            split = "val" if t % 5 == 4 else "train"
            paths[split].append({"camera_to_world": opengl_camera_zup(yaw, tuple(spec["camera"])),
                                 "file_path": f"frames/{t:05d}.png"})
        paths["train"].append({"file_path": f"frames/{seconds - 1:05d}.png"})  # an entry without a pose
        for split, items in paths.items():
            (d / f"transforms_scale_{split}.json").write_text(json.dumps({"camera_path": items}))
        sf.write(d / "binaural_syn_re.wav", np.stack([left, right], axis=1), rate, subtype="PCM_16")
        sf.write(d / "source_syn_re.wav", mono, rate, subtype="PCM_16")
    (root / "position.json").write_text(json.dumps(positions))
    return root


def write_stereocrw_wild(root: Path, clips: dict[str, list[tuple[int, int, int]]], rate: int = 16000,
                         seconds: float = 3.0, seed: int = 0) -> Path:
    """``Youtube-Binaural``: ProcessedData/Youtube-IntheWild/<ytid>/<clip>/{frames, audio/audio.wav, meta.json}
    and data-split/in-the-wild/test_with_label.csv (header spelled ``if_filp`` as released). ``clips``: clip
    name (``<ytid>_<start>_<end>``) -> rows (start_time in frames, itd_label, if_flip); the recording is louder
    on the labelled side of the first row (flipped rows then hold the mirrored label)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = ['"path","start_time","itd_label","if_filp"']
    for clip, items in clips.items():
        ytid = clip.rsplit("_", 2)[0]
        d = root / "ProcessedData" / "Youtube-IntheWild" / ytid / clip
        (d / "frames").mkdir(parents=True, exist_ok=True)
        (d / "audio").mkdir(exist_ok=True)
        side = 1.0 if items[0][1] in (0, 1) else -1.0
        if items[0][2]:
            side = -side  # the row is flipped: the recording itself is on the other side
        sf.write(d / "audio" / "audio.wav", panned(rng, int(seconds * rate), rate, side), rate, subtype="PCM_16")
        for k in range(int(seconds * 10)):
            img = np.full((24, 32, 3), 30, np.uint8)
            img[:, :8 if side > 0 else 32] = 200
            Image.fromarray(img).save(d / "frames" / f"frame{k + 1:04d}.jpg")
        (d / "meta.json").write_text(json.dumps({"audio_sample_rate": rate, "frame_rate": 10}))
        for start, label, flip in items:
            rows.append(f'"./data/Youtube-Binaural/ProcessedData/Youtube-IntheWild/{ytid}/{clip}","{start}",'
                        f'"{label}","{flip}"')
    split = root / "data-split" / "in-the-wild"
    split.mkdir(parents=True, exist_ok=True)
    (split / "test_with_label.csv").write_text("\n".join(rows) + "\n")
    return root


def write_soundspaces1(root: Path, scene: str = "apartment_0", dataset: str = "replica", rate: int = 44100,
                       points: dict[int, tuple[float, float, float]] | None = None, rir_samples: int = 2000,
                       graph: bool = True) -> Path:
    """SoundSpaces 1.0: binaural_rirs/<dataset>/<scene>/<heading>/<r>_<s>.wav (float32) for every ordered pair
    of ``points`` (mesh coordinates, z up) and metadata/<dataset>/<scene>/{points.txt, graph.pkl}. Each RIR's
    louder ear is the source's side for the heading (clockwise from mesh +Y)."""
    import pickle

    import networkx as nx

    points = points or {0: (0.0, 0.0, 1.5), 1: (1.0, 0.0, 1.5), 2: (0.0, 2.0, 1.5), 3: (5.0, 5.0, 1.5)}
    meta = root / "metadata" / dataset / scene
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "points.txt").write_text("".join(f"{i}\t{x}\t{y}\t{z}\n" for i, (x, y, z) in points.items()))
    if graph:
        g = nx.Graph()
        for i, (x, y, z) in points.items():
            g.add_node(i, point=[x, z, -y])
        with open(meta / "graph.pkl", "wb") as f:
            pickle.dump(g, f)
    for a in (0, 90, 180, 270):
        d = root / "binaural_rirs" / dataset / scene / str(a)
        d.mkdir(parents=True, exist_ok=True)
        h = np.deg2rad(a)
        fwd = np.array([np.sin(h), np.cos(h)])  # clockwise from +Y
        for r, pr in points.items():
            for s, ps in points.items():
                if r == s:
                    continue
                v = np.asarray(ps[:2]) - np.asarray(pr[:2])
                side = np.sign(fwd[0] * v[1] - fwd[1] * v[0]) or 1.0  # > 0: left of the heading
                x = np.zeros((rir_samples, 2), np.float32)
                near, far = (0, 1) if side > 0 else (1, 0)
                x[20, near], x[40, far] = 0.9, 0.3
                sf.write(d / f"{r}_{s}.wav", x, rate, subtype="FLOAT")
    return root


# ------------------------------------------------------------------------ pretrained encoders' state dicts


def torchvision_resnet18_shapes(num_batches_tracked: bool = True) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ``resnet18().state_dict()`` (torchvision/models/resnet.py: conv1/bn1
    stem, layer1-4 of two BasicBlocks (conv1, bn1, conv2, bn2), a 1x1 ``downsample`` conv + BN opening
    layer2-4, fc 512 -> 1000), written out by hand. ``num_batches_tracked=False``: the published
    ``resnet18-5c106cde.pth``, saved before BatchNorm had that buffer."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (c,)
        if num_batches_tracked:
            shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    c_in = 64
    for layer, c in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            p = f"layer{layer}.{block}"
            shapes[f"{p}.conv1.weight"] = (c, c_in if block == 0 else c, 3, 3)
            bn(f"{p}.bn1", c)
            shapes[f"{p}.conv2.weight"] = (c, c, 3, 3)
            bn(f"{p}.bn2", c)
            if block == 0 and layer > 1:
                shapes[f"{p}.downsample.0.weight"] = (c, c_in, 1, 1)
                bn(f"{p}.downsample.1", c)
        c_in = c
    shapes["fc.weight"], shapes["fc.bias"] = (1000, 512), (1000,)
    return shapes


def torchvggish_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvggish's VGGish state dict (torchvggish/vggish.py ``make_layers``: convs at
    ``features`` indices 0, 3, 6, 8, 11, 13 (ReLUs and max-pools between); ``embeddings`` Linear layers at
    0, 2, 4 (512*4*6 -> 4096 -> 4096 -> 128)), written out by hand."""
    convs = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (c_out, c_in) in convs.items():
        shapes[f"features.{i}.weight"], shapes[f"features.{i}.bias"] = (c_out, c_in, 3, 3), (c_out,)
    for i, (n_out, n_in) in {0: (4096, 12288), 2: (4096, 4096), 4: (128, 4096)}.items():
        shapes[f"embeddings.{i}.weight"], shapes[f"embeddings.{i}.bias"] = (n_out, n_in), (n_out,)
    return shapes


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict:
    """A state dict of ``shapes`` with random values of a plausible scale (He-like weights, positive running
    variances, integer ``num_batches_tracked``), as ``torch.save`` would write a published checkpoint."""
    import collections

    import torch

    g = torch.Generator().manual_seed(seed)
    state = collections.OrderedDict()
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith(("running_mean", "bias")):
            state[key] = 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:  # BN weight
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:]))
            state[key] = torch.randn(shape, generator=g) * float(np.sqrt(2.0 / fan_in))
    return state


def _bn(x: torch.Tensor, s: dict, p: str) -> torch.Tensor:
    return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"], s[f"{p}.bias"],
                        training=False, eps=1e-5)


def torchvision_resnet18_forward(x: torch.Tensor, s: dict, last_layer: int = 4) -> torch.Tensor:
    """torchvision resnet18's conv1, bn1, relu, maxpool and layer1..``last_layer`` in eval mode, written out
    functionally from a state dict ``s`` in torchvision's layout (the re-derivation the loaders are checked
    against; ``last_layer`` 3 is SLfM's truncated camera trunk)."""
    x = F.relu(_bn(F.conv2d(x, s["conv1.weight"], stride=2, padding=3), s, "bn1"))
    x = F.max_pool2d(x, 3, stride=2, padding=1)
    for layer in range(1, last_layer + 1):
        for block in (0, 1):
            p = f"layer{layer}.{block}"
            stride = 2 if layer > 1 and block == 0 else 1
            y = F.relu(_bn(F.conv2d(x, s[f"{p}.conv1.weight"], stride=stride, padding=1), s, f"{p}.bn1"))
            y = _bn(F.conv2d(y, s[f"{p}.conv2.weight"], padding=1), s, f"{p}.bn2")
            if f"{p}.downsample.0.weight" in s:
                x = _bn(F.conv2d(x, s[f"{p}.downsample.0.weight"], stride=stride), s, f"{p}.downsample.1")
            x = F.relu(y + x)
    return x
