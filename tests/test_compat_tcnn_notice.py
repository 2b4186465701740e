"""Without tinycudann, building the paper-sized model says so once, not once per module as nerfstudio does."""

import nerfstudio.field_components.encodings as encodings
import nerfstudio.field_components.mlp as mlp
import nerfstudio.utils.external as external

from panoptic_nerfstudio import compat
from panoptic_nerfstudio.method_configs import panoptic_lifting_config, panoptic_lifting_lite_config


def build(config, scene):
    config.pipeline.datamanager.data = scene
    return config.pipeline.setup(device="cpu", test_mode="val")


def pretend_tcnn_missing(monkeypatch):
    """Where tinycudann is installed, make nerfstudio behave as on a machine without it."""
    for module in (external, encodings, mlp):
        monkeypatch.setattr(module, "TCNN_EXISTS", False)
    monkeypatch.setattr(external, "tcnn_import_exception", ModuleNotFoundError("No module named 'tinycudann'"))
    monkeypatch.setattr(compat, "_TCNN_NOTICE_GIVEN", False)


def test_paper_sized_model_without_tcnn_gives_one_notice(tiny_scene_master, monkeypatch, capsys):
    pretend_tcnn_missing(monkeypatch)
    capsys.readouterr()
    pipeline = build(panoptic_lifting_config(), tiny_scene_master)
    out = capsys.readouterr().out
    assert out.count("tinycudann is not importable") == 1
    assert "slow implementation" not in out and "Install tcnn" not in out
    assert "error" not in out.lower()
    # the fallback is nerfstudio's torch hash grid
    assert any(isinstance(m, encodings.HashEncoding) for m in pipeline.model.field.modules())
    # nerfstudio's own warning is back in place after the build
    assert encodings.print_tcnn_speed_warning is not None and encodings.print_tcnn_speed_warning.__name__ != "<lambda>"
    assert mlp.print_tcnn_speed_warning.__name__ != "<lambda>"

    build(panoptic_lifting_config(), tiny_scene_master)  # a second model in the same process: no second notice
    assert "tinycudann" not in capsys.readouterr().out


def test_torch_implementation_gives_no_notice(tiny_scene_master, monkeypatch, capsys):
    pretend_tcnn_missing(monkeypatch)
    capsys.readouterr()
    build(panoptic_lifting_lite_config(), tiny_scene_master)
    assert "tinycudann" not in capsys.readouterr().out
