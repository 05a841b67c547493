"""ours_rt / ours_full's geometric loss (issue 20 item 5): the translation term is the only path by which a
gradient reaches the absolute azimuth (which side is left), and it must take it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from simkit.models.direction.base import (
    _pairs,
    egomotion_loss,
    rotation_loss,
    translation_loss,
)


def exact_sets(n: int = 400, views: int = 4, seed: int = 0, lateral: float = 1.0, forward: float = 1.0,
               max_yaw_deg: float = 60.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Static sources 0.5-3 m from view 0 in every direction; every other view moved by up to ``lateral``
    (x) and ``forward`` (z) metres and turned by up to ``max_yaw_deg``. Returns the exact azimuths (n, V)
    in radians (+90 deg = left), ``rel_yaw_deg`` (n, V, V) = yaw_j - yaw_i and ``rel_translation``
    (n, V, V, 3): view j's position in view i's frame (x right, -z forward), simkit's conventions."""
    g = torch.Generator().manual_seed(seed)
    az0 = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    r = 0.5 + 2.5 * torch.rand(n, generator=g, dtype=torch.float64)
    src = torch.stack([-torch.sin(az0) * r, -torch.cos(az0) * r], -1)  # (x, z) in view 0's frame
    pos = (torch.rand(n, views, 2, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([lateral, forward])
    yaw = (torch.rand(n, views, generator=g, dtype=torch.float64) * 2 - 1) * math.radians(max_yaw_deg)
    pos[:, 0], yaw[:, 0] = 0.0, 0.0
    rel = src[:, None] - pos
    az = torch.atan2(-rel[..., 0], -rel[..., 1]) - yaw  # a view turned left by yaw sees the source yaw less left
    step = pos[:, None, :, :] - pos[:, :, None, :]  # (n, i, j, 2): pos_j - pos_i in view 0's frame
    c, s = torch.cos(yaw)[:, :, None], torch.sin(yaw)[:, :, None]
    tx, tz = c * step[..., 0] - s * step[..., 1], s * step[..., 0] + c * step[..., 1]
    t = torch.stack([tx, torch.zeros_like(tx), tz], -1)
    return az.float(), torch.rad2deg(yaw[:, None, :] - yaw[:, :, None]).float(), t.float()


def detached_translation_loss(theta: torch.Tensor, ry: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """simkit's translation term before issue 20 item 5: the expected sign from ``theta_i`` without gradient."""
    i, j = _pairs(theta.shape[1], theta.device, ordered=True)
    tt = t[:, i, j]
    ti = theta[:, i].detach()
    expected = torch.cos(ti) * tt[..., 0] - torch.sin(ti) * tt[..., 2]
    norm = torch.linalg.vector_norm(tt[..., [0, 2]], dim=-1)
    w = expected.abs() / norm.clamp_min(1e-6)
    d = theta[:, j] - theta[:, i] + torch.deg2rad(ry[:, i, j])
    return (F.relu(-torch.sign(expected) * torch.sin(d)) * w).mean()


def offset_gradient(loss_of_theta, theta: torch.Tensor) -> float:
    c = torch.zeros((), requires_grad=True)
    (grad,) = torch.autograd.grad(loss_of_theta(theta + c), c)
    return float(grad)


def test_the_geometry_helper_matches_the_translation_sign() -> None:
    # the exact azimuth change of a translation has the sign of its first-order term: the truth costs nothing
    az, ry, t = exact_sets()
    assert float(translation_loss(az, ry, t)) < 1e-6
    assert float(translation_loss(-az, ry, t)) > 0.1


def test_the_detached_form_sent_no_gradient_to_the_absolute_direction() -> None:
    # the lead's analysis, confirmed: rotation and detached translation depend only on azimuth differences
    az, ry, t = exact_sets()
    for start in (az + 1.0, -az, az + math.pi / 2):
        assert abs(offset_gradient(lambda x: rotation_loss(x, ry, mirror=True), start)) < 1e-6
        assert abs(offset_gradient(lambda x: detached_translation_loss(x, ry, t), start)) < 1e-6
        # ... although its value does tell the truth from its flip
    assert float(detached_translation_loss(az, ry, t)) < 1e-6 < float(detached_translation_loss(-az, ry, t))


def test_the_translation_term_sends_a_gradient_to_the_absolute_direction() -> None:
    az, ry, t = exact_sets()
    for c in (-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0):  # it points back to the truth (descent: -grad)
        grad = offset_gradient(lambda x: egomotion_loss(x, ry, t, 0.9)[0], az + c)
        assert abs(grad) > 1e-3 and math.copysign(1, grad) == math.copysign(1, c), (c, grad)
    # the exact flip (an offset of pi, up to the free mirror) is the top of the loss: a stationary point,
    # left by any perturbation
    assert abs(offset_gradient(lambda x: egomotion_loss(x, ry, t, 0.9)[0], -az)) < 1e-3
    # the same value as the detached form: only the gradient changed
    assert torch.isclose(translation_loss(-az, ry, t), detached_translation_loss(-az, ry, t), atol=1e-6)


def test_truth_beats_its_left_right_flip_and_ties_its_front_back_mirror() -> None:
    az, ry, t = exact_sets()
    truth, flip, mirror = (egomotion_loss(x, ry, t, 0.9)[0] for x in (az, -az, math.pi - az))
    assert float(truth) + 0.01 < float(flip)
    assert torch.isclose(truth, mirror, atol=1e-6)  # the mirror minimum scores both terms under the mirror
    # lambda1 = 1 is rotation alone: the flip ties the truth again
    assert torch.isclose(egomotion_loss(az, ry, t, 1.0)[0], egomotion_loss(-az, ry, t, 1.0)[0], atol=1e-6)


def test_descent_on_a_global_offset_finds_the_true_side() -> None:
    # a network that learnt the mirrored world differs from the truth by a global offset (-az = pi - az - pi,
    # and the front/back mirror is free): gradient descent on that offset alone must bring it back
    az, ry, t = exact_sets(n=100, seed=1)
    for start in (2.0, 3.0, -2.5):  # L/R accuracy 0.35, 0.05, 0.21 at the start
        c = torch.tensor(start, requires_grad=True)
        opt = torch.optim.SGD([c], lr=4.0)
        for _ in range(120):
            opt.zero_grad()
            egomotion_loss(az + c, ry, t, 0.9)[0].backward()
            opt.step()
        # the hinge is flat (zero) near the truth, so the offset stops anywhere on that flat bottom
        lr = float(((az + c.detach()).sin() > 0).eq(az.sin() > 0).float().mean())
        assert abs(math.remainder(c.item(), 2 * math.pi)) < 0.6 and lr > 0.85, (start, c.item(), lr)


def test_sideways_steps_tell_left_from_right_straight_ahead_does_not() -> None:
    # a lateral step flips the sign of the expected parallax under a left/right flip; walking straight ahead
    # only tells front from back, which the mirror minimum forgives
    side = exact_sets(lateral=1.0, forward=0.0, max_yaw_deg=0.0)
    ahead = exact_sets(lateral=0.0, forward=1.0, max_yaw_deg=0.0)
    assert float(egomotion_loss(-side[0], *side[1:], 0.9)[0]) > float(egomotion_loss(*side, 0.9)[0]) + 0.01
    assert torch.isclose(egomotion_loss(-ahead[0], *ahead[1:], 0.9)[0], egomotion_loss(*ahead, 0.9)[0],
                         atol=1e-6)


def test_nothing_moved_leaves_rotation_only() -> None:
    az, ry, t = exact_sets()
    still = torch.zeros_like(t)
    theta = (az + 0.7).requires_grad_(True)
    assert float(translation_loss(theta.detach(), ry, still)) == 0.0
    (grad,) = torch.autograd.grad(translation_loss(theta, ry, still), theta)
    assert float(grad.abs().max()) == 0.0
    total, rot, trans = egomotion_loss(theta, ry, still, 0.9)
    assert float(trans.detach()) == 0.0
    assert torch.isclose(total, 0.9 * rotation_loss(theta, ry, mirror=True))
    assert abs(offset_gradient(lambda x: egomotion_loss(x, ry, still, 0.9)[0], az)) < 1e-6


def _ours_rt(symmetry: float) -> torch.nn.Module:
    """ours_rt as the registry builds it (width 8), with ``--option symmetry=...`` when non-zero."""
    from types import SimpleNamespace

    from simkit.models import get_model

    cfg = SimpleNamespace(model_options={"symmetry": symmetry} if symmetry else {}, width=8, seed=0,
                          features=SimpleNamespace(n_fft=256, hop=128))
    return get_model("ours_rt").build(cfg, {})


def test_the_symmetry_option_adds_its_weight_times_the_ear_swap_loss() -> None:
    from simkit.models.direction.base import swapped_azimuth, symmetry_loss

    torch.manual_seed(0)
    base, sym = _ours_rt(0.0), _ours_rt(0.5)
    sym.load_state_dict(base.state_dict())
    base.eval(), sym.eval()  # running batch statistics: one forward of clips + swapped copies equals two
    az, ry, t = exact_sets(n=2, views=3)
    batch = {"audio": torch.randn(2, 3, 2, 2048), "rel_yaw_deg": ry, "rel_translation": t}
    with torch.no_grad():
        l0, p0 = base.loss(batch)
        l1, p1 = sym.loss(batch)
        theta = sym.azimuth_rad(batch["audio"])
        want = symmetry_loss(theta, swapped_azimuth(sym, batch["audio"]))
    assert "symmetry" not in p0 and float(want) > 1e-3  # an untrained network is far from ear-swap symmetric
    assert math.isclose(p1["symmetry"], float(want), rel_tol=1e-4)
    assert math.isclose(float(l1 - l0), 0.5 * float(want), rel_tol=1e-4, abs_tol=1e-6)
    assert p1["rotation"] == p0["rotation"] and p1["translation"] == p0["translation"]
