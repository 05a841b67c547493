"""``simkit egovideo``: simulated egomotion videos with exact truth (the ground truth no recorded set has).

A camera (= the listener: binaural ears, or a phone's microphones with ``--mic``) stands in a scene and
turns (optionally walks) along a trajectory.
Every frame is ray-cast (:mod:`simkit.vision.camera`); two-channel audio of S static sources is rendered by the
acoustic backend (RLR by default) at the pose of every frame and cross-faded between frames with triangular
windows (a partition of unity, so a static pose gives exactly the static render). Frames and audio are muxed
with PyAV. Beside each video the exact truth is written: per-frame poses, per-frame source azimuths
(:mod:`simkit.conventions`: +90 = left) and a JSON with the scene, sources and trajectory.

The output directory follows the ``video-folder`` layout (docs/datasets.md), so a generated set is both
curation input (``simkit curate OUT/videos``) and a labelled test set (``simkit prepare video-folder OUT``)::

    OUT/videos/ego_0000.mp4
    OUT/labels.csv                 5 s clips every 3 s, source 0's azimuth at the clip centre
    OUT/truth/ego_0000.json        scene, seed, sources, keyframes, config
    OUT/truth/ego_0000.poses.csv   time_s, x, y, z, yaw_deg per frame
    OUT/truth/ego_0000.azimuth.csv time_s, source, azimuth_deg, elevation_deg, distance_m per frame
    OUT/egovideo.json              resolved config, hash, versions; labelled and failed videos

Trajectories: explicit keyframes ``T:YAW[:FORWARD[:RIGHT]]`` (seconds, degrees turned left from the start
heading, metres along the start heading / to its right), smoothstep-interpolated; or random: segments of
``segment_seconds`` that hold still (``hold_prob``) or pan by a uniform angle in [pan_min, pan_max] to a
random side, with an optional forward walk at ``walk_speed``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simkit import conventions
from simkit.acoustics.config import AcousticsConfig, acoustics_content
from simkit.audio.config import SpeechConfig
from simkit.config import from_dict
from simkit.errors import OutputError, SimkitError
from simkit.io import atomic_write_json, atomic_write_text, package_versions, stable_hash
from simkit.render.config import SamplingConfig
from simkit.scenes.config import ScenesConfig
from simkit.vision.config import CameraConfig

# Upper bounds, checked before anything is written. One video is held in memory whole before it is encoded
# (frames, per-frame RIRs, audio), so beside the plain ranges the estimate of memory_bytes() is capped.
MAX_SECONDS = 3600.0  # one hour per video
MAX_FPS = 120
FRAME_SIDES = (16, 3840)  # smallest and largest frame width/height (px; 3840 = 4K UHD)
MEMORY_LIMIT = 4 << 30  # bytes one video may need (memory_bytes)
CLIP_SECONDS = 5.0  # the seed's clip length (A.1.2) ...
CLIP_HOP = 3.0  # ... cut every 3 s
SIGNALS = ("speech", "noise")


@dataclass
class EgoVideoConfig:
    """One ``simkit egovideo`` run (every random choice flows from ``seed``)."""

    videos: int = 1  # number of videos
    seconds: float = 10.0  # length of each video
    fps: int = 10  # frame rate; audio is rendered at the pose of every frame
    camera: CameraConfig = field(default_factory=lambda: CameraConfig(pitch_deg=0.0))  # walking-tour camera
    portrait: bool = False  # swap width and height (a portrait video, which curate refuses)
    mono: bool = False  # write one audio channel (the mean of the ears; curate refuses it)
    sources: int = 1  # static sources
    source_azimuths: tuple[float, ...] = ()  # start azimuth of source j (deg, +90 = left); () = random
    source_distance: float = 2.0  # m, distance of sources placed by azimuth
    signal: str = "speech"  # speech (espeak-ng / LibriSpeech utterances back to back) | noise (pink)
    keyframes: str = ""  # "T:YAW[:FWD[:RIGHT]],..." (empty = random trajectory)
    segment_seconds: float = 2.5  # random trajectory: length of one hold or pan
    hold_prob: float = 0.3  # random trajectory: share of segments without rotation
    pan_min_deg: float = 20.0  # random trajectory: smallest pan per segment
    pan_max_deg: float = 90.0  # random trajectory: largest pan per segment
    walk_speed: float = 0.0  # m/s forward along the start heading (random trajectory)
    surface_detail: float = 0.35  # world-anchored albedo grain (vision.textures.surface_detail); 0 = off
    scene: str = "proc_000"
    scene_set: ScenesConfig = field(default_factory=ScenesConfig)
    acoustics: AcousticsConfig = field(default_factory=lambda: AcousticsConfig(preset="fast", rir_seconds=0.5))
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    container: str = ".mp4"  # .mp4 (H.264 + AAC) | .mkv (H.264 + PCM)
    seed: int = 0
    max_tries: int = 200  # start poses tried per video before the scene is reported as too small

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        d = self.to_dict()
        d["scene_set"].pop("scene_dir")
        acoustics_content(d["acoustics"])  # binaural (the default) keeps the hash it had before --mic
        return stable_hash(d)

    def memory_bytes(self) -> int:
        """Estimated bytes one video holds at once: its frames (RGB, depth and instance ids, 9 bytes a pixel),
        per-frame RIRs (float32, direct + indirect + mixed) and audio (float64 sources and mix, and a copy)."""
        frames = int(round(self.seconds * self.fps))
        rir = int(round(self.acoustics.rir_seconds * self.acoustics.sample_rate))
        samples = int(round(self.seconds * self.acoustics.sample_rate))
        return (frames * self.camera.width * self.camera.height * 9 + 3 * frames * self.sources * 2 * rir * 4
                + samples * (self.sources + 2) * 8 * 2)

    def validate(self) -> None:
        """One SimkitError naming the first bad setting; nothing is written before this passes: the ranges
        below (until simkit.config carries them), then every field's type through the one converter
        (:func:`simkit.config.from_dict`, which also refuses non-finite numbers)."""
        self.camera.validate()
        if self.videos < 1:
            raise SimkitError(f"--videos must be >= 1 (got {self.videos})")
        if not 0 < self.seconds <= MAX_SECONDS:
            raise SimkitError(f"--seconds must be in (0, {MAX_SECONDS:g}] (got {self.seconds})")
        if not 1 <= self.fps <= MAX_FPS:
            raise SimkitError(f"--fps must be in [1, {MAX_FPS}] (got {self.fps})")
        lo, hi = FRAME_SIDES
        for what, side in (("--width", self.camera.width), ("--height", self.camera.height)):
            if not lo <= side <= hi:
                raise SimkitError(f"{what} must be in [{lo}, {hi}] pixels (got {side})")
        if self.camera.width % 2 or self.camera.height % 2:
            raise SimkitError(f"frame size must be even for H.264 (got {self.camera.width}x{self.camera.height})")
        if self.sources < 1:
            raise SimkitError(f"--sources must be >= 1 (got {self.sources})")
        need = self.memory_bytes()
        if need > MEMORY_LIMIT:
            raise SimkitError(
                f"one video of {self.seconds:g} s at {self.fps} fps, {self.camera.width}x{self.camera.height} "
                f"with {self.sources} source(s) needs about {need / 2**30:.1f} GiB in memory (limit "
                f"{MEMORY_LIMIT / 2**30:g} GiB); choose fewer --seconds, a lower --fps or smaller frames")
        if self.source_azimuths and len(self.source_azimuths) != self.sources:
            raise SimkitError(f"--source-azimuth given {len(self.source_azimuths)} times for {self.sources} sources")
        if self.signal not in SIGNALS:
            raise SimkitError(f"--signal must be one of {', '.join(SIGNALS)} (got {self.signal!r})")
        if not 0 <= self.pan_min_deg <= self.pan_max_deg <= 360:
            raise SimkitError(f"pan range needs 0 <= pan-min <= pan-max <= 360 (got {self.pan_min_deg}, "
                              f"{self.pan_max_deg})")
        if not 0 <= self.hold_prob <= 1:
            raise SimkitError(f"--hold-prob must be in [0, 1] (got {self.hold_prob})")
        if not self.segment_seconds > 0:
            raise SimkitError(f"--segment-seconds must be positive (got {self.segment_seconds})")
        if not 0 <= self.surface_detail <= 1:
            raise SimkitError(f"--surface-detail must be in [0, 1] (got {self.surface_detail})")
        if self.walk_speed < 0 or self.source_distance <= 0:
            raise SimkitError("--walk-speed must be >= 0 and --source-distance positive")
        if self.container not in (".mp4", ".mkv"):
            raise SimkitError(f"--container must be .mp4 or .mkv (got {self.container!r})")
        if self.keyframes:
            parse_keyframes(self.keyframes)
        from simkit.acoustics.mics import check_mic

        check_mic(self.acoustics.mic, self.acoustics.mic_spacing, self.acoustics.hrtf)
        from_dict(EgoVideoConfig, self.to_dict(), "egovideo")


def parse_keyframes(text: str) -> np.ndarray:
    """``"T:YAW[:FWD[:RIGHT]],..."`` -> (K, 4) array of time, yaw, forward, right; SimkitError if malformed."""
    rows = []
    for item in text.split(","):
        parts = item.strip().split(":")
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            vals = []
        if not 2 <= len(vals) <= 4:
            raise SimkitError(f"keyframe {item.strip()!r} is not T:YAW[:FORWARD[:RIGHT]]")
        rows.append(vals + [0.0] * (4 - len(vals)))
    k = np.asarray(rows, dtype=np.float64)
    if k[0, 0] != 0 or np.any(np.diff(k[:, 0]) <= 0):
        raise SimkitError("keyframe times must start at 0 and increase")
    return k


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def interpolate_keyframes(keys: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(len(times), 3) yaw, forward, right at ``times``: smoothstep between keyframes, held after the last."""
    out = np.empty((len(times), 3))
    for n, t in enumerate(times):
        j = int(np.searchsorted(keys[:, 0], t, side="right")) - 1
        if j >= len(keys) - 1:
            out[n] = keys[-1, 1:]
            continue
        u = _smoothstep(np.array((t - keys[j, 0]) / (keys[j + 1, 0] - keys[j, 0])))
        out[n] = keys[j, 1:] + u * (keys[j + 1, 1:] - keys[j, 1:])
    return out


