"""``slfm`` as IFICL/SLfM@0257622 trains it: the geometric-stage losses on hand-made angles (each of the 4
front/back combinations, IID ties, L1 in radians), the frozen networks of the geometric stage, the camera
network's rotation in the geometric loss, and a real two-stage ``simkit bench --model slfm --quick`` run."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from simkit.bench.config import make_config
from simkit.bench.leaderboard import read_leaderboard
from simkit.errors import SimkitError
from simkit.models import get_model
from simkit.models.direction.slfm import (
    PAPER,
    binaural_loss,
    geometric_loss,
    iid_vote,
    mirror_front_back,
    symmetric_loss,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def authors_geometric(ref: float, target: float, rotation: float) -> float:
    """The authors' formulation re-derived: rotate the reference's unit vector by ``-rotation`` with a 2x2
    matrix, L1 of its dot product with the target's against 1, minimum over the 4 mirror combinations."""
    def mirror(a: float) -> float:
        return -math.pi - a if a <= 0 else math.pi - a

    th = -rotation
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    out = []
    for r, t in ((ref, target), (mirror(ref), mirror(target)), (ref, mirror(target)), (mirror(ref), target)):
        v = rot @ np.array([math.cos(r), math.sin(r)])
        out.append(abs(float(v @ np.array([math.cos(t), math.sin(t)])) - 1.0))
    return min(out)


def wrap(a: float) -> float:
    return math.atan2(math.sin(a), math.cos(a))


# ---------------------------------------------------------------- losses


def test_mirror_is_the_front_back_reflection() -> None:
    a = torch.tensor([0.3, -0.3, 0.0, math.pi / 2, -2.0])
    want = torch.tensor([math.pi - 0.3, -math.pi + 0.3, -math.pi, math.pi / 2, -math.pi + 2.0])
    assert torch.allclose(mirror_front_back(a), want)
    assert torch.allclose(torch.sin(mirror_front_back(a)), torch.sin(a), atol=1e-6)  # same side, L/R kept


@pytest.mark.parametrize("case", ["direct", "both_mirrored", "target_mirrored", "reference_mirrored"])
def test_each_mirror_combination_alone_makes_a_pair_consistent(case: str) -> None:
    ref, delta = 0.3, 0.5  # a source at 0.3 rad (left of front), the camera turns 0.5 rad left
    m = mirror_front_back
    r = torch.tensor([ref])
    target = {
        "direct": r - delta,
        "both_mirrored": m(m(r) - delta),
        "target_mirrored": m(r - delta),
        "reference_mirrored": m(r) - delta,
    }[case]
    target = torch.atan2(torch.sin(target), torch.cos(target))  # a prediction lies in (-pi, pi]
    loss = geometric_loss(r, target[:, None], torch.tensor([[delta]]))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    direct_only = 1 - math.cos(ref - delta - float(target))
    assert (direct_only < 1e-6) == (case == "direct")  # every other case needs its mirror combination


def test_geometric_loss_is_the_authors_min_over_four_and_mean_over_pairs() -> None:
    rng = np.random.default_rng(0)
    ref = rng.uniform(-math.pi, math.pi, 5)
    tgt = rng.uniform(-math.pi, math.pi, (5, 3))
    rot = rng.uniform(-math.pi / 2, math.pi / 2, (5, 3))
    got = geometric_loss(torch.tensor(ref), torch.tensor(tgt), torch.tensor(rot)).numpy()
    want = [np.mean([authors_geometric(ref[b], tgt[b, p], rot[b, p]) for p in range(3)]) for b in range(5)]
    assert np.allclose(got, want, atol=1e-9)
    assert got.shape == (5,) and (got > 0).all()


