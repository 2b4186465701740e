"""LPIPS as nerfacto computes it where torch's cache has its AlexNet weights; skipped, and said once, otherwise."""

import socket

import pytest
import torch

from panoptic_nerfstudio.compat import ALEXNET_WEIGHTS, cached_lpips, lpips_weights_path

from tests.models.conftest import make_model


def _image_metrics(model):
    image = torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(0))
    outputs = {
        "rgb": (image * 0.9).clamp(0, 1),
        "depth": torch.ones(64, 64, 1),
        "accumulation": torch.ones(64, 64, 1),
        "semantics": torch.full((64, 64, 3), 1 / 3),
        "instances": torch.full((64, 64, 32), 1 / 32),
        "surface_points": torch.zeros(64, 64, 3),
    }
    metrics, _ = model.get_image_metrics_and_images(outputs, {"image": image})
    return metrics


@pytest.fixture
def torch_home(tmp_path):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


def test_without_cached_weights_lpips_is_skipped_once_and_nothing_is_downloaded(torch_home, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert cached_lpips() is None
    model = make_model().eval()
    assert "lpips" not in _image_metrics(model)
    assert "lpips" not in _image_metrics(model)
    assert capsys.readouterr().out.count("LPIPS skipped") == 1


@pytest.mark.slow
def test_with_cached_weights_lpips_is_reported(torch_home):
    """Weights with AlexNet's shapes under the cached file name (random values: no download is possible here)."""
    import torchvision

    lpips_weights_path().parent.mkdir(parents=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), torch_home / "checkpoints" / ALEXNET_WEIGHTS)
    model = make_model().eval()
    metrics = _image_metrics(model)
    assert "lpips" in metrics and metrics["lpips"] >= 0.0
    assert not any(key.startswith("lpips") or "._lpips" in key for key in model.state_dict())
