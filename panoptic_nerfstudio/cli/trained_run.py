"""Loading a trained panoptic-lifting run, the one way every ``ns-panoptic`` command does it.

nerfstudio's ``eval_setup`` asserts and then builds the whole pipeline before anything
could tell that the config belongs to another method (or is no config at all). We read
the saved config first and refuse, naming the file and the method it found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Tuple

import yaml

from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import Pipeline
from nerfstudio.utils.eval_utils import eval_setup

from panoptic_nerfstudio.cli.command_errors import CommandError
from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel, PanopticLiftingModelConfig


class TrainedRunError(CommandError):
    """A --load-config that cannot be loaded as a panoptic-lifting run. The message names the file."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def read_panoptic_config(config_path: Path) -> TrainerConfig:
    """The saved ``config.yml`` of a panoptic-lifting run, or TrainedRunError saying why not."""
    config_path = Path(config_path)
    if not config_path.is_file():
        raise TrainedRunError(config_path, "no such file (pass the config.yml that ns-train wrote)")
    try:
        config = yaml.load(config_path.read_text(), Loader=yaml.Loader)
    except (yaml.YAMLError, UnicodeDecodeError, AttributeError, ImportError) as error:
        raise TrainedRunError(config_path, f"not a nerfstudio config.yml ({error.__class__.__name__}: {error})") from None
    if not isinstance(config, TrainerConfig):
        raise TrainedRunError(config_path, "not a nerfstudio config.yml (no trainer config in it)")
    if not isinstance(config.pipeline.model, PanopticLiftingModelConfig):
        raise TrainedRunError(
            config_path,
            f"a '{config.method_name}' run, not panoptic-lifting: only panoptic-lifting(-lite) models have the "
            "semantic and instance fields that export reads",
        )
    checkpoints = config.get_checkpoint_dir()
    if not checkpoints.is_dir() or not any(checkpoints.glob("step-*.ckpt")):
        raise TrainedRunError(config_path, f"no checkpoint (step-*.ckpt) in {checkpoints}")
    return config


def load_panoptic_run(
    config_path: Path, test_mode: Literal["test", "inference"] = "inference"
) -> Tuple[TrainerConfig, Pipeline, PanopticLiftingModel, Path]:
    """Check the config, then load the pipeline and its latest checkpoint (returned last). ``inference`` decodes no
    dataset; ``test`` also loads the evaluation split (its images and masks)."""
    read_panoptic_config(config_path)
    config, pipeline, checkpoint, _ = eval_setup(Path(config_path), test_mode=test_mode)
    model = pipeline.model
    assert isinstance(model, PanopticLiftingModel)
    return config, pipeline, model, checkpoint
