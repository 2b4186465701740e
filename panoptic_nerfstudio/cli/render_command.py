"""``ns-panoptic render {interpolate,spiral,camera-path,dataset}``: nerfstudio's ``ns-render`` plus scene edits.

Each subcommand *is* nerfstudio's render command of that name (``nerfstudio.scripts.render``), subclassed: it
takes exactly ``ns-render``'s arguments, plus the edit options of ``SceneEditOptions``, and runs ``ns-render``'s
own ``main``. The one thing added is at the moment the run is loaded: while that ``main`` runs, the
``eval_setup`` it calls is wrapped so that it first checks that the config is a panoptic-lifting run (as every
``ns-panoptic`` command does, ``cli/trained_run``), and after loading checks the edits against the run's instance
table and class table and sets them on the model (``models/scene_editing``). With no edit the renders are
``ns-render``'s, bit for bit.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, List, Literal, Optional, Union

import tyro
from typing_extensions import Annotated

from nerfstudio.scripts import render as ns_render
from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.cli.command_errors import EXIT_OK, CommandError
from panoptic_nerfstudio.cli.trained_run import read_panoptic_config
from panoptic_nerfstudio.inference.scene_edits import SceneEditError, SceneEdits, parse_recolor, resolve_edits
from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel
from panoptic_nerfstudio.models.scene_editing import set_scene_edits

BACKGROUNDS = {"black": (0.0, 0.0, 0.0), "white": (1.0, 1.0, 1.0), "transparent": (0.0, 0.0, 0.0)}
"""RGB behind isolated objects; ``transparent`` renders on black and puts the coverage in the rgba output's alpha."""


@dataclass
class SceneEditOptions:
    """The edits of ``ns-panoptic render`` (ahead of ``ns-render``'s own options in the MRO, so ``main`` wraps it)."""

    remove_instances: List[int] = field(default_factory=list)
    """3D instance ids to remove (the ids click-to-identify, ns-panoptic eval and the instance_id output show): the
    density of their samples is zero, so the render shows what the field has behind them."""
    remove_classes: List[str] = field(default_factory=list)
    """Class names (from the class table) to remove, every instance of a thing class or all of a stuff class."""
    isolate_instances: List[int] = field(default_factory=list)
    """3D instance ids to render alone, on --background (every other sample gets zero density)."""
    isolate_classes: List[str] = field(default_factory=list)
    """Class names to render alone, on --background."""
    recolor_instances: List[str] = field(default_factory=list)
    """Instances to tint, as ID=#RRGGBB (e.g. 3=#ff8800): their color takes the hue, their shading stays."""
    background: Optional[Literal["black", "white", "transparent"]] = None
    """Background of isolated objects (default black). transparent: ask for the rgba output
    (--rendered-output-names rgba) with --image-format png, and --output-format images for trajectories."""

    def main(self) -> int:
        """``ns-render``'s main, with the edits set on the run it loads."""
        self.check_options()
        with self.loading_with_edits():
            super().main()  # type: ignore[misc]
        return EXIT_OK

    def check_options(self) -> None:
        """What can be checked before loading the run: recolor syntax and the background's requirements."""
        try:
            for spec in self.recolor_instances:
                parse_recolor(spec)
        except SceneEditError as error:
            raise CommandError(str(error)) from None
        if self.background is not None and not (self.isolate_instances or self.isolate_classes):
            raise CommandError("--background is the background of isolated objects: add --isolate-instances or "
                               "--isolate-classes")  # fmt: skip
        if self.background == "transparent":
            names = getattr(self, "rendered_output_names", None) or []
            wanted = []
            if "rgba" not in names:
                wanted.append("the rgba output (--rendered-output-names rgba ...)")
            if getattr(self, "image_format", "png") != "png":
                wanted.append("--image-format png")
            if getattr(self, "output_format", "images") != "images":
                wanted.append("--output-format images (a video has no alpha)")
            if wanted:
                raise CommandError("--background transparent needs " + ", ".join(wanted))

    def edits_for(self, model: PanopticLiftingModel) -> SceneEdits:
        """The edits, checked against the run's instance table and class table (CommandError listing valid ones)."""
        try:
            return resolve_edits(
                model.instance_table,
                model.classes,
                remove_instances=self.remove_instances,
                remove_classes=self.remove_classes,
                isolate_instances=self.isolate_instances,
                isolate_classes=self.isolate_classes,
                recolor_instances=self.recolor_instances,
                background=BACKGROUNDS[self.background or "black"],
            )
        except SceneEditError as error:
            raise CommandError(str(error)) from None

    @contextmanager
    def loading_with_edits(self) -> Iterator[None]:
        """While it lasts, ``ns-render``'s ``eval_setup`` loads panoptic runs only and sets the edits on the model."""
        original = ns_render.eval_setup

        def eval_setup(config_path, *args, **kwargs):
            read_panoptic_config(config_path)  # a panoptic-lifting run with a checkpoint, or an error naming the file
            loaded = original(config_path, *args, **kwargs)
            model = loaded[1].model
            edits = self.edits_for(model)
            set_scene_edits(model, edits)
            if self.background == "transparent":
                model.renderer_rgb.background_color = "random"  # rgb on black; get_rgba_image: alpha = accumulation
            if edits.active:
                CONSOLE.print(f"[bold]Scene edits:[/bold] {edits.describe(model.classes)}")
            return loaded

        ns_render.eval_setup = eval_setup
        try:
            yield
        finally:
            ns_render.eval_setup = original


@dataclass
class RenderCameraPath(SceneEditOptions, ns_render.RenderCameraPath):
    """ns-render camera-path (a camera path from the viewer or the Blender add-on), with scene edits."""


@dataclass
class RenderInterpolated(SceneEditOptions, ns_render.RenderInterpolated):
    """ns-render interpolate (between the training or evaluation cameras), with scene edits."""


@dataclass
class SpiralRender(SceneEditOptions, ns_render.SpiralRender):
    """ns-render spiral, with scene edits."""


@dataclass
class DatasetRender(SceneEditOptions, ns_render.DatasetRender):
    """ns-render dataset (every image of a split, raw-* outputs as .npy.gz), with scene edits."""


Render = Annotated[
    Union[
        Annotated[RenderCameraPath, tyro.conf.subcommand(name="camera-path")],
        Annotated[RenderInterpolated, tyro.conf.subcommand(name="interpolate")],
        Annotated[SpiralRender, tyro.conf.subcommand(name="spiral")],
        Annotated[DatasetRender, tyro.conf.subcommand(name="dataset")],
    ],
    tyro.conf.FlagConversionOff,  # booleans as ns-render takes them (--render-nearest-camera True)
    tyro.conf.subcommand(
        name="render",
        description="ns-render with scene edits: remove, isolate or recolor objects by 3D instance id or class.",
    ),
]
"""The ``render`` subcommand group of ``ns-panoptic``."""
