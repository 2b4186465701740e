"""``ns-train panoptic-lifting -h`` is the user's manual: every config field the user can set says what it does."""

import dataclasses

import pytest
from tyro._docstrings import get_field_docstring

from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySamplerConfig
from panoptic_nerfstudio.fields.panoptic_heads import PanopticHeadsConfig
from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModelConfig
from panoptic_nerfstudio.pipelines.panoptic_pipeline import PanopticPipelineConfig

CONFIGS = [
    PanopticLiftingModelConfig,
    PanopticHeadsConfig,
    PanopticDataManagerConfig,
    PanopticDataParserConfig,
    SegmentRaySamplerConfig,
    PanopticPipelineConfig,
]


def _undocumented(config_class) -> list:
    return [
        f.name
        for f in dataclasses.fields(config_class)
        if f.name != "_target" and not (get_field_docstring(config_class, f.name, ()) or "").strip()
    ]


@pytest.mark.parametrize("config_class", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_field_has_a_docstring(config_class):
    assert _undocumented(config_class) == []


def test_the_docstring_check_finds_a_missing_one():
    @dataclasses.dataclass
    class Half:
        documented: int = 1
        """Says what it does."""
        silent: int = 2

    assert _undocumented(Half) == ["silent"]
