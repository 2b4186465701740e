"""Scene edits in the web viewer: hide the clicked instance, show only it, or reset.

After "Identify on click" has named a 3D instance (``click_to_identify``), "Hide this
instance" removes it and "Show only this instance" isolates it (on the viewer's
background color); "Reset edits" undoes both. The edits are the model's scene edits
(``models/scene_editing``), so they reach every output the viewer shows. nerfstudio
re-renders after each button.

Edits are for trained runs (``ns-viewer``): in the viewer of ``ns-train`` the buttons
say so and change nothing, because the instance table made at the next checkpoint
renders the training views through the same model and must see the unedited field.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import TYPE_CHECKING, Optional, Tuple

from nerfstudio.viewer.viewer_elements import ViewerButton, ViewerText

from panoptic_nerfstudio.inference.panoptic_rule import STUFF_INSTANCE
from panoptic_nerfstudio.inference.scene_edits import SceneEdits
from panoptic_nerfstudio.models.scene_editing import scene_edits, set_scene_edits
from panoptic_nerfstudio.viewer.click_to_identify import PanopticClickControl

if TYPE_CHECKING:
    from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel

NO_INSTANCE = "Click an object first (turn on 'Identify on click'): the last click found no 3D instance."
DURING_TRAINING = "Scene edits need a trained run: open it with ns-viewer (not while ns-train is running)."


class SceneEditButtons:
    """The three buttons and a line saying which edits are on; shown through ``PanopticViewerOptions``."""

    def __init__(self, model: "PanopticLiftingModel", click: PanopticClickControl) -> None:
        self._model = weakref.ref(model)  # the model holds these buttons: no reference cycle
        self._click = click
        self.hide = ViewerButton("Hide this instance", cb_hook=lambda _: self.hide_clicked())
        self.show_only = ViewerButton("Show only this instance", cb_hook=lambda _: self.show_only_clicked())
        self.reset = ViewerButton("Reset edits", cb_hook=lambda _: self.reset_edits())
        self.status = ViewerText("Scene edits", "none", disabled=True, hint="What the edit buttons changed")

    def _model_or_fail(self) -> "PanopticLiftingModel":
        model = self._model()
        assert model is not None, "the model of these buttons is gone"
        return model

    def _training(self) -> bool:
        viewer = getattr(self._click, "viewer", None)
        return viewer is not None and getattr(viewer, "trainer", None) is not None

    def _clicked_instance(self) -> Optional[int]:
        report = self._click.last_report
        if report is None or report.category is None or report.instance_id == STUFF_INSTANCE:
            return None
        return report.instance_id

    def _background(self) -> Tuple[float, float, float]:
        viewer = getattr(self._click, "viewer", None)
        color = getattr(getattr(viewer, "control_panel", None), "background_color", None)
        if color is None:
            return (0.0, 0.0, 0.0)
        return (color[0] / 255.0, color[1] / 255.0, color[2] / 255.0)

    def _apply(self, change) -> None:
        """Set the edits ``change(current edits, clicked id)`` makes, or say why nothing changed."""
        model = self._model_or_fail()
        if self._training():
            self.status.value = DURING_TRAINING
            return
        instance_id = self._clicked_instance()
        if instance_id is None:
            self.status.value = NO_INSTANCE
            return
        edits = change(scene_edits(model), instance_id)
        set_scene_edits(model, edits)
        self.status.value = edits.describe(model.classes)

    def hide_clicked(self) -> None:
        """Remove the last clicked instance (beside earlier removals)."""
        def hide(edits: SceneEdits, instance_id: int) -> SceneEdits:
            removed = tuple(dict.fromkeys(edits.remove_instances + (instance_id,)))
            return dataclasses.replace(edits, remove_instances=removed)

        self._apply(hide)

    def show_only_clicked(self) -> None:
        """Render the last clicked instance alone, on the viewer's background color."""
        self._apply(
            lambda edits, i: dataclasses.replace(
                edits, isolate_instances=(i,), isolate_classes=(), background=self._background()
            )
        )

    def reset_edits(self) -> None:
        """No edits: the field as trained."""
        set_scene_edits(self._model_or_fail(), SceneEdits())
        self.status.value = "none"