def test_iid_vote_is_a_per_frame_majority_and_ties_get_target_half() -> None:
    mag = torch.ones(3, 2, 4, 5)  # (items, ears, freq, frames)
    mag[0, 0, :, :3] = 2.0  # item 0: left louder in 3 of 5 frames, equal in the others -> left
    mag[1, 1, :, :] = 1.5  # item 1: right louder in every frame -> right
    mag[1, 0, :, 0] = 9.0  # one very loud left frame is still one vote
    mag[2, 0, :, :2] = 2.0  # item 2: 2 frames left, 2 frames right, 1 equal -> a tie
    mag[2, 1, :, 2:4] = 2.0
    assert iid_vote(mag).tolist() == [1.0, -1.0, 0.0]
    theta = torch.tensor([[0.0, 0.7, -1.2]])
    vote = torch.tensor([[0.0, 0.0, 0.0]])
    p = (torch.sin(theta) + 1) / 2
    want = -(0.5 * torch.log(p) + 0.5 * torch.log(1 - p)).mean()  # BCE against 0.5 for every tie
    assert float(binaural_loss(theta, vote)[0]) == pytest.approx(float(want), rel=1e-6)
    assert float(binaural_loss(torch.tensor([[0.0]]), torch.tensor([[0.0]]))[0]) == pytest.approx(math.log(2))
    sure = binaural_loss(torch.tensor([[1.5, -1.5]]), torch.tensor([[1.0, -1.0]]))
    assert float(sure[0]) < 0.01  # the right side, with confidence: near-zero loss


def test_symmetric_loss_is_l1_in_radians() -> None:
    theta = torch.tensor([[0.4, -1.0]])
    flipped = torch.tensor([[-0.1, 0.2]])
    assert float(symmetric_loss(theta, flipped)[0]) == pytest.approx((0.3 + 0.8) / 2)
    assert float(symmetric_loss(theta, -theta)[0]) == 0.0


# ---------------------------------------------------------------- model


def _model(**options: float):
    cfg = make_config(quick=True, model="slfm", data="x", model_options=options)
    torch.manual_seed(0)
    return get_model("slfm").build(cfg, {})


def _batch(b: int = 2, v: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    yaw = torch.tensor([0.0, 30.0, -45.0, 60.0])[:v]
    return {
        "audio": torch.randn(b, v, 2, 8000, generator=g),
        "image": torch.randint(0, 256, (b, v, 48, 64, 3), generator=g, dtype=torch.uint8),
        "rel_yaw_deg": (yaw[None, :] - yaw[:, None]).expand(b, v, v).clone(),
    }


def test_published_values_are_the_defaults_and_the_table() -> None:
    m = _model()
    o = m.opts
    assert (o.geometric_weight, o.binaural_weight, o.symmetric_weight) == (10.0, 1.0, 1.0)
    assert o.gt_rotation == 0.0 and o.feature_dim == 512 and (o.image_height, o.image_width) == (240, 320)
    assert PAPER["pretext_epochs"] == 500 and PAPER["epochs"] == 20 and PAPER["batch_size"] == 96
    assert [(s.name, s.select_on_loss) for s in m.training_stages()] == [("pretext", True), ("geometric", False)]
    assert get_model("slfm").groups == ("views",)
    with pytest.raises(SimkitError, match="reads each view's image"):
        m.loss({k: v for k, v in _batch().items() if k != "image"})


def test_geometric_stage_trains_only_the_heads_and_keeps_frozen_batchnorm_stats() -> None:
    m = _model()
    batch = _batch()
    m.begin_stage("geometric")
    m.train()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("audio_net.pred_head.", "vision_net.rot_head.")) for n in trainable)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        loss, parts = m.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(parts) == {"geometric", "binaural", "audio_symmetric", "rotation_symmetric"}
    after = m.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # running means and variances too: the frozen networks' BatchNorms stay in eval mode while training
    assert changed and all(k.startswith(("audio_net.pred_head.", "vision_net.rot_head.")) for k in changed)
    assert any(k.startswith("audio_net.pred_head.") for k in changed)
    assert any(k.startswith("vision_net.rot_head.") for k in changed)


