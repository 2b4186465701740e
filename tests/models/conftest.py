import pytest
import torch

from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.scene_box import SceneBox

from panoptic_nerfstudio.data.panoptic_dataparser import PanopticSplit
from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable
from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config

CLASSES = ClassTable(
    [
        Category(1, "wall", False, (200, 200, 200)),
        Category(2, "floor", False, (100, 80, 60)),
        Category(5, "chair", True, (10, 200, 10)),
    ]
)


def make_model(heads=None, **overrides):
    """The lite preset's model on a toy scene; ``heads`` overrides fields of the heads' config. The far plane is
    nerfacto's 1000, not the presets' room-sized one: an untrained field is nearly empty, and the toy cameras' rays
    must run far to accumulate the surfaces these tests click on and calibrate from."""
    overrides.setdefault("far_plane", 1000.0)
    config = panoptic_lifting_lite_config().pipeline.model
    for key, value in overrides.items():
        setattr(config, key, value)
    for key, value in (heads or {}).items():
        setattr(config.heads, key, value)
    model = config.setup(
        scene_box=SceneBox(aabb=torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])),
        num_train_data=4,
        metadata={"panoptic": PanopticSplit(classes=CLASSES, layers=[])},
    )
    model.train()
    return model


def make_rays(n: int = 64, seed: int = 0) -> RayBundle:
    g = torch.Generator().manual_seed(seed)
    origins = torch.randn(n, 3, generator=g) * 0.1 + torch.tensor([0.0, 0.0, 2.0])
    directions = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * 0.2 + torch.tensor([0.0, 0.0, -1.0]), dim=-1)
    return RayBundle(
        origins=origins,
        directions=directions,
        pixel_area=torch.full((n, 1), 1e-4),
        camera_indices=torch.randint(0, 4, (n, 1), generator=g),
    )


@pytest.fixture
def model():
    return make_model()
