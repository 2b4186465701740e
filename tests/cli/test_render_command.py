"""``ns-panoptic render``: ns-render's commands and arguments, plus edits checked before and after loading a run."""

import dataclasses
import subprocess
from pathlib import Path

import pytest
import tyro

from nerfstudio.scripts import render as ns_render

from panoptic_nerfstudio.cli.command_errors import CommandError
from panoptic_nerfstudio.cli.render_command import (
    DatasetRender,
    Render,
    RenderCameraPath,
    RenderInterpolated,
    SceneEditOptions,
    SpiralRender,
)
from tests.console_scripts import BIN

OURS = {
    "camera-path": (RenderCameraPath, ns_render.RenderCameraPath),
    "interpolate": (RenderInterpolated, ns_render.RenderInterpolated),
    "spiral": (SpiralRender, ns_render.SpiralRender),
    "dataset": (DatasetRender, ns_render.DatasetRender),
}
EDIT_FIELDS = {f.name for f in dataclasses.fields(SceneEditOptions)}


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_subcommand_is_ns_renders_with_exactly_its_arguments_plus_the_edits(name):
    ours, theirs = OURS[name]
    assert issubclass(ours, theirs) and ours.main is SceneEditOptions.main
    fields = {f.name: f for f in dataclasses.fields(ours)}
    stock = {f.name: f for f in dataclasses.fields(theirs)}
    assert set(fields) - set(stock) == EDIT_FIELDS and set(stock) <= set(fields)
    for key, f in stock.items():
        assert fields[key].default == f.default and fields[key].type == f.type, key
    parsed = tyro.cli(Render, args=[name, "--load-config", "c.yml", "--remove-instances", "3", "5",
                                     "--render-nearest-camera", "True"])  # fmt: skip
    assert isinstance(parsed, ours) and parsed.remove_instances == [3, 5] and parsed.render_nearest_camera is True


def _options(**kwargs):
    return DatasetRender(load_config=Path("c.yml"), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"recolor_instances": ["3=red"]}, "ID=#RRGGBB"),
        ({"background": "white"}, "add --isolate-instances or --isolate-classes"),
        ({"background": "transparent", "isolate_instances": [1]}, "the rgba output"),
        ({"background": "transparent", "isolate_instances": [1], "rendered_output_names": ["rgba"]}, "png"),
    ],
)
def test_options_checked_before_loading(kwargs, message):
    with pytest.raises(CommandError, match=message):
        _options(**kwargs).check_options()


def test_valid_options_pass_the_early_checks():
    _options(recolor_instances=["3=#ff0000"], isolate_classes=["chair"], background="white").check_options()
    _options(isolate_instances=[1], background="transparent", rendered_output_names=["rgba"],
             image_format="png").check_options()  # fmt: skip
    trajectory = RenderInterpolated(load_config=Path("c.yml"), isolate_instances=[1], background="transparent",
                                    rendered_output_names=["rgba"], image_format="png")  # fmt: skip
    with pytest.raises(CommandError, match="--output-format images"):
        trajectory.check_options()


def test_a_config_that_is_no_run_fails_with_exit_1_naming_it(tmp_path):
    missing = tmp_path / "nothing" / "config.yml"
    result = subprocess.run(
        [str(BIN / "ns-panoptic"), "render", "dataset", "--load-config", str(missing), "--remove-instances", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nothing/config.yml" in result.stdout and "no such file" in result.stdout


def test_every_edit_option_says_what_it_does():
    from tyro._docstrings import get_field_docstring

    for name in EDIT_FIELDS:
        assert (get_field_docstring(SceneEditOptions, name, ()) or "").strip(), name
