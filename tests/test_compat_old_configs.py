"""An older run's config.yml (without the config fields added since) loads with today's code: the fields take their
defaults instead of raising AttributeError on first use (``compat.complete_config``, trap 6)."""

import yaml

from panoptic_nerfstudio.compat import complete_config
from panoptic_nerfstudio.inference.edge_aware_refinement import EdgeAwareRefinementConfig
from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config


def older_config_yml():
    """The lite preset as nerfstudio saves it, written before the nested refinement config, the scalar rule-6 switch
    and the heads' samples per ray existed."""
    config = panoptic_lifting_lite_config()
    model = config.pipeline.model
    del model.__dict__["edge_aware_refinement"], model.__dict__["stuff_beyond_reach"]
    del model.heads.__dict__["samples_per_ray"]
    return yaml.dump(config)


def test_fields_an_older_config_yml_lacks_take_their_defaults():
    config = yaml.load(older_config_yml(), Loader=yaml.Loader)  # as nerfstudio's eval_setup loads it
    model = config.pipeline.model
    assert "edge_aware_refinement" not in vars(model) and "samples_per_ray" not in vars(model.heads)
    complete_config(config)
    assert model.edge_aware_refinement == EdgeAwareRefinementConfig() and model.stuff_beyond_reach is True
    assert model.heads.samples_per_ray == type(model.heads)().samples_per_ray
    assert model.max_res == 512  # saved values stay as saved (the preset's, not nerfacto's default)


def test_an_older_keep_near_plane_keeps_its_meaning_as_render_near_plane():
    for keep, render_near_plane in ((True, None), (False, 0.0)):
        config = panoptic_lifting_lite_config()
        model = config.pipeline.model
        del model.__dict__["render_near_plane"]
        model.keep_near_plane = keep
        config = yaml.load(yaml.dump(config), Loader=yaml.Loader)
        complete_config(config)
        assert config.pipeline.model.render_near_plane == render_near_plane
        assert "keep_near_plane" not in vars(config.pipeline.model)


def test_a_pipeline_built_from_an_older_config_yml_labels_with_the_defaults(tiny_scene_master):
    config = yaml.load(older_config_yml(), Loader=yaml.Loader)
    config.pipeline.datamanager.data = tiny_scene_master
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    assert pipeline.model.config.edge_aware_refinement.enabled
    heads = pipeline.model.config.heads
    assert heads.samples_per_ray == type(heads)().samples_per_ray
