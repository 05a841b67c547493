"""``clup``: CLUP (Li, Zhao & Yuan, *Cyclic Learning for Binaural Audio Generation and Localization*, CVPR
2024) after its supplement (seed 001 §1), and the machinery it shares with ``clup_baseline``.

Localisation model (supp. §1). Audio network: "a pre-trained VGGish ... the model's weights are frozen": the
published VGGish from a local torchvggish file (``audio_weights``, :class:`.vggish.PretrainedVGGish`), else
the VGGish-style encoder (:mod:`.vggish`) trained from scratch. Visual network: "the pre-trained ResNet-18
... not frozen", a ResNet-18 of its own (the generation model has a separate one), both from a local
torchvision file (``visual_weights``) and fine-tuned, else trained from scratch. Two modules of the same structure:

* **Object-scene awareness (OSA)**: two FC layers + LayerNorm turn the audio embedding into ``f_ma``; the
  visual map is projected (1x1) to the same size, spatially averaged and LayerNorm-ed into the scene feature
  ``f_nv``. The *visual object feature* (main-text eq. 5, not in the seed; reconstructed here) pools the map
  with the audio attention ``a = sigmoid(<F(x), f_ma> / sqrt d)``; the *pseudo-visual object feature* (eq. 6,
  reconstructed) pools it with ``1 - a`` (what does not sound). Object features pass two FC layers before
  meeting ``f_ma``.
* **Semantic-spatial mining (SSM)**: the same with binaural input, so its FC layers have twice the input and
  output nodes (left and right embeddings concatenated).

Losses, all of the additional baseline's form ``||softmax(d+, d-) - (0, 1)||^2`` (supp. eq. 3): scene level
(``f_nv`` vs positive/negative audio; the seed's ``l_loc^sce``) and object level (object feature of the
positive vs of the negative pairing, and vs the pseudo-object feature; ``l_loc^obj``), for OSA on mono and
for SSM on the true binaural audio. The *cycle*: the upmix's one-step estimate of the binaural crop goes back
through SSM and its attention map must match SSM's map on the true binaural crop (weighted by
``alpha_bar_t``, so only low-noise steps count) - located objects guide generation, generated audio is
located again.

Object-aware upmix (supp. §1, after DiffWave): 3 residual blocks x 10 dilated layers
(:class:`.diffwave.DiffWave`) generate the scaled difference ``x0 = diff_scale * (L - R)`` from noise,
conditioned locally on the mono waveform and globally on the generation ResNet-18's layout code plus the
sounding-object guidance (OSA's object feature and its attention map pooled to 4 x 5). Binaural =
mono +- difference / 2 (simkit's mono = (L + R) / 2). Sampling uses a short schedule (``infer_steps``,
default DiffWave's 6 steps). For CPU budgets the upmix trains on a random ``upmix_crop_seconds`` (0.2 s)
crop of each 0.63 s window (it is fully convolutional; the localiser still sees the whole window) and whole
clips are generated in non-overlapping 0.63 s windows (``eval_hop_seconds``; 0.05 s is the protocol's).

Randomness (diffusion steps and noise) comes from a ``torch.Generator`` seeded with ``cfg.seed``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from simkit.errors import SimkitError
from simkit.metrics.binaural import WINDOW_SECONDS
from simkit.models import Batch, ModelSettings, parse_options, register_model
from simkit.models.binaural.base import (
    BinauralModel,
    VisualEncoder,
    binaural_from_difference,
    broadcast_to_batch,
    difference_of,
    normalize_batch,
    sized,
)
from simkit.models.binaural.diffwave import DiffWave, align_schedule, inference_betas
from simkit.models.binaural.vggish import PretrainedVGGish, VGGish


@dataclass(frozen=True)
class ClupFamilyOptions:
    """``--option`` keys of every CLUP-family model; paper values noted where they differ."""

    # Network sizes: 0 derives them from --width (w = 32 by default, 8 with --quick); [paper values].
    residual_channels: int = 0  # DiffWave channels, 0 = w [64 in DiffWave base]
    infer_steps: int = 6  # sampling steps (0 = the full 50-step training schedule)
    diff_scale: float = 4.0  # x0 = diff_scale * (L - R): brings the difference of 0.1-RMS windows near unit scale
    lambda_loc: float = 1.0  # weight of the localisation losses against the diffusion loss
    loc_dim: int = 128  # size of the audio-visual embedding space (VGGish's 128)
    vggish_width: int = 0  # first VGGish block's channels, 0 = w [64]; unused with audio_weights
    vggish_hidden: int = 0  # VGGish hidden FC size, 0 = 16 w [4096]; unused with audio_weights
    # Sliding-window hop when generating whole clips: the protocol's 0.05 s would make 8x more windows than
    # this non-overlapping choice, at about 6 DiffWave passes each - too slow on CPU (docs/binaural.md).
    eval_hop_seconds: float = WINDOW_SECONDS
    upmix_crop_seconds: float = 0.2  # the upmix trains on a random crop of each 0.63 s window (3x cheaper)
    loc_hop_seconds: float = 0.1  # hop of the 0.63 s windows scored by av_localize ("all 0.1 s sliding windows")
    # > 0: the upmix's noise loss is DiffWave's L1 (lmnt-com/diffwave learner.py:56); 0: the DDPM MSE
    noise_l1: float = 0.0
    # a torchvggish state dict: the published VGGish, frozen as the seed's ("" = the VGGish-style encoder
    # of vggish_width / vggish_hidden, trained from scratch)
    audio_weights: str = ""
    # a torchvision resnet18 state dict: both ResNet-18s start from ImageNet and are fine-tuned ("not
    # frozen", seed 001 §1), on ImageNet-normalised images ("" = ResNet-18s of --width from scratch)
    visual_weights: str = ""


@dataclass(frozen=True)
class ClupOptions(ClupFamilyOptions):
    """``clup`` and ``clup_loc``: the family's options and the cycle loss's weight."""

    lambda_cyc: float = 0.1


def pair_loss(d_pos: torch.Tensor, d_neg: torch.Tensor) -> torch.Tensor:
    """``mean ||softmax(d+, d-) - (0, 1)||^2`` (supp. eq. 3 with the softmax scaling of eq. 10)."""
    scaled = torch.softmax(torch.stack([d_pos, d_neg], dim=-1), dim=-1)
    return (scaled[..., 0] ** 2 + (scaled[..., 1] - 1.0) ** 2).mean()


@dataclass
class LocOutput:
    """What a localisation module returns for a batch of positive/negative pairings."""

    loss: torch.Tensor
    parts: dict[str, float]
    guide: torch.Tensor  # (B, guide_dim): object-level guidance for the upmix
    d_pos: torch.Tensor  # (B,) raw distance of the positive pair
    d_neg: torch.Tensor  # (B,) raw distance of the negative pair
    attention: torch.Tensor | None = None  # (B, h, w) OSA's attention of the positive pair: where the sound is


class AwarenessModule(nn.Module):
    """OSA (``audio_in`` = d_a) or SSM (``audio_in`` = 2 d_a, twice the nodes): audio head, scene, objects."""

    def __init__(self, visual_channels: int, audio_in: int, dim: int) -> None:
        super().__init__()
        self.audio_head = nn.Sequential(
            nn.Linear(audio_in, dim), nn.ReLU(), nn.Linear(dim, dim), nn.LayerNorm(dim)
        )
        self.visual_proj = nn.Conv2d(visual_channels, dim, 1)
        self.scene_norm = nn.LayerNorm(dim)
        self.object_head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.dim = dim

    def audio(self, emb: torch.Tensor) -> torch.Tensor:
        return self.audio_head(emb)

    def visual(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected map (B, d, h, w) and scene feature f_nv (B, d)."""
        proj = self.visual_proj(fmap)
        return proj, self.scene_norm(proj.mean(dim=(-2, -1)))

    def objects(
        self, proj: torch.Tensor, f_ma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Object feature, pseudo-object feature (both through the object head) and attention (B, h, w)."""
        att = torch.sigmoid(torch.einsum("bdhw,bd->bhw", proj, f_ma) / math.sqrt(self.dim))
        w_obj = att / (att.sum(dim=(-2, -1), keepdim=True) + 1e-6)
        w_bg = (1 - att) / ((1 - att).sum(dim=(-2, -1), keepdim=True) + 1e-6)
        f_vo = torch.einsum("bdhw,bhw->bd", proj, w_obj)
        f_pvo = torch.einsum("bdhw,bhw->bd", proj, w_bg)
        return self.object_head(f_vo), self.object_head(f_pvo), att

    def losses(
        self, fmap: torch.Tensor, emb_pos: torch.Tensor, emb_neg: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Scene and object losses, the object-level distances and the positive attention map."""
        proj, f_nv = self.visual(fmap)
        a_pos, a_neg = self.audio(emb_pos), self.audio(emb_neg)
        obj_pos, pseudo_pos, att = self.objects(proj, a_pos)
        obj_neg, _, _ = self.objects(proj, a_neg)
        d_pos = torch.linalg.vector_norm(obj_pos - a_pos, dim=-1)
        d_neg = torch.linalg.vector_norm(obj_neg - a_neg, dim=-1)
        d_pseudo = torch.linalg.vector_norm(pseudo_pos - a_pos, dim=-1)
        sce = pair_loss(
            torch.linalg.vector_norm(f_nv - a_pos, dim=-1), torch.linalg.vector_norm(f_nv - a_neg, dim=-1)
        )
        obj = pair_loss(d_pos, d_neg) + pair_loss(d_pos, d_pseudo)
        return {"sce": sce, "obj": obj, "d_pos": d_pos, "d_neg": d_neg, "object": obj_pos, "attention": att}


class ObjectLocalizer(nn.Module):
    """CLUP's localisation head: OSA on mono audio, SSM on binaural audio."""

    def __init__(self, visual_channels: int, audio_dim: int, dim: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.osa = AwarenessModule(visual_channels, audio_dim, dim)
        self.ssm = AwarenessModule(visual_channels, 2 * audio_dim, 2 * dim)
        self.grid = grid
        self.guide_dim = dim + grid[0] * grid[1]

    def guide(self, obj: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        return torch.cat([obj, torch.flatten(F.adaptive_avg_pool2d(att[:, None], self.grid), 1)], dim=1)

    def forward(
        self,
        fmap: torch.Tensor,
        emb_pos: torch.Tensor,
        emb_neg: torch.Tensor,
        bin_pos: torch.Tensor | None = None,
        bin_neg: torch.Tensor | None = None,
    ) -> LocOutput:
        osa = self.osa.losses(fmap, emb_pos, emb_neg)
        loss = osa["sce"] + osa["obj"]
        parts = {"osa_sce": float(osa["sce"].detach()), "osa_obj": float(osa["obj"].detach())}
        if bin_pos is not None and bin_neg is not None:
            ssm = self.ssm.losses(fmap, bin_pos, bin_neg)
            loss = loss + ssm["sce"] + ssm["obj"]
            parts.update(ssm_sce=float(ssm["sce"].detach()), ssm_obj=float(ssm["obj"].detach()))
        return LocOutput(loss, parts, self.guide(osa["object"], osa["attention"]), osa["d_pos"], osa["d_neg"],
                         osa["attention"])

    def ssm_attention(self, fmap: torch.Tensor, bin_emb: torch.Tensor) -> torch.Tensor:
        proj, _ = self.ssm.visual(fmap)
        return self.ssm.objects(proj, self.ssm.audio(bin_emb))[2]


class ClupFamily(BinauralModel):
    """Localisation model + object-aware diffusion upmix, trained jointly; subclasses pick the localiser.

    With ``upmix=False`` only the localisation part is built and trained (the ``*_loc`` models of the
    ``av_localize`` task); ``predict`` then returns raw distances ``d_pos``/``d_neg`` per 0.63 s window.
    """

    name = "clup"
    options: ClassVar[type[ClupFamilyOptions]] = ClupFamilyOptions
    needs_negative_pairs = True  # the localisation losses (and the *_loc predictions) score mismatched pairs
    binaural_localizer = True  # the localiser has an SSM branch fed with binaural audio

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any], upmix: bool = True) -> None:
        opts = parse_options(self.name, self.options, cfg.model_options)
        super().__init__(opts.eval_hop_seconds)
        self.opts = opts
        self.use_upmix = upmix
        self.audio: PretrainedVGGish | VGGish = (
            PretrainedVGGish(opts.audio_weights)
            if opts.audio_weights
            else VGGish(sized(opts.vggish_width, cfg.width, 1), sized(opts.vggish_hidden, cfg.width, 16))
        )
        self.loc_visual = VisualEncoder(cfg.width, weights=opts.visual_weights or None)
        self.localizer = self.build_localizer(self.loc_visual.channels, self.audio.embed_dim, opts.loc_dim)
        if upmix:
            self.gen_visual = VisualEncoder(cfg.width, weights=opts.visual_weights or None)
            self.upmix = DiffWave(
                sized(opts.residual_channels, cfg.width, 1),
                blocks=3,
                layers_per_block=10,
                global_dim=self.gen_visual.code_dim + self.localizer.guide_dim,
            )
            self.schedule = align_schedule(inference_betas(opts.infer_steps))
        if opts.diff_scale <= 0:
            raise SimkitError(f"model {self.name}: diff_scale must be > 0 (got {opts.diff_scale})")
        if opts.upmix_crop_seconds <= 0:
            raise SimkitError(f"model {self.name}: upmix_crop_seconds must be > 0 (got {opts.upmix_crop_seconds})")
        self.seed = int(cfg.seed)
        self._generators: dict[str, torch.Generator] = {}

    def build_localizer(self, visual_channels: int, audio_dim: int, dim: int) -> nn.Module:
        return ObjectLocalizer(visual_channels, audio_dim, dim, self.loc_visual.code_grid)

    def generator(self, device: torch.device) -> torch.Generator:
        """The model's own random stream on ``device`` (seeded once from cfg.seed)."""
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def reseed(self, seed: int | None = None) -> None:
        """Restart the random stream (diffusion steps, noise, crops) from ``seed`` (default: cfg.seed)."""
        self.seed = self.seed if seed is None else int(seed)
        self._generators.clear()

    def embed_binaural(self, binaural: torch.Tensor) -> torch.Tensor:
        """VGGish embeddings of both ears, concatenated (B, 2 d_a)."""
        b = binaural.shape[0]
        return self.audio(binaural.reshape(b * 2, -1)).reshape(b, -1)

    def localize(self, batch: Batch, with_binaural: bool) -> tuple[LocOutput, torch.Tensor]:
        """Localisation outputs for the positive and the ``neg_*`` pairs, and the visual feature map."""
        fmap = self.loc_visual.feature_map(batch["image"])
        emb = self.audio(batch["mono"])
        if "neg_mono" not in batch:
            raise SimkitError(f"model {self.name} needs negative pairs: the batch has no neg_mono")
        emb_neg = self.audio(batch["neg_mono"])
        bins = (None, None)
        if with_binaural and self.binaural_localizer and "binaural" in batch and "neg_binaural" in batch:
            bins = (self.embed_binaural(batch["binaural"]), self.embed_binaural(batch["neg_binaural"]))
        return self.localizer(fmap, emb, emb_neg, *bins), fmap

    def local(self, mono: torch.Tensor) -> torch.Tensor:
        """Local condition (B, 1, T): the mono on the scale of ``x0`` (both x ``diff_scale``, near unit RMS)."""
        return self.opts.diff_scale * mono[:, None]

    def condition(self, image: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        code = self.gen_visual.layout_code(self.gen_visual.feature_map(image))
        return torch.cat([broadcast_to_batch(code, guide.shape[0]), guide], dim=1)

    def cycle_loss(
        self, fmap: torch.Tensor, generated: torch.Tensor, true: torch.Tensor, alpha_bar: torch.Tensor
    ) -> torch.Tensor | None:
        """Extra loss on generated binaural crops vs the true ones (None: this model has no cycle)."""
        return None

    def crop(self, n: int, device: torch.device) -> slice:
        """Random ``upmix_crop_seconds`` crop of an ``n``-sample window (all of it when shorter)."""
        size = min(n, max(1, int(round(self.opts.upmix_crop_seconds * self.sample_rate))))
        off = int(torch.randint(0, n - size + 1, (1,), generator=self.generator(device), device=device))
        return slice(off, off + size)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        batch = normalize_batch(batch)
        loc, fmap = self.localize(batch, with_binaural=True)
        total = self.opts.lambda_loc * loc.loss
        parts = dict(loc.parts)
        if self.use_upmix:
            cut = self.crop(batch["mono"].shape[-1], batch["mono"].device)
            mono, true = batch["mono"][:, cut], batch["binaural"][..., cut]
            x0 = self.opts.diff_scale * difference_of(true)[:, None]
            eps_loss, x0_hat, a_bar = self.upmix.training_loss(
                x0, self.local(mono), self.condition(batch["image"], loc.guide), self.generator(mono.device),
                l1=self.opts.noise_l1 > 0,
            )
            total = total + eps_loss
            parts["eps_l1" if self.opts.noise_l1 > 0 else "eps_mse"] = float(eps_loss.detach())
            generated = binaural_from_difference(mono, x0_hat[:, 0] / self.opts.diff_scale)
            cyc = self.cycle_loss(fmap, generated, true, a_bar)
            if cyc is not None:
                total = total + cyc
                parts["cycle"] = float(cyc.detach())
        parts["loss"] = float(total.detach())
        return total, parts

    def generate(self, mono: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        emb = self.audio(mono)
        fmap = broadcast_to_batch(self.loc_visual.feature_map(image), mono.shape[0])
        loc = self.localizer(fmap, emb, emb)  # only the positive guide is used
        x = self.upmix.sample(
            self.local(mono), self.condition(image, loc.guide), self.schedule, self.generator(mono.device)
        )
        return binaural_from_difference(mono, x[:, 0] / self.opts.diff_scale)

    @torch.no_grad()
    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.use_upmix:
            return super().predict(batch)
        return self.window_distances(batch)

    def window_distances(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Raw ``d_pos``/``d_neg`` (B, n_windows) of 0.63 s windows every ``loc_hop_seconds`` of the clips,
        and ``loc_map`` (B, n_windows, h, w), OSA's attention map of each positive window (the localisation
        map ``av_localize`` scores against the sources' objects where the items carry their masks; not for a
        localiser without one, CLUP's baseline).

        Each window is level-normalised like the training windows (:func:`normalize_batch`).
        """
        mono, neg = batch["mono"], batch["neg_mono"]
        n = min(mono.shape[-1], neg.shape[-1])
        window = min(self.window, n)
        hop = max(1, int(round(self.opts.loc_hop_seconds * self.sample_rate)))
        fmap = self.loc_visual.feature_map(batch["image"])  # one image per clip: computed once
        d_pos, d_neg, maps = [], [], []
        for s in range(0, n - window + 1, hop):
            seg = normalize_batch({"mono": mono[:, s : s + window], "neg_mono": neg[:, s : s + window]})
            loc = self.localizer(fmap, self.audio(seg["mono"]), self.audio(seg["neg_mono"]))
            d_pos.append(loc.d_pos)
            d_neg.append(loc.d_neg)
            if loc.attention is not None:  # the baseline's localiser has no map
                maps.append(loc.attention)
        out = {"d_pos": torch.stack(d_pos, dim=1), "d_neg": torch.stack(d_neg, dim=1)}
        if maps:
            out["loc_map"] = torch.stack(maps, dim=1)
        return out


@register_model(
    "clup",
    task="binauralize",
    trainable=True,
    description="CLUP: object-aware localisation (OSA + SSM) + DiffWave upmix of L - R, cyclic loss",
    options=ClupOptions,
)
class Clup(ClupFamily):
    """CLUP with the cycle loss (option ``lambda_cyc``)."""

    name = "clup"
    options = ClupOptions
    opts: ClupOptions

    def cycle_loss(
        self, fmap: torch.Tensor, generated: torch.Tensor, true: torch.Tensor, alpha_bar: torch.Tensor
    ) -> torch.Tensor | None:
        if self.opts.lambda_cyc == 0:
            return None
        with torch.no_grad():
            target = self.localizer.ssm_attention(fmap, self.embed_binaural(true))
        att = self.localizer.ssm_attention(fmap, self.embed_binaural(generated))
        per_item = ((att - target) ** 2).mean(dim=(-2, -1))
        return self.opts.lambda_cyc * (alpha_bar * per_item).mean()


@register_model(
    "clup_loc",
    task="av_localize",
    trainable=True,
    description="CLUP's localisation model (OSA + SSM) trained alone",
    options=ClupOptions,
)
class ClupLocalizer(Clup):
    """The localisation part of ``clup`` (no upmix, no cycle)."""

    name = "clup_loc"

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        super().__init__(cfg, info, upmix=False)
