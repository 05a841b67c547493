"""``slfm``: Sound Localization from Motion as its authors' code trains it (IFICL/SLfM@0257622).

Two training stages (:meth:`SLfMModel.training_stages`), both inside ``simkit bench``:

1. **pretext** - cross-view binauralisation (``slfm/models/slfm_pretext_net.py``, ``scripts/training/
   slfm-pretext.sh``): for every target view i of an item, a U-Net predicts the side channel ``L - R``
   (STFT real/imag) of view i from its mid channel ``L + R``, conditioned on the audio features of the
   reference view 0 and the camera network's correlation features of images (i, 0); L1 x 10.
2. **geometric** - the pretext checkpoint (the stage's best, loaded back by the harness) with the audio,
   camera and generative networks frozen (their BatchNorms in eval mode), only the audio ``pred_head`` and
   the camera ``rot_head`` train (``slfm_geo_net.py:340-381``, ``--freeze_audio --freeze_camera
   --freeze_generative`` in ``slfm-geometric.sh:34``) on
   ``10 Geo + 1 Bin + 1 (AudioSym + RotSym)`` (:func:`geometric_loss`, :func:`binaural_loss`,
   :func:`symmetric_loss`). The rotation in Geo is the camera network's prediction; the rendered one only
   with the option ``gt_rotation`` (the authors' ``--use_gt_rotation``).

Checkpoints: the pretext stage keeps its lowest val loss (``SLfMNet.score_model_performance`` = 1 / Loss,
``slfm_pretext_net.py:255-257``); the geometric stage its highest ``1 / (50 Geo + Bin + Sym)``
(``slfm_geo_net.py:383-392``), label-free.

Angles are radians in simkit's convention (azimuth +pi/2 = left; a camera turn ``delta = yaw_j - yaw_i``
moves a static source to ``az_j = az_i - delta``), which is the authors' ("camera rotation ... left as +,
sound direction left as +", ``slfm_geo_net.py:155-157``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from simkit.conventions import LEFT_CHANNEL, RIGHT_CHANNEL
from simkit.errors import SimkitError
from simkit.models import Batch, ModelSettings, TrainingStage, parse_options, pretrained, register_model
from simkit.models.direction.base import DirectionModel, rotation_outputs
from simkit.models.features import swap_ears
from simkit.models.nets import ResNet18

# The authors' published recipe for HM3D-SS, IFICL/SLfM@0257622d03bd86485315c109a1849fdc701a3997 (paths under
# slfm/). `simkit bench`'s quick settings shrink what a CPU cannot run; a paper recipe takes these values.
PAPER: dict[str, Any] = {
    "pretext_epochs": 500,  # scripts/training/slfm-pretext.sh:73
    "pretext_batch_size": 64,  # slfm-pretext.sh:28
    "pretext_lr": 1e-4,  # slfm-pretext.sh:74
    "epochs": 20,  # geometric stage: scripts/training/slfm-geometric.sh:42
    "batch_size": 96,  # slfm-geometric.sh:8
    "lr": 1e-4,  # slfm-geometric.sh:51 (--lr=0.0001), both stages --optim='AdamW' --schedule='cos'
    # AdamW's weight decay is torch's default 0.01: utils/torch_utils.py:84-90 comments out args.weight_decay
    "weight_decay": 0.01,
    "schedule": "cosine per epoch",  # utils/torch_utils.py:108-112 (lr * 0.5 (1 + cos(pi epoch / epochs)))
    "views_per_item": 3,  # N_view=3 of the 4-view sets: slfm-pretext.sh:34, slfm-geometric.sh:40
    "clip_seconds": 2.55,  # config/params.py:69-70 (clip_length, cond_clip_length); slfm-pretext.sh:31
    "width": 64,  # torchvision resnet18 (models/audio_loc_net.py:51, camera_net.py:51), U-Net ngf=64 (audio_unet.py:53)
    "feature_dim": 512,  # audio_feature_dim, visual_feature_dim: config/params.py:72-73
    "n_fft": 512,  # config/params.py:25
    "win_length": 400,  # config/params.py:24 (torch.stft's default window: rectangular)
    "hop_length": 160,  # config/params.py:23 (pretext U-Net spectrogram)
    "audio_frames": 256,  # audio encoder: hop = L // 255, 256 frames (models/audio_loc_net.py:79-80, 103)
    "image_size": (240, 320),  # config/params.py:33
    "attn_channels": 128,  # models/camera_net.py:62-69
    "geometric_weight": 10.0,  # 5 (slfm-geometric.sh:37) x 2 (slfm_geo_net.py:24)
    "binaural_weight": 1.0,  # slfm-geometric.sh:38
    "symmetric_weight": 1.0,  # slfm-geometric.sh:39
    "spec_weight": 10.0,  # L1 spectrogram loss x 10: slfm_pretext_net.py:64-66
    "score_geometric_weight": 50.0,  # slfm_geo_net.py:385
    "sound_range_rad": math.pi,  # no --filter_sound: tanh x pi (slfm_geo_net.py:302-311)
    "rotation_range_rad": math.pi / 2,  # --finer_rotation (slfm-geometric.sh:35; slfm_geo_net.py:326-327)
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # models/camera_net.py:35
IMAGENET_STD = (0.229, 0.224, 0.225)
LOG_OFFSET = 1e-5  # config/params.py:21
SPEC_DB_RANGE = (-100.0, 60.0)  # models/audio_loc_net.py:106-114
PHASE_PI = 3.1416  # models/audio_loc_net.py:116-120 (their rounded pi)


@dataclass(frozen=True)
class SLfMOptions:
    """``--option`` keys of ``slfm`` (defaults: the published values of :data:`PAPER`, except
    ``pretext_epochs``)."""

    geometric_weight: float = PAPER["geometric_weight"]
    binaural_weight: float = PAPER["binaural_weight"]
    symmetric_weight: float = PAPER["symmetric_weight"]
    gt_rotation: float = 0.0  # > 0: Geo uses the rendered rotation, not the camera network's (--use_gt_rotation)
    pretext_epochs: int = 0  # 0: the run's --epochs (published: PAPER["pretext_epochs"] = 500)
    feature_dim: int = PAPER["feature_dim"]
    image_height: int = PAPER["image_size"][0]
    image_width: int = PAPER["image_size"][1]
    # a torchvision resnet18 state dict for the camera trunk (the authors' --imagenet_pretrain, IMAGENET1K_V1:
    # camera_net.py:49, slfm-pretext.sh:76), loaded at build: fine-tuned in the pretext stage, frozen in the
    # geometric one ("" = a trunk of --width trained from scratch)
    visual_weights: str = ""


# ---------------------------------------------------------------- losses (pure functions, radians)


def mirror_front_back(theta: torch.Tensor) -> torch.Tensor:
    """The front/back mirror of azimuths in (-pi, pi]: ``-pi - a`` for ``a <= 0``, ``pi - a`` otherwise
    (``inverse_sound_direction``, ``slfm_geo_net.py:333-337``)."""
    return torch.where(theta <= 0, -math.pi - theta, math.pi - theta)


def geometric_loss(ref: torch.Tensor, target: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """SLfM's geometric loss with the 4 front/back combinations (``calc_geometric_loss_with_permutation``,
    ``slfm_geo_net.py:189-240``), per item.

    ``ref`` (B,) the reference view's azimuth, ``target`` (B, P) the other views', ``rotation`` (B, P) the
    camera rotation from the reference to each target (simkit's ``delta``). Per pair the authors rotate the
    reference's unit vector by ``-rotation`` and take ``|<rotated, target> - 1| = 1 - cos(ref - rotation -
    target)`` for (ref, target), (mirror ref, mirror target), (ref, mirror target), (mirror ref, target), keep
    the smallest, and average the pairs of an item: (B,).
    """
    r, rm = ref[:, None], mirror_front_back(ref)[:, None]
    t, tm = target, mirror_front_back(target)
    combos = torch.stack([
        1 - torch.cos(r - rotation - t),
        1 - torch.cos(rm - rotation - tm),
        1 - torch.cos(r - rotation - tm),
        1 - torch.cos(rm - rotation - t),
    ], dim=-1)
    return combos.min(dim=-1).values.mean(dim=-1)


def iid_vote(spec_mag: torch.Tensor) -> torch.Tensor:
    """SLfM's IID pseudo label of magnitude spectrograms (..., 2, F, T): per frame the sign of
    ``log(mean_f |L| / mean_f |R|)``, summed over frames, its sign (+1 left, -1 right, 0 a tie)
    (``calc_binaural_loss``, ``slfm_geo_net.py:259-264``). Frames silent in both ears vote 0 (the authors'
    0/0 is NaN; the floor keeps one silent frame from voiding the clip)."""
    left = spec_mag[..., LEFT_CHANNEL, :, :].mean(dim=-2)
    right = spec_mag[..., RIGHT_CHANNEL, :, :].mean(dim=-2)
    tiny = torch.finfo(left.dtype).tiny
    per_frame = torch.sign(torch.log(left.clamp_min(tiny)) - torch.log(right.clamp_min(tiny)))
    return torch.sign(per_frame.sum(dim=-1))


def binaural_loss(theta: torch.Tensor, vote: torch.Tensor) -> torch.Tensor:
    """BCE between ``(sin theta + 1) / 2`` and ``(vote + 1) / 2`` (ties -> target 0.5), mean over the views:
    (B,) of (B, V) (``slfm_geo_net.py:253, 266-268``)."""
    # written out (F.binary_cross_entropy refuses CUDA autocast); the clamp keeps the logs finite, as BCE's
    p = ((torch.sin(theta.float()) + 1) / 2).clamp(1e-7, 1 - 1e-7)
    y = (vote.float() + 1) / 2
    return -(y * torch.log(p) + (1 - y) * torch.log1p(-p)).mean(dim=-1)


def symmetric_loss(theta: torch.Tensor, theta_flipped: torch.Tensor) -> torch.Tensor:
    """L1 of ``theta + theta_flipped`` in radians against 0, mean over the last axis: (B,) (the audio term
    with ear-swapped clips, ``slfm_geo_net.py:271-288``, and the rotation term with the inverse image pair,
    ``:290-296``)."""
    return (theta + theta_flipped).abs().mean(dim=-1)


# ---------------------------------------------------------------- networks


def _head(dim: int) -> nn.Sequential:
    """``Linear(d, d/2) - ReLU - Linear(d/2, 1)``, weights ~ N(0, 0.01) truncated (``audio_loc_net.py:20-29``,
    ``camera_net.py:87-96``)."""
    head = nn.Sequential(nn.Linear(dim, dim // 2), nn.ReLU(True), nn.Linear(dim // 2, 1))
    for m in head.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01)
    return head


def stft(wave: torch.Tensor, hop: int) -> torch.Tensor:
    """Complex STFT (..., F=257, T) with the authors' n_fft 512 and rectangular 400-sample window (torch.stft
    without a window), centred."""
    lead = wave.shape[:-1]
    flat = wave.reshape(-1, wave.shape[-1]).float()
    window = torch.ones(PAPER["win_length"], device=flat.device)  # what torch.stft uses when given none
    spec = torch.stft(flat, n_fft=PAPER["n_fft"], hop_length=hop, win_length=PAPER["win_length"],
                      window=window, return_complex=True)
    return spec.reshape(*lead, *spec.shape[-2:])


def audio_spectrogram(audio: torch.Tensor) -> torch.Tensor:
    """The audio encoder's input of clips (N, 2, L): per ear the dB magnitude mapped from [-100, 60] to
    [-1, 1] and the phase / pi, channels (|L|, arg L, |R|, arg R), the last frequency bin dropped, 256
    frames with hop ``L // 255`` (``CondAudioEncoder.wave2spec``, ``audio_loc_net.py:71-120``): (N, 4, 256, 256)."""
    frames = PAPER["audio_frames"]
    spec = stft(audio, max(1, audio.shape[-1] // (frames - 1)))
    lo, hi = SPEC_DB_RANGE
    mag = 20 * torch.log10(spec.abs().clamp_min(LOG_OFFSET))
    mag = ((mag - lo) / (hi - lo) * 2 - 1).clamp(-1.0, 1.0)
    phase = (spec.angle() / PHASE_PI).clamp(-1.0, 1.0)
    x = torch.stack([mag, phase], dim=2).flatten(1, 2)  # (N, 4, F, T)
    return x[:, :, :-1, :frames]


class AudioEncoder(nn.Module):
    """ResNet-18 (4 input channels) to a ``feature_dim`` vector, plus the azimuth head (``CondAudioEncoder``)."""

    def __init__(self, width: int, feature_dim: int) -> None:
        super().__init__()
        self.net = ResNet18(in_channels=4, num_outputs=feature_dim, width=width)
        nn.init.trunc_normal_(self.net.fc.weight, mean=0.0, std=0.01)  # audio_loc_net.py:64-65
        self.pred_head = _head(feature_dim)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, D) and azimuth logits (N,) of clips (N, 2, L)."""
        x = self.net(audio_spectrogram(audio))
        return x, self.pred_head(x).squeeze(-1)


def _conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
                         nn.BatchNorm2d(c_out, eps=0.001, momentum=0.01), nn.LeakyReLU(inplace=True))


class CameraNet(nn.Module):
    """``CameraATTNNet`` (``camera_net.py:45-157``): a ResNet-18 truncated after its third stage (stride 16),
    the softmax correlation of two views' feature maps, six 3x3 convs (stride 2 every second), a linear layer
    to ``feature_dim`` + ReLU, and the rotation head.

    ``weights``: a torchvision ``resnet18`` state dict (:func:`simkit.models.pretrained.resnet18`, the whole
    file is checked) whose ``conv1``, ``bn1`` and ``layer1-3`` become the trunk at torchvision's width 64
    (``width`` is then ignored), as the authors' ``get_truncated_resnet`` (``camera_net.py:136-145``) keeps
    them; ``layer4`` and ``fc`` are not used, as theirs. The correlation is over positions, not channels, so
    nothing after the trunk depends on its width."""

    def __init__(self, width: int, feature_dim: int, image_size: tuple[int, int], weights: str | None = None) -> None:
        super().__init__()
        trunk = pretrained.resnet18(weights) if weights else ResNet18(in_channels=3, num_outputs=0, width=width)
        self.backbone = nn.Sequential(trunk.stem, *list(trunk.stages)[:3])
        self.image_size = image_size
        h, w = (math.ceil(s / 16) for s in image_size)
        ch = PAPER["attn_channels"]
        self.attn_convs = nn.Sequential(
            _conv_bn(h * w, ch, 1), _conv_bn(ch, ch, 2), _conv_bn(ch, ch, 1),
            _conv_bn(ch, ch, 2), _conv_bn(ch, ch, 1), _conv_bn(ch, ch, 2),
        )
        for m in self.attn_convs.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        hw = [h, w]  # three stride-2 convs: ceil(s / 2) each (the authors' ceil(H / 16 / 8) on their sizes)
        for _ in range(3):
            hw = [(s + 1) // 2 for s in hw]
        out = hw[0] * hw[1]
        self.linear = nn.Linear(out * ch, feature_dim)
        nn.init.trunc_normal_(self.linear.weight, mean=0.0, std=0.01)
        self.rot_head = _head(feature_dim)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Feature maps of uint8 images (N, H, W, 3): scaled to [0, 1], resized to ``image_size`` when they
        differ, ImageNet-normalised."""
        x = images.permute(0, 3, 1, 2).float() / 255.0
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
        return self.backbone((x - self.mean) / self.std)

    def correlate(self, f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, D) and rotation logits (N,) of the pair (f1, f2) (``forward_correlation``)."""
        n, c, h, w = f1.shape
        v2 = f2.transpose(2, 3).reshape(n, c, -1).transpose(1, 2)  # (N, h2 w2, C), w-major as the authors'
        corr = torch.matmul(v2, f1.reshape(n, c, -1)).view(n, -1, h, w)
        x = self.linear(torch.flatten(self.attn_convs(F.softmax(corr, dim=1)), 1))
        x = F.relu(x)
        return x, self.rot_head(x).squeeze(-1)


def _unet_down(c_in: int, c_out: int, outermost: bool = False) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)
    return nn.Sequential(conv) if outermost else nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True))


def _unet_up(c_in: int, c_out: int, outermost: bool = False) -> nn.Sequential:
    conv = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
    return nn.Sequential(conv) if outermost else nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU(True))


class CondUNet(nn.Module):
    """``AudioCondUNet`` (``audio_unet.py:52-119``, from 2.5D Visual Sound) in its mono-to-binaural form: five
    stride-2 down convs, the condition vector tiled onto the bottleneck, five up convs with skips, and a
    complex mask ``sigmoid x 2 - 1`` applied to the mid-channel spectrogram."""

    def __init__(self, ngf: int, cond_dim: int) -> None:
        super().__init__()
        self.down = nn.ModuleList([
            _unet_down(2, ngf, outermost=True), _unet_down(ngf, ngf * 2), _unet_down(ngf * 2, ngf * 4),
            _unet_down(ngf * 4, ngf * 8), _unet_down(ngf * 8, ngf * 8),
        ])
        self.up = nn.ModuleList([
            _unet_up(ngf * 8 + cond_dim, ngf * 8), _unet_up(ngf * 16, ngf * 4), _unet_up(ngf * 8, ngf * 2),
            _unet_up(ngf * 4, ngf), _unet_up(ngf * 2, 2, outermost=True),
        ])

    def forward(self, mid: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Predicted side-channel spectrogram (N, 2, F, T) (real, imag) of the mid one (N, 2, F, T)."""
        skips, x = [], mid
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = torch.cat([cond[:, :, None, None].expand(-1, -1, *x.shape[-2:]), x], dim=1)
        for k, layer in enumerate(self.up):
            x = layer(x if k == 0 else torch.cat([x, skips[4 - k]], dim=1))
        mask = torch.sigmoid(x) * 2 - 1
        real = mid[:, 0] * mask[:, 0] - mid[:, 1] * mask[:, 1]
        imag = mid[:, 0] * mask[:, 1] + mid[:, 1] * mask[:, 0]
        return torch.stack([real, imag], dim=1)


def real_imag(wave: torch.Tensor) -> torch.Tensor:
    """(N, 2, 256, T') real/imag STFT (hop 160) of waves (N, L), the last frequency bin dropped and the frames
    cut to a multiple of 32 for the U-Net (2.55 s at 16 kHz gives exactly the authors' 256)."""
    spec = torch.view_as_real(stft(wave, PAPER["hop_length"])).permute(0, 3, 1, 2)[:, :, :-1]
    keep = max(32, spec.shape[-1] // 32 * 32)
    if spec.shape[-1] < keep:
        spec = F.pad(spec, (0, keep - spec.shape[-1]))
    return spec[..., :keep]


# ---------------------------------------------------------------- the model


@register_model(
    "slfm",
    task="direction",
    trainable=True,
    description="SLfM (IFICL/SLfM): cross-view binauralisation pretext, then frozen nets + heads on "
                "geometric / binaural / symmetric losses with the camera net's predicted rotation",
    options=SLfMOptions,
    groups=("views",),
)
class SLfMModel(DirectionModel):
    """SLfM's audio, camera and generative networks, trained in the authors' two stages."""

    self_supervised = True
    selection_name = "slfm_score"
    selection_higher_is_better = True

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        nn.Module.__init__(self)  # DirectionModel's shared network is not SLfM's
        self.opts = parse_options("slfm", SLfMOptions, cfg.model_options)
        o = self.opts
        if o.feature_dim < 2 or o.image_height < 16 or o.image_width < 16:
            raise SimkitError("model slfm needs feature_dim >= 2 and images of at least 16 x 16 pixels")
        self.audio_net = AudioEncoder(cfg.width, o.feature_dim)
        self.vision_net = CameraNet(cfg.width, o.feature_dim, (o.image_height, o.image_width),
                                    weights=o.visual_weights or None)
        self.generative_net = CondUNet(cfg.width, 2 * o.feature_dim)
        self.stage = "pretext"

    # -- stages

    def training_stages(self) -> tuple[TrainingStage, ...]:
        return (TrainingStage("pretext", epochs=self.opts.pretext_epochs, select_on_loss=True),
                TrainingStage("geometric"))

    def begin_stage(self, stage: str) -> None:
        """``geometric``: freeze the three networks except the two heads (``freeze_param``,
        ``slfm_geo_net.py:340-357``)."""
        self.stage = stage
        frozen = stage == "geometric"
        for net in (self.audio_net, self.vision_net, self.generative_net):
            for p in net.parameters():
                p.requires_grad_(not frozen)
        for p in [*self.audio_net.pred_head.parameters(), *self.vision_net.rot_head.parameters()]:
            p.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> SLfMModel:
        """As ``nn.Module.train``, but the frozen networks' BatchNorms stay in eval mode during the geometric
        stage (``slfm_geo_net.py:359-381``)."""
        super().train(mode)
        if mode and self.stage == "geometric":
            for net in (self.audio_net, self.vision_net, self.generative_net):
                for m in net.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.eval()
        return self

    # -- forward pieces

    @staticmethod
    def _images(batch: Batch) -> torch.Tensor:
        if "image" not in batch:
            raise SimkitError("model slfm reads each view's image: the dataset needs the views group")
        return batch["image"]

    def azimuth_rad(self, audio: torch.Tensor) -> torch.Tensor:
        """Azimuth (rad, +-pi) of clips (..., 2, L): ``tanh(logit) x pi`` (``logit2angle``)."""
        lead = audio.shape[:-2]
        _, logit = self.audio_net(audio.reshape(-1, *audio.shape[-2:]))
        return (torch.tanh(logit.float()) * PAPER["sound_range_rad"]).reshape(lead)

    def _camera(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Correlation features (B, V-1, D) of each target view i with view 0 (order i -> 0, as
        ``slfm_geo_net.py:111-118``), its rotation ``rot`` (B, V-1) and that of the inverse pair ``rot_inv``
        (rad: ``tanh x pi/2``)."""
        b, v = images.shape[:2]
        maps = self.vision_net.features(images.reshape(b * v, *images.shape[2:]))
        maps = maps.reshape(b, v, *maps.shape[1:])
        ref = maps[:, :1].expand(-1, v - 1, *maps.shape[2:]).reshape(-1, *maps.shape[2:])
        tgt = maps[:, 1:].reshape(-1, *maps.shape[2:])
        feat, rot = self.vision_net.correlate(tgt, ref)
        out = {"features": feat.reshape(b, v - 1, -1),
               "rot": torch.tanh(rot.float()).reshape(b, v - 1) * PAPER["rotation_range_rad"]}
        if self.stage == "geometric":
            _, rot_inv = self.vision_net.correlate(ref, tgt)
            out["rot_inv"] = torch.tanh(rot_inv.float()).reshape(b, v - 1) * PAPER["rotation_range_rad"]
        return out

    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Azimuths from the audio network; ``rel_yaw_deg`` from view 0 to each view from the camera network."""
        theta = self.azimuth_rad(batch["audio"])
        out = rotation_outputs(theta)
        cam = self._camera(self._images(batch))
        zero = torch.zeros_like(cam["rot"][:, :1])
        out["rel_yaw_deg"] = torch.rad2deg(torch.cat([zero, cam["rot"]], dim=1))
        return out

    # -- losses

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return self._geometric(batch) if self.stage == "geometric" else self._pretext(batch)

    def _pretext(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-view binauralisation (``slfm_pretext_net.py:60-79, 114-179``): L1 x 10 between the predicted
        and true side-channel spectrograms of every target view, mean over views and items."""
        audio = batch["audio"]
        b, v = audio.shape[:2]
        if v < 2:
            raise SimkitError("model slfm needs at least 2 views per item")
        ref_feat, _ = self.audio_net(audio[:, 0])
        cam = self._camera(self._images(batch))
        cond = torch.cat([ref_feat[:, None].expand(-1, v - 1, -1), cam["features"]], dim=-1).reshape(b * (v - 1), -1)
        target_wave = audio[:, 1:].reshape(b * (v - 1), 2, -1).float()
        mid = real_imag(target_wave[:, LEFT_CHANNEL] + target_wave[:, RIGHT_CHANNEL])
        side = real_imag(target_wave[:, LEFT_CHANNEL] - target_wave[:, RIGHT_CHANNEL])
        pred = self.generative_net(mid, cond.float())
        spec = PAPER["spec_weight"] * (pred.float() - side).abs().flatten(1).mean(-1)
        loss = spec.mean()
        return loss, {"spec": float(loss.detach())}

    def _geometric(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """``10 Geo + Bin + (AudioSym + RotSym)`` (``SLfMGeoNet.calc_loss``, ``slfm_geo_net.py:50-95``)."""
        o = self.opts
        audio = batch["audio"]
        b, v = audio.shape[:2]
        both = self.azimuth_rad(torch.cat([audio, swap_ears(audio)]))
        theta, theta_flipped = both[:b], both[b:]
        cam = self._camera(self._images(batch))
        # the camera network's rotation, or the rendered one from view 0 to each other view (--use_gt_rotation)
        rotation = torch.deg2rad(batch["rel_yaw_deg"][:, 0, 1:].float()) if o.gt_rotation > 0 else cam["rot"]
        geo = geometric_loss(theta[:, 0], theta[:, 1:], rotation).mean()
        vote = iid_vote(stft(audio.float(), max(1, audio.shape[-1] // (PAPER["audio_frames"] - 1))).abs())
        binaural = binaural_loss(theta, vote).mean()
        audio_sym = symmetric_loss(theta, theta_flipped).mean()
        rot_sym = symmetric_loss(cam["rot"], cam["rot_inv"]).mean()
        total = (o.geometric_weight * geo + o.binaural_weight * binaural
                 + o.symmetric_weight * (audio_sym + rot_sym))
        return total, {
            "geometric": float(geo.detach()),
            "binaural": float(binaural.detach()),
            "audio_symmetric": float(audio_sym.detach()),
            "rotation_symmetric": float(rot_sym.detach()),
        }

    def selection_score(self, loss: float, parts: Mapping[str, float]) -> float:
        """The authors' ``1 / (50 Geo + w_bin Bin + w_sym (AudioSym + RotSym))`` (``slfm_geo_net.py:383-392``;
        the generative term is 0 in their geometric stage); the pretext stage selects on its loss."""
        if "geometric" not in parts:
            return 1.0 / max(loss, 1e-12)
        o = self.opts
        denom = (PAPER["score_geometric_weight"] * parts["geometric"] + o.binaural_weight * parts["binaural"]
                 + o.symmetric_weight * (parts["audio_symmetric"] + parts["rotation_symmetric"]))
        return 1.0 / max(denom, 1e-12)  # finite: a non-finite value never counts as an improvement
