"""Pretrained encoders in their published layouts (simkit.models.pretrained) and their use by the models.

Random state dicts with the exact published key names and shapes (tests/published_layouts.py) are saved with
``torch.save``, loaded by simkit and compared with functional re-derivations of torchvision's ResNet-18 and
torchvggish's VGGish written here with torch.nn.functional; the log-mel examples are compared with a numpy
re-derivation of VGGish's mel_features.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_support import SIMKIT, one_error_line
from published_layouts import (
    random_state,
    torchvggish_shapes,
    torchvision_resnet18_forward,
    torchvision_resnet18_shapes,
)

from simkit.errors import SimkitError
from simkit.models import pretrained

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RATE = 16000


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(random_state(torchvision_resnet18_shapes(), seed=1), path)
    return path


@pytest.fixture(scope="module")
def vggish_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "vggish.pth"
    torch.save(random_state(torchvggish_shapes(), seed=2), path)  # 72 M parameters, as published
    return path


# ------------------------------------------------------------------------- functional re-derivations


def torchvggish_embedding(x: torch.Tensor, s: dict) -> torch.Tensor:
    """torchvggish VGG.forward: convs (ReLU) with 2x2 max-pools after 0, 3, 8, 13; channel-last flatten;
    three Linear layers each followed by a ReLU."""
    for i in (0, 3, 6, 8, 11, 13):
        x = F.relu(F.conv2d(x, s[f"features.{i}.weight"], s[f"features.{i}.bias"], padding=1))
        if i in (0, 3, 8, 13):
            x = F.max_pool2d(x, 2, 2)
    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
    for i in (0, 2, 4):
        x = F.relu(F.linear(x, s[f"embeddings.{i}.weight"], s[f"embeddings.{i}.bias"]))
    return x


def numpy_examples(wave: np.ndarray) -> np.ndarray:
    """(N, 96, 64) log-mel examples of 16 kHz audio after mel_features / vggish_input."""
    win, hop, nfft = 400, 160, 512
    n = 1 + (len(wave) - win) // hop
    frames = np.stack([wave[i * hop: i * hop + win] for i in range(n)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi / win * np.arange(win))  # periodic
    mag = np.abs(np.fft.rfft(frames * hann, nfft))
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    bins = mel(np.linspace(0.0, RATE / 2, nfft // 2 + 1))
    edges = np.linspace(mel(125.0), mel(7500.0), 64 + 2)
    weights = np.zeros((nfft // 2 + 1, 64))
    for b in range(64):
        lo, c, hi = edges[b: b + 3]
        weights[:, b] = np.maximum(0.0, np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)))
    weights[0] = 0.0
    log_mel = np.log(mag @ weights + 0.01)
    k = 1 + (len(log_mel) - 96) // 96
    return np.stack([log_mel[i * 96: i * 96 + 96] for i in range(k)])


# ------------------------------------------------------------------------------------------ encoders


@pytest.mark.parametrize("batches_tracked", [True, False])
def test_resnet18_equals_torchvision_layer4(tmp_path: Path, batches_tracked: bool) -> None:
    state = random_state(torchvision_resnet18_shapes(num_batches_tracked=batches_tracked), seed=3)
    torch.save(state, tmp_path / "r.pth")
    net = pretrained.resnet18(tmp_path / "r.pth").eval()
    x = pretrained.imagenet_normalize(torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        got, want = net(x), torchvision_resnet18_forward(x, state)
    assert got.shape == (2, 512, 2, 3)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    assert want.abs().max() > 0.1  # the comparison is not between two maps of zeros


def test_imagenet_normalize_is_per_channel() -> None:
    x = torch.full((1, 3, 2, 2), 0.5)
    got = pretrained.imagenet_normalize(x)[0, :, 0, 0]
    want = torch.tensor([(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225])
    assert torch.allclose(got, want)


def test_vggish_equals_torchvggish_embedding(vggish_file: Path) -> None:
    state = torch.load(vggish_file, weights_only=True)
    net = pretrained.vggish(vggish_file)
    x = torch.randn(3, 1, 96, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = net(x), torchvggish_embedding(x, state)
    assert got.shape == (3, 128)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()))
    assert (want > 0).any() and want.min() >= 0  # the trailing ReLU
    # the flatten is channel-last: a channel-first flatten would give another embedding
    feats = x
    for i in (0, 3, 6, 8, 11, 13):
        feats = F.relu(F.conv2d(feats, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))
        feats = F.max_pool2d(feats, 2, 2) if i in (0, 3, 8, 13) else feats
    assert not torch.allclose(F.relu(F.linear(feats.flatten(1), state["embeddings.0.weight"],
                                              state["embeddings.0.bias"])),
                              F.relu(F.linear(feats.permute(0, 2, 3, 1).flatten(1), state["embeddings.0.weight"],
                                              state["embeddings.0.bias"])))
    with pytest.raises(SimkitError, match=r"\(B, 1, 96, 64\)"):
        net(torch.zeros(1, 1, 61, 64))


def test_log_mel_examples_equal_mel_features() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(2.5 * RATE)) / RATE
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
    got = pretrained.waveform_to_examples(wave, RATE)
    want = numpy_examples(wave)
    assert got.shape == (2, 1, 96, 64) and got.dtype == torch.float32
    assert np.allclose(got[:, 0].numpy(), want, atol=1e-4)
    # (samples, channels) is averaged to mono first
    stereo = np.stack([wave + 0.1, wave - 0.1], axis=1)
    assert torch.allclose(pretrained.waveform_to_examples(stereo, RATE), got, atol=1e-5)
    # other rates are resampled to 16 kHz first
    from simkit.audio.dsp import resample

    at48 = resample(wave, RATE, 48000)
    assert np.allclose(pretrained.waveform_to_examples(at48, 48000)[:, 0].numpy(),
                       numpy_examples(resample(at48, 48000, RATE)), atol=1e-4)
    assert pretrained.waveform_to_examples(wave[:RATE // 2], RATE).shape == (0, 1, 96, 64)


def test_short_windows_are_padded_to_one_example() -> None:
    rng = np.random.default_rng(1)
    window = 0.1 * rng.standard_normal((2, int(0.63 * RATE)))
    examples, n = pretrained.examples_of_windows(torch.from_numpy(window))
    assert n == 1 and examples.shape == (2, 1, 96, 64)
    extra = 15600 - window.shape[1]
    padded = np.pad(window[1], (extra // 2, extra - extra // 2))
    assert np.allclose(examples[1, 0].numpy(), numpy_examples(padded)[0], atol=1e-6)
    long, n = pretrained.examples_of_windows(torch.from_numpy(rng.standard_normal((1, 2 * 15600))))
    assert n == 2 and long.shape == (2, 1, 96, 64)


# ------------------------------------------------------------------------------------------- errors


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    shapes = torchvision_resnet18_shapes()
    with pytest.raises(SimkitError, match="does not exist"):
        pretrained.resnet18(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(SimkitError, match="cannot be read as a torch state dict"):
        pretrained.resnet18(tmp_path / "junk.pth")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(SimkitError, match="does not hold a state dict"):
        pretrained.resnet18(tmp_path / "list.pth")
    torch.save({"model": Path("x")}, tmp_path / "object.pth")  # an arbitrary object is never unpickled
    with pytest.raises(SimkitError, match="cannot be read .*Python objects besides tensors"):
        pretrained.vggish(tmp_path / "object.pth")
    state = random_state(shapes)
    del state["layer3.0.downsample.0.weight"]
    state["layer2.1.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(SimkitError, match=r"missing keys layer3\.0\.downsample\.0\.weight.*wrong shapes "
                                          r"layer2\.1\.conv2\.weight \(128, 128, 1, 1\) \(expected "
                                          r"\(128, 128, 3, 3\)\)"):
        pretrained.resnet18(tmp_path / "bad.pth")
    # simkit's own key names (the retired resnet_weights files) are not torchvision's
    torch.save(random_state({"stem.0.weight": (64, 3, 7, 7)}), tmp_path / "simkit.pth")
    with pytest.raises(SimkitError, match="missing keys conv1.weight.*unexpected keys stem.0.weight"):
        pretrained.resnet18(tmp_path / "simkit.pth")
    torch.save(random_state({"features.0.weight": (64, 1, 3, 3)}), tmp_path / "vgg.pth")
    with pytest.raises(SimkitError, match="VGGish .*missing keys features.0.bias"):
        pretrained.vggish(tmp_path / "vgg.pth")


def test_bench_reports_a_bad_weights_file_in_one_line(tmp_path: Path) -> None:
    from simkit.data.synthetic import write_synthetic_binaural

    data = write_synthetic_binaural(tmp_path / "data", np.random.default_rng(0), n_sets=2, n_views=2,
                                    splits={"train": ["a"], "val": ["b"], "test": ["c"]})
    state = random_state(torchvision_resnet18_shapes())
    state["layer4.1.bn2.running_var"] = torch.ones(256)
    torch.save(state, tmp_path / "wrong.pth")
    base = ["bench", "--task", "binauralize", "--data", str(data), "--results", str(tmp_path / "res"), "--quick"]
    cases = [
        ("mono2binaural", f"visual_weights={tmp_path / 'wrong.pth'}", "layer4.1.bn2.running_var (256,)"),
        ("clup", f"audio_weights={tmp_path / 'wrong.pth'}", "missing keys features.0.weight"),
        ("mono2binaural", f"resnet_weights={tmp_path / 'wrong.pth'}", "visual_weights"),  # the retired name
    ]
    for model, option, needle in cases:
        proc = subprocess.run([SIMKIT, *base, "--model", model, "--option", option], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode != 0
        one_error_line(proc, needle)
    assert not (tmp_path / "res" / "leaderboard.csv").exists()


# ------------------------------------------------------------------------------------------- models


def _render(tmp_path: Path) -> Path:
    from simkit.data.synthetic import write_synthetic_binaural

    return write_synthetic_binaural(tmp_path / "data", np.random.default_rng(0), n_sets=2, n_views=2,
                                    splits={"train": ["a", "b"], "val": ["c"], "test": ["d"]})


def test_mono2binaural_fine_tunes_imagenet_resnet(tmp_path: Path, resnet_file: Path) -> None:
    from simkit.bench.config import make_config
    from simkit.models import get_model
    from simkit.models.binaural.base import prepare_image

    def build(**opts: object) -> torch.nn.Module:
        cfg = make_config(model="mono2binaural", task="binauralize", data=str(tmp_path), width=4,
                          model_options=opts)
        return get_model("mono2binaural").build(cfg, {})

    plain = build()
    assert plain.visual.normalization == "fixed" and plain.visual.channels == 32
    model = build(visual_weights=str(resnet_file))
    assert model.visual.normalization == "imagenet" and model.visual.channels == 512
    assert all(p.requires_grad for p in model.visual.resnet.parameters())  # fine-tuned, as 2.5D's
    image = torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    model.eval()
    x = prepare_image(image, imagenet=True)
    assert not torch.allclose(x, prepare_image(image))
    scaled = torch.nn.functional.interpolate(image.permute(0, 3, 1, 2).float() / 255, size=(128, 160),
                                             mode="bilinear", antialias=True)
    assert torch.allclose(x, pretrained.imagenet_normalize(scaled))
    state = torch.load(resnet_file, weights_only=True)
    with torch.no_grad():
        assert torch.allclose(model.visual.feature_map(image), torchvision_resnet18_forward(x, state), atol=1e-3)


def test_clup_freezes_the_published_vggish(tmp_path: Path, vggish_file: Path, resnet_file: Path) -> None:
    from simkit.bench.config import make_config
    from simkit.models import get_model

    opts = {"audio_weights": str(vggish_file), "visual_weights": str(resnet_file), "loc_dim": 16.0}
    cfg = make_config(model="clup_loc", task="av_localize", data=str(tmp_path), width=4, model_options=opts)
    model = get_model("clup_loc").build(cfg, {})
    assert model.audio.embed_dim == 128 and not any(p.requires_grad for p in model.audio.parameters())
    assert all(p.requires_grad for p in model.loc_visual.parameters())
    g = torch.Generator().manual_seed(0)
    n = int(0.63 * RATE)
    batch = {"mono": 0.1 * torch.randn(2, n, generator=g), "neg_mono": 0.1 * torch.randn(2, n, generator=g),
             "binaural": 0.1 * torch.randn(2, 2, n, generator=g),
             "neg_binaural": 0.1 * torch.randn(2, 2, n, generator=g),
             "image": torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8, generator=g)}
    loss, _ = model.loss(batch)
    loss.backward()
    assert all(p.grad is None for p in model.audio.parameters())
    assert model.loc_visual.resnet.stem[0].weight.grad is not None
    assert model.localizer.osa.audio_head[0].weight.grad is not None
