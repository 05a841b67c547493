"""The project's ResNet-18 gives float64-exact gradients on every memory layout, width and thread count.

oneDNN's 1x1 stride-2 backward-weights kernel corrupts the heap (or returns wrong weight gradients with two
threads) on channels_last input with few channels (oneDNN issue #6035); images permuted from (B, H, W, 3)
arrive channels_last. Each check runs in a subprocess so a crash is one failed test, not a dead suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

GRADIENT_CHECK = textwrap.dedent(
    """
    import copy, sys, torch
    from simkit.models.nets import ResNet18

    torch.set_num_threads(int(sys.argv[1]))
    worst = 0.0
    for width in map(int, sys.argv[2].split(",")):
        torch.manual_seed(width)
        net = ResNet18(in_channels=3, num_outputs=4, width=width)
        ref = copy.deepcopy(net).double()
        x = torch.rand(2, 48, 64, 3).permute(0, 3, 1, 2)  # channels_last strides, as HWC images arrive
        assert x.is_contiguous(memory_format=torch.channels_last)
        for model, inp in ((net, x), (ref, x.double())):
            model.zero_grad()
            model(inp).square().sum().backward()
        for (name, p), q in zip(net.named_parameters(), ref.parameters()):
            err = float((p.grad.double() - q.grad).abs().max() / (q.grad.abs().max() + 1e-12))
            worst = max(worst, err)
            if err > 1e-3:
                print(f"width {width}: {name} relative gradient error {err:.3g}")
    print(f"worst {worst:.3g}")
    """
)


@pytest.mark.parametrize("threads", [1, 2])
def test_resnet_gradients_match_float64_on_channels_last_input(threads: int) -> None:
    # widths 2-7 hit the AVX2 kernel's channel block, 4-15 the AVX-512 one; 8 is the --quick width
    widths = "2,3,4,6,8,12,16"
    proc = subprocess.run([sys.executable, "-c", GRADIENT_CHECK, str(threads), widths],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"backward crashed (rc {proc.returncode}): {proc.stderr[-2000:]}"
    assert "relative gradient error" not in proc.stdout, proc.stdout
