"""The viewer's scene edit buttons act on the last clicked instance, and every output follows."""

from types import SimpleNamespace

import pytest
import torch

from nerfstudio.viewer.utils import parse_object
from nerfstudio.viewer.viewer_elements import ViewerElement

from panoptic_nerfstudio.inference.scene_edits import SceneEdits
from panoptic_nerfstudio.models.scene_editing import scene_edits
from panoptic_nerfstudio.viewer.click_to_identify import click_ray
from panoptic_nerfstudio.viewer.edit_buttons import DURING_TRAINING, NO_INSTANCE
from tests.models.conftest import make_model
from tests.viewer.test_click_to_identify import CHAIR, CLICK, WALL, forced_model


def _render_click(model):
    return model.get_outputs_for_camera_ray_bundle(click_ray(CLICK))


def test_the_viewer_finds_the_three_buttons_and_the_status_line():
    model = make_model()
    elements = [e for _, e in parse_object(model, ViewerElement, "Custom Elements")]
    buttons = model.viewer_options.edits
    for element in (buttons.hide, buttons.show_only, buttons.reset, buttons.status):
        assert element in elements
    assert [buttons.hide.name, buttons.show_only.name, buttons.reset.name] == [
        "Hide this instance", "Show only this instance", "Reset edits",
    ]  # fmt: skip


def test_hide_show_only_and_reset_act_on_the_clicked_instance():
    model = forced_model(CHAIR, 1)
    buttons = model.viewer_options.edits
    buttons.hide_clicked()  # nothing clicked yet
    assert buttons.status.value == NO_INSTANCE and scene_edits(model) == SceneEdits()
    before = _render_click(model)
    assert model.viewer_click.on_click(CLICK).instance_id == 2

    buttons.hide_clicked()
    buttons.hide_clicked()  # twice: still one removal
    assert scene_edits(model).remove_instances == (2,) and buttons.status.value == "removed #2"
    hidden = _render_click(model)
    assert float(hidden["accumulation"].max()) == 0.0 < float(before["accumulation"].max())

    buttons.show_only_clicked()
    assert scene_edits(model).isolate_instances == (2,)
    assert scene_edits(model).background == (0.0, 0.0, 0.0)  # no viewer: black

    buttons.reset_edits()
    assert scene_edits(model) == SceneEdits() and buttons.status.value == "none"
    assert torch.equal(_render_click(model)["rgb"], before["rgb"])


def test_show_only_uses_the_viewers_background_color():
    model = forced_model(CHAIR, 0)
    buttons = model.viewer_options.edits
    model.viewer_click.on_click(CLICK)
    panel = SimpleNamespace(background_color=(255, 0, 51))
    model.viewer_click.viewer = SimpleNamespace(trainer=None, control_panel=panel)
    buttons.show_only_clicked()
    assert scene_edits(model).isolate_instances == (1,)
    assert scene_edits(model).background == (1.0, 0.0, 0.2)


def test_a_click_on_stuff_gives_nothing_to_hide():
    model = forced_model(WALL, 0)
    model.viewer_click.on_click(CLICK)
    model.viewer_options.edits.hide_clicked()
    assert scene_edits(model) == SceneEdits() and model.viewer_options.edits.status.value == NO_INSTANCE


def test_no_edits_in_the_viewer_of_a_training_run():
    model = forced_model(CHAIR, 0)
    model.viewer_click.on_click(CLICK)
    model.viewer_click.viewer = SimpleNamespace(trainer=object(), control_panel=None)
    model.viewer_options.edits.hide_clicked()
    assert scene_edits(model) == SceneEdits() and model.viewer_options.edits.status.value == DURING_TRAINING


def test_pressing_the_installed_buttons_edits_the_model():
    """The buttons as nerfstudio's viewer installs them in viser: a press runs the edit."""
    viser = pytest.importorskip("viser")
    from tests.viewer.test_click_to_identify import _free_port

    model = forced_model(CHAIR, 1)
    buttons = model.viewer_options.edits
    server = viser.ViserServer(host="127.0.0.1", port=_free_port(), verbose=False)

    def press(button):
        for callback in button.gui_handle._impl.update_cb:  # what viser runs when the browser reports a click
            callback(None)

    try:
        for element in (buttons.hide, buttons.show_only, buttons.reset, buttons.status):
            element.install(server)
        model.viewer_click.on_click(CLICK)
        press(buttons.hide)
        assert scene_edits(model).remove_instances == (2,)
        press(buttons.show_only)
        assert scene_edits(model).isolate_instances == (2,)
        press(buttons.reset)
        assert scene_edits(model) == SceneEdits()
    finally:
        server.stop()
