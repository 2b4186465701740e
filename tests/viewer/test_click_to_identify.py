"""The viewer's click report: class and 3D instance of the clicked ray, without a browser."""

import socket
import threading
import time
from types import SimpleNamespace

import pytest
import torch

from nerfstudio.viewer.utils import parse_object
from nerfstudio.viewer.viewer_elements import ViewerClick, ViewerControl, ViewerElement

from panoptic_nerfstudio.inference.panoptic_rule import infer_panoptic
from panoptic_nerfstudio.viewer.click_to_identify import PanopticClickControl, click_ray, identify_click
from tests.models.conftest import make_model

CHAIR, WALL = 2, 0  # dense indices of tests/model/conftest.py's CLASSES


def forced_model(winning_class: int, winning_slot: int):
    """A model whose heads put (nearly) all probability on one class and one slot everywhere."""
    torch.manual_seed(0)
    model = make_model(num_instance_slots=4)
    boost = lambda index, size: torch.nn.functional.one_hot(torch.tensor(index), size).float() * 20.0
    model.heads.semantic.register_forward_hook(lambda m, i, out: out + boost(winning_class, out.shape[-1]))
    model.heads.instance.register_forward_hook(lambda m, i, out: out + boost(winning_slot, out.shape[-1]))
    model.eval()
    return model


CLICK = ViewerClick(origin=(0.0, 0.0, 2.0), direction=(0.0, 0.0, -3.0), screen_pos=(0.5, 0.5))


def test_a_click_on_a_thing_reports_its_class_and_3d_instance():
    report = identify_click(forced_model(CHAIR, 2), CLICK, min_accumulation=0.0)
    assert report.category is not None and report.category.name == "chair"
    assert report.instance_id == 3  # slot 2 -> 3D instance id 3
    assert report.describe().startswith("chair #3")


def test_a_click_on_stuff_reports_the_class_and_no_instance():
    report = identify_click(forced_model(WALL, 2), CLICK, min_accumulation=0.0)
    assert report.category.name == "wall" and report.instance_id == 0
    assert report.describe().startswith("wall (stuff")


def test_a_click_into_empty_space_reports_nothing():
    report = identify_click(forced_model(CHAIR, 2), CLICK, min_accumulation=1.01)  # no ray reaches that opacity
    assert report.category is None and report.instance_id == 0 and report.describe().startswith("nothing")


def test_the_report_is_the_inference_rule_on_that_ray():
    torch.manual_seed(1)
    model = make_model(num_instance_slots=4)
    model.eval()
    report = identify_click(model, CLICK, min_accumulation=0.0)
    bundle = click_ray(CLICK)
    outputs = model.get_outputs_for_camera_ray_bundle(bundle)
    pred = model.infer(outputs)
    assert report.category == model.classes.categories[int(pred.semantics.reshape(-1)[0])]
    assert report.instance_id == int(pred.instance.reshape(-1)[0])
    # the hit point lies on the (normalized) clicked ray at the rendered depth
    expected = torch.tensor([0.0, 0.0, 2.0 - report.depth])
    assert torch.allclose(torch.tensor(report.position), expected, atol=1e-5)


def test_the_viewer_finds_the_control_and_its_elements_on_the_model():
    model = make_model()
    controls = [e for _, e in parse_object(model, ViewerControl, "Custom Elements")]
    elements = [e for _, e in parse_object(model, ViewerElement, "Custom Elements")]
    assert controls == [model.viewer_click]
    assert model.viewer_click.toggle in elements and model.viewer_click.report in elements


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(condition, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_checkbox_turns_click_listening_on_and_a_click_fills_the_panel():
    viser = pytest.importorskip("viser")
    from viser import ScenePointerEvent

    model = forced_model(CHAIR, 1)
    control: PanopticClickControl = model.viewer_click
    server = viser.ViserServer(host="127.0.0.1", port=_free_port(), verbose=False)
    try:
        for element in (control.toggle, control.report):
            element.install(server)
        control._setup(SimpleNamespace(viser_server=server, train_lock=threading.Lock()))
        scene = server.scene
        assert scene._scene_pointer_cb is None  # off by default: camera drags keep working
        control.toggle.value = True  # as a user ticking the box (viser runs the callback on its thread pool)
        assert _wait_for(lambda: scene._scene_pointer_cb is not None)
        # viser delivers the click in its scene coordinates (nerfstudio's times 10)
        event = ScenePointerEvent(
            client=None, client_id=0, event_type="click",  # type: ignore[arg-type]
            ray_origin=(0.0, 0.0, 20.0), ray_direction=(0.0, 0.0, -1.0), screen_pos=((0.5, 0.5),),
        )
        scene._scene_pointer_cb(event)
        assert control.last_report is not None and control.last_report.instance_id == 2
        assert control.report.value.startswith("chair #2")
        control.toggle.value = False
        assert _wait_for(lambda: scene._scene_pointer_cb is None)
    finally:
        server.stop()
