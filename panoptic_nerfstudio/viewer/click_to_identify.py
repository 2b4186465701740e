"""Click in the web viewer to ask what is there: the class and 3D instance under the cursor.

nerfstudio's :class:`ViewerControl` delivers a click as a world-space ray (``ViewerClick``).
We render that one ray and label it with the model's one inference rule, so the answer is
exactly what the ``panoptic`` output shows at that pixel. The answer goes to the "Under
cursor" text of the Custom Elements panel, to a label at the hit point in the 3D scene, and
to the console.

While viser listens for clicks, a drag on the canvas no longer orbits the camera (the
client turns its camera controls off during a press). So listening is opt-in: the
"Identify on click" checkbox turns it on and off.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import torch

from nerfstudio.cameras.rays import RayBundle
from nerfstudio.utils.rich_utils import CONSOLE
from nerfstudio.viewer.viewer_elements import ViewerCheckbox, ViewerClick, ViewerControl, ViewerText

from panoptic_nerfstudio.data.panoptic_format import Category
from panoptic_nerfstudio.inference.panoptic_rule import STUFF_INSTANCE

if TYPE_CHECKING:
    from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel

CLICK_LABEL = "/panoptic_click"
"""Scene-tree name of the label placed at the clicked point."""


@dataclass
class ClickReport:
    """What one click ray sees."""

    category: Optional[Category]
    """The class at the hit point; None where the ray renders mostly empty space."""
    instance_id: int
    """3D instance id (slot + 1) on things, 0 on stuff and on misses."""
    confidence: float
    """Rendered probability of the label (times the slot's on things)."""
    depth: float
    """Distance along the ray to the surface, in nerfstudio's normalized units."""
    position: Tuple[float, float, float]
    """Hit point in nerfstudio's world frame."""
    accumulation: float

    def describe(self) -> str:
        if self.category is None:
            return f"nothing (empty space, opacity {self.accumulation:.2f})"
        if self.instance_id != STUFF_INSTANCE:
            return f"{self.category.name} #{self.instance_id} (thing, {self.confidence:.0%})"
        return f"{self.category.name} (stuff, {self.confidence:.0%})"


def click_ray(click: ViewerClick, device: torch.device | str = "cpu") -> RayBundle:
    """The clicked ray as a [1, 1] bundle (the shape the full-image renderer expects)."""
    origin = torch.tensor(click.origin, dtype=torch.float32, device=device).reshape(1, 1, 3)
    direction = torch.nn.functional.normalize(
        torch.tensor(click.direction, dtype=torch.float32, device=device).reshape(1, 1, 3), dim=-1
    )
    return RayBundle(
        origins=origin,
        directions=direction,
        pixel_area=torch.full((1, 1, 1), 1e-6, device=device),
        camera_indices=torch.zeros((1, 1, 1), dtype=torch.long, device=device),
    )


@torch.no_grad()
def identify_click(model: "PanopticLiftingModel", click: ViewerClick, min_accumulation: float = 0.5) -> ClickReport:
    """Render the clicked ray and label it with the model's inference rule and instance table."""
    bundle = click_ray(click, model.device)
    outputs = model.get_outputs_for_camera_ray_bundle(bundle)  # labeled by the model's inference rule
    depth = float(outputs["depth"].reshape(-1)[0])
    accumulation = float(outputs["accumulation"].reshape(-1)[0])
    position = (bundle.origins + bundle.directions * depth).reshape(3).tolist()
    hit = accumulation >= min_accumulation
    return ClickReport(
        category=model.classes.by_id(round(float(outputs["class_id"].reshape(-1)[0]))) if hit else None,
        instance_id=round(float(outputs["instance_id"].reshape(-1)[0])) if hit else STUFF_INSTANCE,
        confidence=float(outputs["confidence"].reshape(-1)[0]),
        depth=depth,
        position=(position[0], position[1], position[2]),
        accumulation=accumulation,
    )


class PanopticClickControl(ViewerControl):
    """The model's click control; its two GUI elements are shown through ``PanopticViewerOptions``."""

    def __init__(self, model: "PanopticLiftingModel") -> None:
        self._model = weakref.ref(model)  # the model holds this control: no reference cycle
        self._listening = False
        self.last_report: Optional[ClickReport] = None
        self.toggle = ViewerCheckbox(
            "Identify on click",
            False,
            cb_hook=self._on_toggle,
            hint="Click the view to see the class and 3D instance there (camera drags are off while this is on)",
        )
        self.report = ViewerText("Under cursor", "", disabled=True, hint="Class and 3D instance of the last click")

    def _on_toggle(self, element: ViewerCheckbox) -> None:
        if not hasattr(self, "viser_server"):  # not set up by a viewer (e.g. ns-render): nothing to listen to
            return
        if element.value and not self._listening:
            self.register_pointer_cb("click", self.on_click)
            self._listening = True
        elif not element.value and self._listening:
            self.unregister_pointer_cb()
            self._listening = False

    def on_click(self, click: ViewerClick) -> ClickReport:
        """Identify the clicked ray and show the answer in the panel, in the scene and in the console."""
        model = self._model()
        assert model is not None, "the model of this click control is gone"
        viewer = getattr(self, "viewer", None)
        lock = getattr(viewer, "train_lock", None)
        with lock if lock is not None else contextlib.nullcontext():  # the render thread holds it while rendering
            report = identify_click(model, click)
        self.last_report = report
        text = report.describe()
        self.report.value = text
        CONSOLE.print(f"[bold]Under cursor:[/bold] {text}")
        if hasattr(self, "viser_server"):
            from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO

            position = tuple(v * VISER_NERFSTUDIO_SCALE_RATIO for v in report.position)
            self.viser_server.scene.add_label(CLICK_LABEL, text, position=position, visible=report.category is not None)
        return report