def test_pretext_stage_trains_the_networks_not_the_heads() -> None:
    m = _model()
    m.train()
    loss, parts = m.loss(_batch())
    loss.backward()
    assert set(parts) == {"spec"} and torch.isfinite(loss)
    grads = {n for n, p in m.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    for prefix in ("audio_net.net.", "vision_net.backbone.", "vision_net.attn_convs.", "generative_net."):
        assert any(n.startswith(prefix) for n in grads), prefix
    assert not any("pred_head" in n or "rot_head" in n for n in grads)


@pytest.mark.parametrize("gt", [0.0, 1.0])
def test_geometric_loss_uses_the_camera_networks_rotation_unless_gt_rotation(gt: float) -> None:
    # only the geometric term: rot_head then learns from it alone, and only when its rotation is used
    m = _model(gt_rotation=gt, binaural_weight=0.0, symmetric_weight=0.0)
    batch = _batch()
    m.begin_stage("geometric")
    m.train()
    loss, parts = m.loss(batch)
    loss.backward()
    rot_grad = sum(float(p.grad.abs().sum()) for p in m.vision_net.rot_head.parameters() if p.grad is not None)
    assert (rot_grad > 0) == (gt == 0.0)
    with torch.no_grad():
        out = m.predict(batch)  # azimuths of the audio net, rotation from view 0 of the camera net
        theta = torch.deg2rad(out["azimuth_deg"])
        camera = torch.deg2rad(out["rel_yaw_deg"][:, 1:])
        rendered = torch.deg2rad(batch["rel_yaw_deg"][:, 0, 1:])
        used = rendered if gt else camera
        other = camera if gt else rendered
        assert parts["geometric"] == pytest.approx(float(geometric_loss(theta[:, 0], theta[:, 1:], used).mean()),
                                                   rel=1e-4, abs=1e-6)
        assert parts["geometric"] != pytest.approx(float(geometric_loss(theta[:, 0], theta[:, 1:], other).mean()),
                                                   rel=1e-3)
    assert float(loss.detach()) == pytest.approx(10.0 * parts["geometric"], rel=1e-5)


# ---------------------------------------------------------------- end to end


def test_two_stage_quick_bench_run_on_a_tiny_render(
    tiny_render: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simkit.cli import main

    results = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", [
        "simkit", "bench", "--model", "slfm", "--quick", "--epochs", "1", "--max-items", "6", "--threads", "1",
        "--option", "image_height=96", "--option", "image_width=128", "--data", str(tiny_render),
        "--results", str(results),
    ])
    main()
    (run_dir,) = [p for p in (results / "runs").iterdir() if p.is_dir()]
    pre = torch.load(run_dir / "pretext_best.pt", weights_only=True)["model"]
    geo = torch.load(run_dir / "best.pt", weights_only=True)["model"]
    assert pre.keys() == geo.keys()
    heads = ("audio_net.pred_head.", "vision_net.rot_head.")
    # the geometric stage started from the pretext checkpoint and changed nothing but the two heads
    assert all(torch.equal(pre[k], geo[k]) for k in pre if not k.startswith(heads))
    assert any(not torch.equal(pre[k], geo[k]) for k in pre if k.startswith(heads))
    rows = [r for r in read_leaderboard(results / "leaderboard.csv") if r["model"] == "slfm"]
    assert {r["select_metric"] for r in rows} == {"slfm_score"} and not any(r["label_selected"] for r in rows)
    lr = [r for r in rows if r["split"] == "test" and r["metric"] == "lr_accuracy"]
    assert lr and 0.0 <= lr[0]["value"] <= 1.0
    with open(run_dir / "predictions.csv", newline="") as f:
        test = [r for r in csv.DictReader(f) if r["split"] == "test" and r["view"] != "0"]
    assert test and all(math.isfinite(float(r["pred_rel_yaw_deg"])) for r in test)  # the camera's rotation
    assert all(abs(float(r["pred_rel_yaw_deg"])) <= 90.0 for r in test)  # --finer_rotation: +-90 deg
