"""Base of the sound-direction family: the audio network, the geometric losses, the IID label.

:class:`DirectionModel` drives every network model of the family: ``predict`` calls the subclass's
``azimuth_rad`` hook (pyroomacoustics' ``DOA.locate_sources`` calling ``_process``) and derives the
rotation outputs from it.

Angles inside the losses are radians in simkit's convention (:mod:`simkit.conventions`): azimuth +90 deg
= left, and a camera turn ``delta = yaw_j - yaw_i`` moves a static source to ``az_j = az_i - delta``.
Batches (from :class:`simkit.data.datasets.direction.RenderViewSets`) hold ``audio`` (B, V, 2, T),
``rel_yaw_deg`` (B, V, V), ``rel_translation`` (B, V, V, 3) and the labels ``azimuth_deg`` (B, V).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simkit.conventions import IID_ENERGY_FLOOR, LEFT_CHANNEL, RIGHT_CHANNEL, iid_sign
from simkit.models import Batch, BenchModel, ModelSettings
from simkit.models.features import binaural_features, swap_ears
from simkit.models.nets import ResNet18


def iid_pseudo_label(audio: torch.Tensor) -> torch.Tensor:
    """Seed 000's IID pseudo label ``d = sign(log(E_L / E_R))`` of clips (..., 2, T): +1 left, -1 right, 0 a tie
    (:func:`simkit.conventions.iid_sign`; computed in float32 on the clips' device)."""
    energy = audio.float().pow(2).sum(-1)
    return iid_sign(torch.log(energy[..., LEFT_CHANNEL] + IID_ENERGY_FLOOR)
                    - torch.log(energy[..., RIGHT_CHANNEL] + IID_ENERGY_FLOOR))


class AudioDirectionNet(nn.Module):
    """ResNet-18 over binaural features; ``n_out=2`` gives an azimuth as (cos, sin), more: class logits."""

    def __init__(self, n_out: int, width: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.backbone = ResNet18(in_channels=4, num_outputs=n_out, width=width)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Outputs (B, n_out) for clips (B, 2, T)."""
        return self.backbone(binaural_features(audio, self.n_fft, self.hop))


class DirectionModel(BenchModel):
    """A model predicting one azimuth per view from that view's binaural clip (regression on the circle).

    ``predict`` returns ``azimuth_deg`` (B, V) and ``rel_yaw_deg`` (B, V): the camera rotation from view 0
    to view v implied by the predicted azimuths, ``wrap(az_0 - az_v)``.
    """

    def __init__(self, cfg: ModelSettings, n_out: int = 2) -> None:
        super().__init__()
        self.net = AudioDirectionNet(n_out, cfg.width, cfg.features.n_fft, cfg.features.hop)

    def azimuth_rad(self, audio: torch.Tensor) -> torch.Tensor:
        """Predicted azimuth (radians) of clips (..., 2, T)."""
        lead = audio.shape[:-2]
        out = self.net(audio.reshape(-1, *audio.shape[-2:])).float()
        return torch.atan2(out[:, 1], out[:, 0]).reshape(lead)

    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        theta = self.azimuth_rad(batch["audio"])
        return rotation_outputs(theta)


def rotation_outputs(theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """``azimuth_deg`` and the implied rotation from view 0, ``rel_yaw_deg``, of azimuths (B, V) in rad."""
    az = torch.rad2deg(theta)
    rel = torch.rad2deg(wrap_rad(theta[:, :1] - theta))
    return {"azimuth_deg": az, "rel_yaw_deg": rel}


def wrap_rad(a: torch.Tensor) -> torch.Tensor:
    """Wrap radians into (-pi, pi] (differentiable almost everywhere)."""
    return torch.atan2(torch.sin(a), torch.cos(a))


def _pairs(v: int, device: torch.device, ordered: bool) -> tuple[torch.Tensor, torch.Tensor]:
    i, j = torch.meshgrid(torch.arange(v, device=device), torch.arange(v, device=device), indexing="ij")
    keep = (i != j) if ordered else (i < j)
    return i[keep], j[keep]


def rotation_loss_per_set(theta: torch.Tensor, rel_yaw_deg: torch.Tensor) -> torch.Tensor:
    """SLfM's rotation consistency ``1 - cos(theta_j - theta_i + delta_ij)``, mean over the pairs i < j of
    each set (B,), without the mirror minimum."""
    i, j = _pairs(theta.shape[1], theta.device, ordered=False)
    delta = torch.deg2rad(rel_yaw_deg[:, i, j].float())
    return (1 - torch.cos(theta[:, j] - theta[:, i] + delta)).mean(-1)


def rotation_loss(theta: torch.Tensor, rel_yaw_deg: torch.Tensor, mirror: bool = True) -> torch.Tensor:
    """SLfM's rotation consistency ``1 - cos(theta_j - theta_i + delta_ij)`` over the pairs i < j of each set.

    ``theta`` (B, V) radians, ``rel_yaw_deg`` (B, V, V). With ``mirror`` the loss of a set is the smaller of
    the loss of the predictions and of their front/back mirror ``theta -> pi - theta`` (applied to the whole
    set, which turns the expected change into ``+delta``): a network that cannot tell front from back is not
    penalised for putting a source behind instead of in front.
    """
    direct = rotation_loss_per_set(theta, rel_yaw_deg)
    if not mirror:
        return direct.mean()
    return torch.minimum(direct, rotation_loss_per_set(torch.pi - theta, rel_yaw_deg)).mean()


def _translation_hinge(
    theta: torch.Tensor, rel_yaw_deg: torch.Tensor, rel_translation: torch.Tensor, margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The hinge of :func:`translation_loss` per ordered pair (B, P), zero where the view did not move, and
    the moved mask (B, P)."""
    i, j = _pairs(theta.shape[1], theta.device, ordered=True)
    t = rel_translation[:, i, j].float()  # (B, P, 3), view i's frame
    norm = torch.linalg.vector_norm(t[..., [0, 2]], dim=-1)
    moved = norm > 1e-6
    ti = theta[:, i]  # not detached: the side of the source decides the sign of the parallax
    expected = (torch.cos(ti) * t[..., 0] - torch.sin(ti) * t[..., 2]) / norm.clamp_min(1e-6)
    d = theta[:, j] - ti + torch.deg2rad(rel_yaw_deg[:, i, j].float())
    return F.relu(margin * expected.square() - expected * torch.sin(d)) * moved, moved


def translation_loss_per_set(
    theta: torch.Tensor, rel_yaw_deg: torch.Tensor, rel_translation: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """The translation hinge of :func:`translation_loss`, mean over each set's moved ordered pairs (B,);
    0 for a set where no view moved."""
    hinge, moved = _translation_hinge(theta, rel_yaw_deg, rel_translation, margin)
    return hinge.sum(-1) / moved.sum(-1).clamp_min(1)


def translation_loss(
    theta: torch.Tensor, rel_yaw_deg: torch.Tensor, rel_translation: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """Hinge on the direction of the azimuth change that the camera's translation causes (simkit's reading of
    seed 000's translation term; no public code).

    For a source at azimuth ``theta_i`` (any distance r) and a camera moving by ``t`` in view i's frame
    (x right, -z forward), the azimuth changes by ``(cos(theta_i) t_x - sin(theta_i) t_z) / r`` to first
    order, and the exact change has the same sign; only the sign is known without r. With the normalised
    expected change ``e = (cos(theta_i) t_x - sin(theta_i) t_z) / |t|`` in [-1, 1] and the prediction's change
    that rotation does not explain, ``d = theta_j - theta_i + delta_ij``, a pair costs
    ``relu(margin * e^2 - e * sin d)``: zero when the change has the expected sign, weighted by ``|e|`` (pairs
    whose motion barely moves the source count little). ``e`` is differentiated through ``theta_i``: the
    rest of the loss depends only on azimuth differences, so this is the only path by which a gradient
    reaches the absolute direction (which side is left). Mean over the moved ordered pairs i != j of the
    batch; zero when no view moved.
    """
    hinge, moved = _translation_hinge(theta, rel_yaw_deg, rel_translation, margin)
    return hinge.sum() / moved.sum().clamp_min(1)


def egomotion_loss(
    theta: torch.Tensor,
    rel_yaw_deg: torch.Tensor,
    rel_translation: torch.Tensor,
    lambda1: float,
    margin: float = 0.0,
    mirror: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``lambda1 L_rot + (1 - lambda1) L_trans`` per set, and with ``mirror`` the smaller of the set's value
    and of its front/back mirror ``theta -> pi - theta``'s (both terms read under the same mirror).

    Returns the mean total and the mean rotation and translation terms of the chosen readings (per-set
    means: a set where no view moved counts 0 in the translation term). The mirror
    is a hypothesis about the whole set ("every source is behind where it is predicted"), so both terms are
    scored under it; scoring the translation term on the unmirrored predictions (while the rotation term
    takes its minimum) would penalise a front/back-mirrored answer for a rotation mismatch ``2 delta``
    instead of for its side.
    """
    def terms(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (rotation_loss_per_set(x, rel_yaw_deg),
                translation_loss_per_set(x, rel_yaw_deg, rel_translation, margin))

    rot, trans = terms(theta)
    total = lambda1 * rot + (1 - lambda1) * trans
    if mirror:
        rot_m, trans_m = terms(torch.pi - theta)
        total_m = lambda1 * rot_m + (1 - lambda1) * trans_m
        take = total_m < total
        rot, trans = torch.where(take, rot_m, rot), torch.where(take, trans_m, trans)
        total = torch.minimum(total, total_m)
    return total.mean(), rot.mean(), trans.mean()


def symmetry_loss(theta: torch.Tensor, theta_swapped: torch.Tensor) -> torch.Tensor:
    """Swapping the ears negates the azimuth: ``1 - cos(theta + theta_swapped)``."""
    return (1 - torch.cos(theta + theta_swapped)).mean()


def iid_loss(theta: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """BCE between ``(sin(theta) + 1) / 2`` (probability of 'left') and the IID label (+1 left, -1 right).

    Ties (label 0, silent or perfectly balanced clips) are left out.
    """
    p = ((torch.sin(theta) + 1) / 2).clamp(1e-6, 1 - 1e-6)
    keep = label != 0
    if not bool(keep.any()):
        return theta.sum() * 0.0
    return F.binary_cross_entropy(p[keep], (label[keep] > 0).float())


def swapped_azimuth(model: DirectionModel, audio: torch.Tensor) -> torch.Tensor:
    """Azimuth (rad) the model predicts for the ear-swapped clips."""
    return model.azimuth_rad(swap_ears(audio))
