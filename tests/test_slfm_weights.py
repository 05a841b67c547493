"""``slfm --option visual_weights=PATH``: the authors' ImageNet camera trunk (``--imagenet_pretrain``,
IFICL/SLfM@0257622 slfm/models/camera_net.py:49, truncated after layer3 at :136-145) from a torchvision
``resnet18`` state dict. A random state dict with torchvision's exact key names and shapes
(tests/published_layouts.py) is loaded and the trunk compared with a functional re-derivation of torchvision's
ResNet-18 up to ``layer3``; bad files are one ``error:`` line through the console script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from cli_support import SIMKIT, one_error_line
from published_layouts import random_state, torchvision_resnet18_forward, torchvision_resnet18_shapes

from simkit.bench.config import make_config
from simkit.models import get_model
from simkit.models.direction.slfm import IMAGENET_MEAN, IMAGENET_STD

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(random_state(torchvision_resnet18_shapes(), seed=5), path)
    return path


def _model(**options: object):
    cfg = make_config(quick=True, model="slfm", data="x", model_options=options)
    torch.manual_seed(0)
    return get_model("slfm").build(cfg, {})


def test_visual_weights_become_the_camera_trunk(resnet_file: Path) -> None:
    state = torch.load(resnet_file, weights_only=True)
    plain, loaded = _model(), _model(visual_weights=str(resnet_file))
    # from scratch at --quick's width 8; the file gives torchvision's width 64 (256 channels after layer3)
    assert plain.vision_net.backbone[0][0].weight.shape == (8, 3, 7, 7)
    trunk = loaded.vision_net.backbone
    assert torch.equal(trunk[0][0].weight, state["conv1.weight"])
    assert torch.equal(trunk[3][1].bn2.running_var, state["layer3.1.bn2.running_var"])
    assert torch.equal(trunk[2][0].shortcut[0].weight, state["layer2.0.downsample.0.weight"])
    assert len(trunk) == 4  # stem + layer1-3: layer4 and fc are dropped, as get_truncated_resnet does
    # every other network is unchanged in size: the correlation is over positions, not channels
    assert ({k: v.shape for k, v in plain.state_dict().items() if not k.startswith("vision_net.backbone.")}
            == {k: v.shape for k, v in loaded.state_dict().items() if not k.startswith("vision_net.backbone.")})

    loaded.eval()
    images = torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = images.permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(240, 320), mode="bilinear", align_corners=False)
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.no_grad():
        got, want = loaded.vision_net.features(images), torchvision_resnet18_forward(x, state, last_layer=3)
    assert got.shape == (2, 256, 15, 20)
    assert torch.allclose(got, want, atol=1e-3, rtol=1e-4)

    # fine-tuned in the pretext stage, frozen in the geometric stage (only the heads train there)
    loaded.begin_stage("pretext")
    assert all(p.requires_grad for p in trunk.parameters())
    loaded.begin_stage("geometric")
    assert not any(p.requires_grad for p in trunk.parameters())


def test_bad_visual_weights_are_one_error_line(tiny_render: Path, tmp_path: Path) -> None:
    state = random_state(torchvision_resnet18_shapes())
    state["layer2.0.conv1.weight"] = torch.zeros(128, 32, 3, 3)
    torch.save(state, tmp_path / "wrong.pth")
    base = ["bench", "--model", "slfm", "--quick", "--epochs", "1", "--max-items", "6", "--threads", "1",
            "--data", str(tiny_render), "--results", str(tmp_path / "res")]
    cases = [
        (tmp_path / "missing.pth", ("missing.pth", "does not exist")),
        (tmp_path / "wrong.pth", ("wrong shapes layer2.0.conv1.weight (128, 32, 3, 3) (expected (128, 64, 3, 3))",)),
    ]
    for path, needles in cases:
        proc = subprocess.run([SIMKIT, *base, "--option", f"visual_weights={path}"], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode != 0
        one_error_line(proc, "ResNet-18", *needles)
    assert not [p for p in (tmp_path / "res").rglob("*") if p.is_file()]  # no run, no row: refused at build
