"""Mixed clips: the clip per view that holds every source of a view set at once, with an optional distractor
level and diffuse background noise (``RenderConfig.mix``, docs/scenes.md "Mixed clips").

A render with ``mix.enabled`` writes, besides the per-source clips ``audio/binaural[n, v, s]``, the mix
``audio/mix[n, v] = sum_s audio/binaural[n, v, s] + noise[n, v]`` (channel 0 = left) and the target source
of every view ``labels/mix_target[n, v]``. Every random choice here comes from :func:`mix_rng`, a stream of
its own derived from the render seed, so turning the mix on leaves the sampling of views, sources and
utterances as it was.

Diffuse noise follows Habets, Cohen & Gannot, "Generating nonstationary multisensor signals under a spatial
coherence constraint", JASA 124(5):2911-2917, 2008: two independent white Gaussian noises mixed per
frequency bin by the Cholesky factor of the 2x2 coherence matrix, so the two channels have the coherence
``gamma(f)`` of a diffuse (spherically isotropic) field at the microphones:

* ``binaural`` (a head between the ears): Lindevald & Benade, "Two-ear correlation in the statistical sound
  fields of rooms", JASA 80(2):661-664, 1986: ``sinc(2.2 k d) / sqrt(1 + (0.5 k d)^4)`` with ``k = 2 pi f /
  c`` and ``d`` = 0.15 m (their head width), sinc(x) = sin(x) / x;
* two omnidirectional capsules in free field ``d`` apart: ``sinc(k d)`` (Cook, Waterhouse, Berendt, Edelman
  & Thompson, "Measurement of correlation coefficients in reverberant sound fields", JASA 27(6):1072-1077,
  1955).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from simkit.config import setting
from simkit.errors import SimkitError

TARGETS = ("loudest", "first")
MIX_STREAM = 0x6D6978  # "mix": the SeedSequence word that keeps the mix's stream apart from the sampling's
SPEED_OF_SOUND = 343.0  # m/s, 20 degC
HEAD_WIDTH_M = 0.15  # Lindevald & Benade 1986: the head width their fit is expressed in
HEAD_ALPHA, HEAD_BETA = 2.2, 0.5  # Lindevald & Benade 1986, the fitted sinc(alpha kd) / sqrt(1 + (beta kd)^4)


@dataclass
class MixConfig:
    """The mixed clip per view (off by default: renders then carry per-source clips only)."""

    enabled: bool = False  # write audio/mix (N, V, 2, T) and labels/mix_target (N, V)
    # the source each view's mix is labelled with: loudest = the most energy at the listener (both ears),
    # first = source 0 (a designated target)
    target: str = setting("loudest", choices=TARGETS)
    # gain (dB) of sources 1.. relative to source 0, drawn uniformly per source and set; it scales the dry
    # source, so audio/source, audio/binaural and the mix agree
    distractor_gain_db: tuple[float, float] = (0.0, 0.0)
    # diffuse noise added to the mix only, at an SNR (dB, clean mix energy over noise energy, both ears, whole
    # clip) drawn uniformly per view; None = no noise
    noise_snr_db: tuple[float, float] | None = None

    def is_default(self) -> bool:
        return self == MixConfig()


def check_mix_config(cfg: MixConfig) -> None:
    """The rules between fields: ranges ordered, and nothing set while the mix is off."""
    for name, rng in (("distractor_gain_db", cfg.distractor_gain_db), ("noise_snr_db", cfg.noise_snr_db)):
        if rng is not None and not rng[0] <= rng[1]:
            raise SimkitError(f"mix.{name} must be [lo, hi] with lo <= hi (got {list(rng)})")
    if abs(cfg.distractor_gain_db[0]) > 60 or abs(cfg.distractor_gain_db[1]) > 60:
        raise SimkitError(f"mix.distractor_gain_db must lie in [-60, 60] dB (got {list(cfg.distractor_gain_db)})")
    if not cfg.enabled and cfg != MixConfig():
        raise SimkitError("mix settings need mix.enabled = true (--option mix.enabled=true or --recipe wild)")


def mix_rng(seed: int, scene_id: str, index: int) -> np.random.Generator:
    """The mix's generator for view set ``index`` of ``scene_id``: its own stream of the render seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(scene_id.encode()), index, MIX_STREAM]))


def source_gains(cfg: MixConfig, rng: np.random.Generator, n_sources: int) -> np.ndarray:
    """(S,) linear gains of the dry sources: 1 for source 0, ``distractor_gain_db`` drawn for the others
    (no draw when the range is [0, 0])."""
    gains = np.ones(n_sources)
    lo, hi = cfg.distractor_gain_db
    if n_sources > 1 and (lo, hi) != (0.0, 0.0):
        gains[1:] = 10.0 ** (rng.uniform(lo, hi, n_sources - 1) / 20.0)
    return gains


