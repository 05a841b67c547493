"""``simkit egovideo`` (simulated egomotion videos with truth) and ``simkit curate`` (videos -> training clips)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from simkit.cli import app
from simkit.cli.options import executor_option, ray_address_option, workers_option
from simkit.curate.pipeline import CurateConfig
from simkit.errors import SimkitError
from simkit.render.egovideo import FRAME_SIDES, MAX_FPS, MAX_SECONDS, MEMORY_LIMIT, EgoVideoConfig
from simkit.video.egomotion import EgomotionConfig

_EGO = EgoVideoConfig()
_CUR = CurateConfig()
_MOT = EgomotionConfig()


def _floats(text: str, what: str, n: int | None = None) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise SimkitError(f"{what} expects comma-separated numbers (got {text!r})") from None
    if n is not None and len(vals) != n:
        raise SimkitError(f"{what} expects {n} comma-separated numbers (got {text!r})")
    return vals


@app.command()
def egovideo(
    out: Path = typer.Option(..., help="Output directory (video-folder layout; re-runs resume)."),
    videos: int = typer.Option(_EGO.videos, help="Number of videos."),
    seconds: float = typer.Option(_EGO.seconds, help=f"Length of each video (s, <= {MAX_SECONDS:g}; a video "
                                                        f"must fit in {MEMORY_LIMIT >> 30} GiB)."),
    fps: int = typer.Option(_EGO.fps, help=f"Frame rate (1-{MAX_FPS}); audio is rendered at every frame's pose."),
    width: int = typer.Option(_EGO.camera.width, help=f"Frame width (px, even, {FRAME_SIDES[0]}-{FRAME_SIDES[1]})."),
    height: int = typer.Option(_EGO.camera.height, help=f"Frame height (px, even, {FRAME_SIDES[0]}-{FRAME_SIDES[1]})."),
    hfov: float = typer.Option(_EGO.camera.hfov_deg, help="Horizontal field of view (deg)."),
    pitch: float = typer.Option(_EGO.camera.pitch_deg, help="Camera pitch (deg, negative = looking down)."),
    keyframes: str = typer.Option("", help="Trajectory T:YAW[:FORWARD[:RIGHT]],... (s, deg turned left, m); "
                                           "empty = random holds and pans."),
    pan_min: float = typer.Option(_EGO.pan_min_deg, help="Random trajectory: smallest pan (deg)."),
    pan_max: float = typer.Option(_EGO.pan_max_deg, help="Random trajectory: largest pan (deg)."),
    segment_seconds: float = typer.Option(_EGO.segment_seconds, help="Random trajectory: length of a hold/pan."),
    hold_prob: float = typer.Option(_EGO.hold_prob, help="Random trajectory: share of holds."),
    walk_speed: float = typer.Option(_EGO.walk_speed, help="Random trajectory: forward walk (m/s)."),
    sources: int = typer.Option(_EGO.sources, help="Static sound sources."),
    source_azimuth: str = typer.Option("", help="Start azimuths of the sources, comma list (deg, +90 = left); "
                                                "empty = random positions."),
    source_distance: float = typer.Option(_EGO.source_distance, help="Distance of azimuth-placed sources (m)."),
    signal: str = typer.Option(_EGO.signal, help="speech (espeak-ng / --speech LibriSpeech) | noise (pink)."),
    speech: Path = typer.Option(None, help="LibriSpeech root (default: built-in espeak-ng voices)."),
    scene: str = typer.Option(_EGO.scene, help="Scene id (embedded proc_000..proc_099, or of --scene-dir)."),
    scene_format: str = typer.Option("procedural", help="Scene format (as `simkit render --scene-format`)."),
    scene_dir: Path = typer.Option(None, help="Mesh dataset root for --scene-format other than procedural."),
    preset: str = typer.Option(_EGO.acoustics.preset, help="Ray-count preset: efficient | fast | default | high."),
    engine: str = typer.Option(_EGO.acoustics.engine, help="Acoustic engine: rlr | pyroomacoustics."),
    mic: str = typer.Option(_EGO.acoustics.mic, help="Microphone model: binaural | phone-stereo | spaced-pair "
                                                     "(as `simkit render --mic`)."),
    mic_spacing: float = typer.Option(None, help="--mic spaced-pair: capsule spacing (m, default 0.175)."),
    surface_detail: float = typer.Option(_EGO.surface_detail, help="World-anchored texture grain, 0-1."),
    portrait: bool = typer.Option(False, "--portrait", help="Portrait frames (height > width; curate refuses)."),
    mono: bool = typer.Option(False, "--mono", help="One audio channel (curate refuses)."),
    container: str = typer.Option(_EGO.container, help=".mp4 (H.264 + AAC) | .mkv (H.264 + PCM, lossless audio)."),
    seed: int = typer.Option(_EGO.seed, help="Seed of every random choice."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Simulated egomotion videos with exact poses and per-time azimuth labels (ground truth for curate)."""
    from simkit.render.egovideo import generate_egovideos
    from simkit.scenes.config import ScenesConfig

    cfg = EgoVideoConfig(
        videos=videos, seconds=seconds, fps=fps,
        camera=dataclasses.replace(_EGO.camera, width=width, height=height, hfov_deg=hfov, pitch_deg=pitch),
        portrait=portrait, mono=mono, sources=sources,
        source_azimuths=_floats(source_azimuth, "--source-azimuth") if source_azimuth else (),
        source_distance=source_distance, signal=signal, keyframes=keyframes, segment_seconds=segment_seconds,
        hold_prob=hold_prob, pan_min_deg=pan_min, pan_max_deg=pan_max, walk_speed=walk_speed,
        surface_detail=surface_detail, scene=scene,
        scene_set=ScenesConfig(format=scene_format, scene_dir=str(scene_dir) if scene_dir else None),
        acoustics=dataclasses.replace(_EGO.acoustics, preset=preset, engine=engine, mic=mic, mic_spacing=mic_spacing),
        speech=dataclasses.replace(_EGO.speech, corpus=str(speech) if speech else None),
        container=container, seed=seed,
    )
    result = generate_egovideos(cfg, out, progress=progress)
    typer.echo(f"{len(result.videos)} videos with truth -> {out} (labels.csv, truth/)")
    if result.failed:  # as `simkit render` with failed scenes: one line each, then the error (exit 2)
        for name, message in result.failed.items():
            typer.echo(f"failed: video {name}: {message}", err=True)
        first = next(iter(result.failed))
        raise SimkitError(f"{len(result.failed)} of {videos} videos failed (first: {first}); the others are complete "
                          "and in labels.csv. A re-run retries the failed ones, which fail again with the same "
                          "--seed: keep this set, or choose another --seed, --scene or --out")


