"""The model's "Custom Elements" in the web viewer, and the color images they shape.

nerfstudio's viewer collects GUI elements from the model's attributes and, recursively,
from its child modules only. This holder is therefore a parameter-free ``nn.Module``
child of the model: it keeps the panoptic display options (and the click control) in
one place without adding anything to the checkpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from torch import Tensor, nn

from nerfstudio.viewer.viewer_elements import ViewerCheckbox, ViewerDropdown

from panoptic_nerfstudio.inference.panoptic_rule import PanopticPrediction
from panoptic_nerfstudio.utils.panoptic_colors import (
    InstanceColorScheme,
    instance_colormap,
    panoptic_colormap,
    semantic_colormap,
)
from panoptic_nerfstudio.viewer.click_to_identify import PanopticClickControl
from panoptic_nerfstudio.viewer.edit_buttons import SceneEditButtons

if TYPE_CHECKING:
    from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel


class PanopticViewerOptions(nn.Module):
    """Show stuff / things, the instance color scheme, click-to-identify and the scene edit buttons."""

    def __init__(self, model: "PanopticLiftingModel") -> None:
        super().__init__()
        self.show_stuff = ViewerCheckbox("Show stuff", True, hint="Color stuff classes in 'panoptic'")
        self.show_things = ViewerCheckbox("Show things", True, hint="Color thing instances in 'panoptic'")
        self.instance_colors: ViewerDropdown = ViewerDropdown(
            "Instance colors", "distinct", ["distinct", "class-tinted"], hint="Color scheme of 3D instances"
        )
        self.click = PanopticClickControl(model)
        # The control's own elements must be attributes here too for the viewer to show them.
        self.identify_on_click, self.under_cursor = self.click.toggle, self.click.report
        # Scene edits of the clicked instance (viewer/edit_buttons.py); shown through attributes, as above.
        self.edits = SceneEditButtons(model, self.click)
        self.hide_instance, self.show_only_instance = self.edits.hide, self.edits.show_only
        self.reset_edits, self.scene_edits = self.edits.reset, self.edits.status

    def color_images(self, prediction: PanopticPrediction, class_colors: Tensor) -> Dict[str, Tensor]:
        """``semantics_colormap``, ``instance_colormap`` and ``panoptic`` of a prediction, as the options say."""
        scheme: InstanceColorScheme = self.instance_colors.value  # type: ignore[assignment]
        return {
            "semantics_colormap": semantic_colormap(prediction.semantics, class_colors),
            "instance_colormap": instance_colormap(prediction.instance, prediction.semantics, class_colors, scheme),
            "panoptic": panoptic_colormap(
                prediction.semantics,
                prediction.instance,
                class_colors,
                scheme,
                show_stuff=bool(self.show_stuff.value),
                show_things=bool(self.show_things.value),
            ),
        }

    def labelled_images(
        self, prediction: PanopticPrediction, class_colors: Tensor, category_ids: Tensor
    ) -> Dict[str, Tensor]:
        """The color images, the confidence and the id maps of a prediction (``category_ids``: class index -> id)."""
        images = self.color_images(prediction, class_colors)
        images["confidence"] = prediction.confidence[..., None]
        # Id maps; `ns-render dataset --rendered-output-names raw-class_id raw-instance_id` saves them unchanged.
        images["class_id"] = category_ids[prediction.semantics][..., None].float()
        images["instance_id"] = prediction.instance[..., None].float()
        return images