def random_keyframes(cfg: EgoVideoConfig, rng: np.random.Generator) -> np.ndarray:
    """A random trajectory as keyframes: holds and pans of ``segment_seconds``, walking at ``walk_speed``.

    Every segment keeps its length: the last one may end after ``cfg.seconds`` and the video cuts it there
    (its planned motion continues past the end), rather than squeezing a whole pan into what is left."""
    n_seg = int(np.ceil(cfg.seconds / cfg.segment_seconds))
    keys = [[0.0, 0.0, 0.0, 0.0]]
    yaw = 0.0
    for s in range(n_seg):
        t = (s + 1) * cfg.segment_seconds
        if rng.random() >= cfg.hold_prob:
            yaw += float(rng.uniform(cfg.pan_min_deg, cfg.pan_max_deg)) * (1 if rng.random() < 0.5 else -1)
        keys.append([t, yaw, cfg.walk_speed * t, 0.0])
    return np.asarray(keys)


@dataclass
class Trajectory:
    """Exact per-frame truth of one video."""

    times: np.ndarray  # (F,) s
    positions: np.ndarray  # (F, 3) world, sensor (ears and camera)
    yaws_deg: np.ndarray  # (F,) + = turned left
    sources: np.ndarray  # (S, 3) world
    keyframes: np.ndarray  # (K, 4) relative to the start pose

    def azimuths(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Azimuth, elevation (deg) and distance (m) of every source per frame, each (F, S)."""
        rows = [conventions.source_labels(self.sources, p, float(y)) for p, y in zip(self.positions,
                                                                                       self.yaws_deg, strict=True)]
        return tuple(np.stack([r[k] for r in rows]) for k in range(3))  # type: ignore[return-value]


def plan_trajectory(scene, caster, floor, cfg: EgoVideoConfig, rng: np.random.Generator) -> Trajectory:
    """A start pose, sources and a path that stays in free air with every source in line of sight."""
    from simkit.render.sampling import cameras_ok, sample_sources, sample_view_set

    times = np.arange(int(round(cfg.seconds * cfg.fps))) / cfg.fps
    keys = parse_keyframes(cfg.keyframes) if cfg.keyframes else random_keyframes(cfg, rng)
    motion = interpolate_keyframes(keys, times)
    samp = SamplingConfig(views=2, sources=cfg.sources, max_tries=50)  # view 0 is the start pose
    for _ in range(cfg.max_tries):
        vs = sample_view_set(scene, samp, rng, caster=caster, floor=floor)
        start, yaw0 = vs.positions[0], float(vs.yaws_deg[0])
        rot = conventions.quat_to_matrix(conventions.yaw_to_quat(yaw0))
        fwd, right = rot @ conventions.FORWARD, rot @ conventions.RIGHT
        pos = start + motion[:, 1:2] * fwd + motion[:, 2:3] * right
        if np.ptp(motion[:, 1:], axis=0).max() > 0:
            feet = pos - np.array([0.0, samp.sensor_height, 0.0])
            if not (cameras_ok(caster, feet, samp).all()
                    and caster.visible(np.repeat(start[None], len(pos), 0), pos).all()):
                continue
        probe = pos[:: max(1, len(pos) // 8)]
        if cfg.source_azimuths:
            d = conventions.azimuth_to_local_direction(np.asarray(cfg.source_azimuths)) @ rot.T
            src = start + cfg.source_distance * d
            if not (caster.enclosed(src).all()
                    and caster.visible(np.repeat(probe, len(src), 0), np.tile(src, (len(probe), 1))).all()):
                continue
        else:
            src = vs.source_positions
            if len(probe) > 1:
                src = sample_sources(caster, probe, float(start[1] - samp.sensor_height), samp, rng)
                if src is None:
                    continue
        return Trajectory(times, pos, yaw0 + motion[:, 0], src, keys)
    raise SimkitError(f"scene {cfg.scene}: no start pose in {cfg.max_tries} tries keeps the trajectory in free "
                      "air with the sources in sight (shorter walk, other sources or another scene)")


def _pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def source_signals(cfg: EgoVideoConfig, rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """(S, n) dry signals at equal RMS: utterances of the test speakers back to back, or pink noise."""
    from simkit.audio.speech import CLIP_RMS, make_speech_source

    out = np.zeros((cfg.sources, n))
    if cfg.signal == "noise":
        for j in range(cfg.sources):
            out[j] = _pink_noise(rng, n)
    else:
        speech = make_speech_source(cfg.speech)
        for j in range(cfg.sources):
            pos = 0
            while pos < n:
                clip = speech.draw("test", rng, 3.0, sample_rate).audio
                k = min(len(clip), n - pos)
                out[j, pos : pos + k] = clip[:k]
                pos += k
    level = np.sqrt(np.mean(out**2, axis=1, keepdims=True)) + 1e-12
    return (out / level * CLIP_RMS).astype(np.float64)


def crossfade_render(dry: np.ndarray, rirs: np.ndarray, times: np.ndarray, sample_rate: int, n: int) -> np.ndarray:
    """Binaural audio (2, n) of static sources heard from a moving listener.

    ``dry`` (S, n) source signals, ``rirs`` (F, S, 2, R) the RIRs at the frame poses ``times`` (F,). Output =
    sum over frames of a triangular window (1 at the frame, 0 at its neighbours) times the sources convolved
    with that frame's RIRs; only each window's support is convolved.
    """
    from simkit.audio.dsp import fft_convolve

    f_count, r = len(times), rirs.shape[-1]
    centres = np.round(times * sample_rate).astype(np.int64)
    t = np.arange(n)
    out = np.zeros((2, n))
    for k in range(f_count):
        lo = centres[k - 1] if k > 0 else 0
        hi = centres[k + 1] if k + 1 < f_count else n
        if lo >= n:
            continue
        w = np.ones(hi - lo)
        seg_t = t[lo:hi]
        if k > 0:
            left = seg_t < centres[k]
            w[left] = (seg_t[left] - lo) / max(1, centres[k] - lo)
        if k + 1 < f_count:
            right = seg_t >= centres[k]
            w[right] = (hi - seg_t[right]) / max(1, hi - centres[k])
        a = max(0, lo - r + 1)
        x = dry[:, a:hi]  # (S, L)
        y = fft_convolve(x[:, None, :], rirs[k], x.shape[-1]).sum(axis=0)  # (2, L)
        out[:, lo:hi] += w * y[:, lo - a :]
    return out.astype(np.float32)


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def video_seed(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(b"egovideo"), index]))


def generate_video(cfg: EgoVideoConfig, index: int, out: Path, scene=None, caster=None, floor=None) -> Path:
    """Render video ``index`` of ``cfg`` into ``out`` (video + truth files); returns the video path."""
    from simkit.acoustics import MaterialDatabase, make_backend
    from simkit.render.sampling import FloorSampler
    from simkit.scenes.catalog import SceneSet
    from simkit.scenes.raycast import RayCaster
    from simkit.video.io import write_video
    from simkit.vision.camera import render_views

    if scene is None:
        scene = SceneSet.from_config(cfg.scene_set).load(cfg.scene, MaterialDatabase.embedded())
        caster = RayCaster(scene)
        floor = FloorSampler(scene, caster, SamplingConfig())
    scene.metadata["surface_detail"] = cfg.surface_detail
    rng = video_seed(cfg.seed, index)
    traj = plan_trajectory(scene, caster, floor, cfg, rng)
    cam = cfg.camera
    if cfg.portrait:
        cam = dataclasses.replace(cam, width=cam.height, height=cam.width)
    frames = render_views(scene, caster, traj.positions, traj.yaws_deg, cam).rgb
    ac = cfg.acoustics
    sr = ac.sample_rate
    n = int(round(cfg.seconds * sr))
    backend = make_backend(ac, MaterialDatabase.embedded())
    rirs = backend.render(scene, traj.positions, conventions.yaw_to_quat(traj.yaws_deg), traj.sources)
    audio = crossfade_render(source_signals(cfg, rng, n, sr), rirs.mixed(ac.indirect_gain), traj.times, sr, n)
    peak = float(np.abs(audio).max())
    if peak > 0.95:  # keep headroom for the codec; one gain for both ears keeps the IID
        audio *= 0.95 / peak
    if cfg.mono:
        audio = audio.mean(axis=0, keepdims=True)
    name = video_name(index)
    video = write_video(out / "videos" / f"{name}{cfg.container}", frames, cfg.fps, audio, sr)
    az, el, dist = traj.azimuths()
    truth = out / "truth"
    atomic_write_text(truth / f"{name}.poses.csv", _csv(
        ["time_s", "x", "y", "z", "yaw_deg"],
        [[_fmt(t), *(_fmt(v) for v in p), _fmt(y)] for t, p, y in
         zip(traj.times, traj.positions, traj.yaws_deg, strict=True)]))
    atomic_write_text(truth / f"{name}.azimuth.csv", _csv(
        ["time_s", "source", "azimuth_deg", "elevation_deg", "distance_m"],
        [[_fmt(t), j, _fmt(az[f, j]), _fmt(el[f, j]), _fmt(dist[f, j])]
         for f, t in enumerate(traj.times) for j in range(cfg.sources)]))
    atomic_write_json(truth / f"{name}.json", {
        "video": video.name, "scene": cfg.scene, "index": index, "seed": cfg.seed,
        "config_hash": cfg.config_hash(), "fps": cfg.fps, "seconds": cfg.seconds,
        "camera": dataclasses.asdict(cam), "sources": traj.sources.round(6).tolist(),
        "keyframes": traj.keyframes.round(6).tolist(), "start_yaw_deg": round(float(traj.yaws_deg[0]), 6),
        "signal": cfg.signal, "audio_channels": 1 if cfg.mono else 2, "sample_rate": sr, "mic": ac.mic,
    })
    return video


def clip_rows(name: str, traj_times: np.ndarray, yaws: np.ndarray, az0: np.ndarray, moved: np.ndarray,
              seconds: float) -> list[list]:
    """``labels.csv`` rows of one video: 5 s clips every 3 s, source 0's azimuth at the clip centre."""
    rows = []
    start = 0.0
    while start + CLIP_SECONDS <= seconds + 1e-9:
        end = start + CLIP_SECONDS
        f = int(np.argmin(np.abs(traj_times - (start + end) / 2)))
        inside = (traj_times >= start) & (traj_times <= end)
        turn = float(np.ptp(yaws[inside])) if inside.any() else 0.0
        motion = "static"
        if moved[inside].any():
            motion = "camera-walking"
        elif turn > 1.0:
            motion = "camera-rotation"
        rows.append([f"{name}@{start:g}", f"{name}", _fmt(start), _fmt(end), _fmt(az0[f]), "speech", motion])
        start += CLIP_HOP
    return rows


@dataclass
class EgoVideoResult:
    """What :func:`generate_egovideos` left in ``out``: the finished videos (made now or before, in index
    order), those made by this run, and the failed ones (video name -> the one-line error)."""

    out: Path
    videos: list[Path]
    done: list[str]
    failed: dict[str, str]


def generate_egovideos(cfg: EgoVideoConfig, out: Path | str, progress: bool = True) -> EgoVideoResult:
    """Write ``cfg.videos`` videos with truth into ``out`` (video-folder layout); resumable and deterministic.

    Video ``i`` depends only on ``(cfg, i)``. ``labels.csv`` and ``egovideo.json`` are rewritten (atomically)
    after every video, so whatever stops the run, every finished video is labelled. A video that fails with a
    SimkitError (no start pose in ``max_tries``) is skipped and named in :attr:`EgoVideoResult.failed` and in
    ``egovideo.json`` while the others are made (as ``simkit render`` does with a failed scene); a re-run of
    the same config skips the finished videos and retries the failed ones (which, seeded, fail again)."""
    from simkit.acoustics import MaterialDatabase
    from simkit.data.pipeline import Progress, run_units
    from simkit.data.writer import output_lock, remove_stale_temporaries
    from simkit.executors import executor_for
    from simkit.render.sampling import FloorSampler
    from simkit.scenes.catalog import SceneSet
    from simkit.scenes.raycast import RayCaster

    cfg.validate()
    out = Path(out)
    scene_set = SceneSet.from_config(cfg.scene_set)
    scene_set.resolve(cfg.scene)  # unknown scene: error before anything is written
    _check_ours(out, cfg)  # a refused directory gets nothing, not even the lock file
    with output_lock(out, "simkit egovideo"):
        _check_ours(out, cfg)  # again under the lock: another run may have claimed it meanwhile
        remove_stale_temporaries(out, ("videos", "truth"), _LEGACY)
        index = {video_name(i): i for i in range(cfg.videos)}

        def finished(name: str) -> bool:  # the truth JSON is written last
            return (out / "videos" / f"{name}{cfg.container}").is_file() and (out / "truth" / f"{name}.json").is_file()

        labels: dict[str, list[list]] = {n: _labels_of(out, n, cfg) for n in index if finished(n)}
        failed: dict[str, str] = {}

        def record() -> None:
            """labels.csv from every finished video, then egovideo.json naming them: a run stopped between the
            two leaves a labels.csv with more videos than egovideo.json lists, never fewer."""
            atomic_write_text(out / "labels.csv", _csv(LABEL_HEADER, [r for n in sorted(labels) for r in labels[n]]))
            atomic_write_json(out / "egovideo.json", {
                "tool": "simkit egovideo", "config": cfg.to_dict(), "config_hash": cfg.config_hash(),
                "versions": package_versions((*_VERSIONED, "av")),
                "labelled": sorted(labels), "failed": dict(sorted(failed.items())),
                "complete": len(labels) == cfg.videos})

        def video(*args) -> Path:  # the driver reports a failed unit by key only; keep its message here
            try:
                return generate_video(*args)
            except OutputError:
                raise
            except SimkitError as e:
                failed[video_name(args[1])] = str(e)
                raise

        def on_unit(name: str) -> None:
            if name in failed:  # nothing of it may stay: a video without truth would be curated unlabelled
                _remove_video(out, name, cfg.container)
            else:
                labels[name] = _labels_of(out, name, cfg)
            record()

        record()  # claims the directory and labels what an earlier run finished
        scene = scene_set.load(cfg.scene, MaterialDatabase.embedded())
        caster = RayCaster(scene)
        floor = FloorSampler(scene, caster, SamplingConfig())
        # in this process, in order: the scene and its ray caster are built once for every video
        ran = run_units(video, list(index), lambda n: (cfg, index[n], out, scene, caster, floor),
                        executor=executor_for("serial"), is_done=finished, failures="collect", on_unit=on_unit,
                        progress=Progress("egovideo", "video", progress, count_skipped=True))
    return EgoVideoResult(out, [out / "videos" / f"{n}{cfg.container}" for n in sorted(labels)], ran.done,
                          dict(sorted(failed.items())))


def video_name(index: int) -> str:
    """The name (file stem, truth prefix) of video ``index``."""
    return f"ego_{index:04d}"


def _remove_video(out: Path, name: str, container: str) -> None:
    """Remove what a failed video may have written (its video, truth files) before its truth JSON."""
    for p in (out / "videos" / f"{name}{container}", *(out / "truth" / f"{name}{ext}" for ext in
                                                        (".poses.csv", ".azimuth.csv", ".json"))):
        p.unlink(missing_ok=True)


def _check_ours(out: Path, cfg: EgoVideoConfig) -> None:
    """Refuse ``out`` unless it is new, empty (but for a lock or temporaries a killed run left) or holds
    egovideos of this very config."""
    from simkit.data.writer import is_leftover

    cpath = out / "egovideo.json"
    if cpath.exists():
        import json

        try:
            old = json.loads(cpath.read_text()).get("config_hash")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            old = None
        if old != cfg.config_hash():
            raise SimkitError(f"{out} holds egovideos of another config (hash {old}); choose another --out")
    elif out.is_dir() and any(not is_leftover(p.name, legacy=_LEGACY) for p in out.iterdir()):
        raise SimkitError(f"output directory {out} is not empty and holds no egovideo.json; choose another --out")
    elif out.exists() and not out.is_dir():
        raise SimkitError(f"--out {out} is a file, not a directory")


# besides the ``.<name>.<random>.tmp`` of every simkit writer, killed runs left the ``.<video>.<random>.mp4|.mkv``
# of writers before temporaries all ended in .tmp
_LEGACY = ("mp4", "mkv")


_VERSIONED = ("simkit", "numpy", "rlr-audio-propagation", "embreex", "espeakng-loader")
LABEL_HEADER = ["clip", "video", "start_s", "end_s", "azimuth", "category", "motion"]


def read_truth(out: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times, positions (F, 3), yaws (F,) and azimuths (F, S) from a video's truth files."""
    with open(out / "truth" / f"{name}.poses.csv") as f:
        p = np.array([[float(v) for v in row[:5]] for row in list(csv.reader(f))[1:]])
    with open(out / "truth" / f"{name}.azimuth.csv") as f:
        a = [row for row in list(csv.reader(f))[1:]]
    n_src = max(int(r[1]) for r in a) + 1
    az = np.array([float(r[2]) for r in a]).reshape(-1, n_src)
    return p[:, 0], p[:, 1:4], p[:, 4], az


def _labels_of(out: Path, name: str, cfg: EgoVideoConfig) -> list[list]:
    times, pos, yaws, az = read_truth(out, name)
    moved = np.linalg.norm(pos - pos[0], axis=1) > 0.05
    video = next((out / "videos").glob(f"{name}.*")).name
    rows = clip_rows(name, times, yaws, az[:, 0], moved, cfg.seconds)
    for r in rows:
        r[1] = video
        r[5] = cfg.signal
    return rows