@app.command()
def curate(
    videos: list[Path] = typer.Argument(..., help="Video files or folders (searched recursively)."),
    out: Path = typer.Option(..., help="Output directory (curation.csv + dataset; re-runs resume)."),
    clip_seconds: float = typer.Option(_CUR.clip_seconds, help="Clip length (s)."),
    clip_hop: float = typer.Option(_CUR.clip_hop, help="A clip starts every this many seconds."),
    motion_fps: float = typer.Option(_MOT.fps, help="Frames per second sampled for camera motion."),
    hfov: float = typer.Option(_MOT.hfov_deg, help="Camera horizontal field of view (deg), for the intrinsics."),
    motion_width: int = typer.Option(_MOT.width, help="Frames are scaled to this width before matching."),
    matcher: str = typer.Option(_MOT.matcher, help="Feature matcher: sift | orb (or a registered learned one)."),
    matcher_weights: Path = typer.Option(None, help="Local weights file of a learned matcher."),
    min_inliers: int = typer.Option(_MOT.min_inliers, help="RANSAC inliers a frame pair needs."),
    ransac_px: float = typer.Option(_MOT.ransac_px, help="RANSAC threshold (px)."),
    parallax_px: float = typer.Option(_MOT.parallax_px, help="Median rotation-compensated parallax under which "
                                                             "a pair is a pure rotation (px)."),
    iid_window: float = typer.Option(_CUR.iid_window, help="IID window (s)."),
    iid_hop: float = typer.Option(_CUR.iid_hop, help="IID window hop (s)."),
    min_rotation_train: float = typer.Option(_CUR.min_rotation_train, help="Train clips: least |rotation| (deg)."),
    min_rotation_eval: float = typer.Option(_CUR.min_rotation_eval, help="Val/test clips: least |rotation| (deg)."),
    agreement: bool = typer.Option(_CUR.agreement, "--agreement/--no-agreement",
                                   help="Drop clips whose IID change disagrees with the rotation direction."),
    max_clips: int = typer.Option(_CUR.max_clips, help="Per split, keep the best N by IID score (0 = all)."),
    uniform_eval: bool = typer.Option(_CUR.uniform_eval, "--uniform-eval/--no-uniform-eval",
                                      help="Val/test: sample towards a uniform rotation distribution."),
    uniform_train: bool = typer.Option(_CUR.uniform_train, "--uniform-train/--no-uniform-train",
                                       help="Train: the same."),
    bin_deg: float = typer.Option(_CUR.bin_deg, help="Rotation bin width of the uniform sampling (deg)."),
    views: int = typer.Option(_CUR.views, help="Time points (views) per clip."),
    view_seconds: float = typer.Option(_CUR.view_seconds, help="Audio window around each time point (s)."),
    frame_width: int = typer.Option(_CUR.frame_width, help="Width of the stored frames (px)."),
    split: str = typer.Option(",".join(f"{f:g}" for f in _CUR.split_fractions),
                              help="Train,val,test share of videos."),
    sample_rate: int = typer.Option(_CUR.sample_rate, help="Audio sample rate of the clips (Hz)."),
    seed: int = typer.Option(_CUR.seed, help="Seed (splits, RANSAC)."),
    workers: int = workers_option("Videos analysed"),
    executor: str = executor_option(),
    ray_address: str = ray_address_option(),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Cut videos into 5 s clips, estimate camera motion and IID, filter (seed 000 A.1.2), write a dataset."""
    from simkit.curate.pipeline import curate as run

    cfg = CurateConfig(
        clip_seconds=clip_seconds, clip_hop=clip_hop, sample_rate=sample_rate,
        motion=EgomotionConfig(fps=motion_fps, hfov_deg=hfov, width=motion_width, matcher=matcher,
                               matcher_weights=str(matcher_weights) if matcher_weights else None,
                               min_inliers=min_inliers, ransac_px=ransac_px, parallax_px=parallax_px),
        iid_window=iid_window, iid_hop=iid_hop, min_rotation_train=min_rotation_train,
        min_rotation_eval=min_rotation_eval, agreement=agreement, max_clips=max_clips, uniform_eval=uniform_eval,
        uniform_train=uniform_train, bin_deg=bin_deg, views=views, view_seconds=view_seconds,
        frame_width=frame_width, split_fractions=_floats(split, "--split", 3), seed=seed,  # type: ignore[arg-type]
    )
    r = run(list(videos), out, cfg, progress=progress, workers=workers, executor=executor, ray_address=ray_address)
    kept = ", ".join(f"{k} {v}" for k, v in r.kept.items())
    typer.echo(f"{r.videos} videos ({len(r.refused)} refused), {r.candidates} candidate clips, kept: {kept} "
               f"-> {r.out} (see {r.csv.name})")