def mix_targets(clips: np.ndarray, target: str) -> np.ndarray:
    """(V,) the target source of each view of per-source clips (V, S, 2, T): the loudest at the listener
    (energy over both channels) or source 0."""
    clips = np.asarray(clips)
    if target == "first":
        return np.zeros(clips.shape[0], np.int16)
    energy = np.sum(np.asarray(clips, dtype=np.float64) ** 2, axis=(-2, -1))  # (V, S)
    return np.argmax(energy, axis=1).astype(np.int16)


def diffuse_coherence(freqs_hz: np.ndarray, mic: str = "binaural", spacing_m: float = HEAD_WIDTH_M) -> np.ndarray:
    """The two-channel coherence of a diffuse field at ``freqs_hz``: the head model of Lindevald & Benade
    (``mic = "binaural"``) or two free-field omnis ``spacing_m`` apart (any other microphone)."""
    kd = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / SPEED_OF_SOUND
    if mic == "binaural":
        kd = kd * HEAD_WIDTH_M
        return np.sinc(HEAD_ALPHA * kd / np.pi) / np.sqrt(1.0 + (HEAD_BETA * kd) ** 4)
    return np.sinc(kd * spacing_m / np.pi)  # numpy's sinc is sin(pi x) / (pi x)


def diffuse_noise(rng: np.random.Generator, n_views: int, n_samples: int, sample_rate: int,
                  mic: str = "binaural", spacing_m: float = HEAD_WIDTH_M) -> np.ndarray:
    """(V, 2, T) float64 white Gaussian noise, unit variance per channel, whose channels have the diffuse
    field's coherence (Habets, Cohen & Gannot 2008: per-bin Cholesky mixing of two independent noises)."""
    if n_samples == 0:
        return np.zeros((n_views, 2, 0))
    white = rng.standard_normal((n_views, 2, n_samples))
    spec = np.fft.rfft(white, axis=-1)
    gamma = np.clip(diffuse_coherence(np.fft.rfftfreq(n_samples, 1.0 / sample_rate), mic, spacing_m), -1.0, 1.0)
    right = gamma * spec[:, 0] + np.sqrt(1.0 - gamma**2) * spec[:, 1]
    return np.stack([np.fft.irfft(spec[:, 0], n_samples, axis=-1), np.fft.irfft(right, n_samples, axis=-1)], axis=1)


def snr_db(signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(...,) SNR in dB of (..., 2, T) signals over noises, energies summed over both channels."""
    s = np.sum(np.asarray(signal, dtype=np.float64) ** 2, axis=(-2, -1))
    n = np.sum(np.asarray(noise, dtype=np.float64) ** 2, axis=(-2, -1))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(s, 1e-300) / np.maximum(n, 1e-300))


@dataclass
class Mix:
    """One view set's mix: the clip per view, the noise in it (None without noise), its SNR and the targets."""

    mix: np.ndarray  # (V, 2, T) float32
    noise: np.ndarray | None  # (V, 2, T) float32, already in the mix
    snr_db: np.ndarray | None  # (V,) float32, the SNR each view's noise was scaled to
    target: np.ndarray  # (V,) int16


def mix_set(clips: np.ndarray, cfg: MixConfig, rng: np.random.Generator, sample_rate: int,
            mic: str = "binaural", spacing_m: float = HEAD_WIDTH_M) -> Mix:
    """The mix of per-source clips (V, S, 2, T): their float32 sum over sources plus, with
    ``noise_snr_db``, diffuse noise scaled per view to an SNR drawn uniformly from the range."""
    clips = np.asarray(clips, dtype=np.float32)
    clean = clips.sum(axis=1, dtype=np.float32)  # (V, 2, T)
    target = mix_targets(clips, cfg.target)
    if cfg.noise_snr_db is None:
        return Mix(clean, None, None, target)
    v, _, t = clean.shape
    want = rng.uniform(cfg.noise_snr_db[0], cfg.noise_snr_db[1], v)
    raw = diffuse_noise(rng, v, t, sample_rate, mic, spacing_m)
    e_clean = np.sum(clean.astype(np.float64) ** 2, axis=(-2, -1))
    e_raw = np.maximum(np.sum(raw**2, axis=(-2, -1)), 1e-300)
    scale = np.sqrt(e_clean / e_raw * 10.0 ** (-want / 10.0))
    noise = (raw * scale[:, None, None]).astype(np.float32)
    return Mix((clean + noise).astype(np.float32), noise, want.astype(np.float32), target)


def check_mix_sources(n_sources: int, cfg: MixConfig) -> None:
    """A mix needs something to mix: refuse distractor gains with a single source."""
    if cfg.enabled and n_sources < 2 and cfg.distractor_gain_db != (0.0, 0.0):
        raise SimkitError(f"mix.distractor_gain_db needs sampling.sources >= 2 (got {n_sources})")
