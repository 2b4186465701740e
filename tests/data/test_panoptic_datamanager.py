from dataclasses import replace

import torch

from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_format import read_confidence, read_panoptic
from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySamplerConfig


def _datamanager(scene, **kwargs):
    kwargs.setdefault("ray_sampler", SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=8))
    config = PanopticDataManagerConfig(
        dataparser=PanopticDataParserConfig(data=scene), train_num_rays_per_batch=256, **kwargs
    )
    return config.setup(device="cpu", test_mode="val")


def test_train_batch_carries_every_per_ray_target(tiny_scene_master):
    dm = _datamanager(tiny_scene_master)
    rays, batch = dm.next_train(0)
    assert len(rays) == 256 == dm.get_train_rays_per_batch()
    assert set(batch) >= {"image", "semantics", "instance", "confidence", "segment", "indices"}
    assert torch.equal(rays.camera_indices[:, 0], batch["indices"][:, 0])
    assert batch["image"].shape == (256, 3) and batch["image"].dtype == torch.float32
    classes = dm.train_dataset.classes
    thing = torch.from_numpy(classes.thing_mask)
    sem, inst = batch["semantics"], batch["instance"]
    assert ((sem >= -1) & (sem < len(classes))).all()
    assert (inst[sem < 0] == -1).all()  # void rays have no instance
    labelled = sem >= 0
    assert torch.equal(inst[labelled] >= 0, thing[sem[labelled]])  # instances exactly on thing rays
    assert batch["indices"][:, 0].unique().numel() == 2  # a few images x many rays


def test_batch_agrees_with_the_files(tiny_scene_master):
    dm = _datamanager(tiny_scene_master)
    _, batch = dm.next_train(0)
    layers = dm.train_dataset.panoptic.layers
    classes = dm.train_dataset.classes
    for ray in range(0, 256, 37):
        f, y, x = batch["indices"][ray].tolist()
        frame = read_panoptic(layers[f].panoptic)
        sid = int(frame.ids[y, x])
        assert int(dm.train_dataset.store.segment_id[batch["segment"][ray]]) == sid
        expected = -1 if sid == 0 else classes.index_of(frame.segment_table()[sid].category_id)
        assert int(batch["semantics"][ray]) == expected
        conf = read_confidence(layers[f].confidence)[y, x]
        assert abs(float(batch["confidence"][ray]) - conf) < 1e-3


def test_eval_images_come_with_full_image_layers(tiny_scene_master):
    dm = _datamanager(tiny_scene_master)
    camera, batch = dm.next_eval_image(0)
    h, w = int(camera.height), int(camera.width)
    for key in ("semantics", "instance", "confidence", "segment"):
        assert batch[key].shape == (h, w, 1)
    rays, eval_batch = dm.next_eval(0)
    assert len(rays) == dm.get_eval_rays_per_batch()


def test_masks_are_decoded_once(tiny_scene_master, monkeypatch):
    dm = _datamanager(tiny_scene_master)
    import panoptic_nerfstudio.data.frame_decoding as decoding

    def fail(*args, **kwargs):
        raise AssertionError("mask re-read during training")

    monkeypatch.setattr(decoding, "read_panoptic", fail)
    for step in range(5):
        dm.next_train(step)


def test_setup_leaves_the_users_config_alone_and_hands_the_model_explicit_metadata(tiny_scene_master):
    from panoptic_nerfstudio.data.frame_decoding import decode_frame
    from panoptic_nerfstudio.data.panoptic_datamanager import MAX_THINGS_METADATA_KEY
    from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySampler

    config = PanopticDataManagerConfig(dataparser=PanopticDataParserConfig(data=tiny_scene_master), allow_missing_masks=True)
    dm = config.setup(device="cpu", test_mode="val")
    assert config.dataparser.allow_missing_masks is False  # the user's config object is not rewritten
    assert dm.dataparser.config.allow_missing_masks is True  # the parser got the flag through its own copy
    assert isinstance(dm.train_ray_sampler, SegmentRaySampler)  # built by the sampler config's setup()
    dataset = dm.train_dataset
    image = dataset.get_numpy_image(0)
    most = max(
        decode_frame(layers.panoptic, dataset.classes, (image.shape[1], image.shape[0])).num_things
        for layers in dataset.panoptic.layers
    )
    assert dataset.metadata[MAX_THINGS_METADATA_KEY] == most > 0


def test_the_rendered_colours_of_a_batch_reach_the_error_map_of_its_pixels_and_the_checkpoint(tiny_scene_master):
    sampler = SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=8, error_map_candidates=4)
    dm = _datamanager(tiny_scene_master, ray_sampler=sampler)
    _, batch = dm.next_train(0)
    rendered = batch["image"].clone()
    rendered[:10] = 1.0 - rendered[:10]  # ten rays rendered wrong, the rest exactly
    dm.record_train_errors(rendered)
    store, error_map = dm.train_dataset.store, dm.train_ray_sampler.error_map
    f, y, x = batch["indices"].T
    recorded = error_map.error[store.frame_pixel_offset[f] + y * store.widths[f] + x]
    expected = ((rendered - batch["image"]) ** 2).mean(dim=-1)
    assert torch.equal(recorded[10:], expected[10:]) and float(recorded[10:].abs().max()) == 0.0
    assert (recorded[:10] > 0).any()  # (a pixel drawn twice keeps its last ray's error)

    state = dm.get_extra_state()
    fresh = _datamanager(tiny_scene_master, ray_sampler=sampler)
    fresh.set_extra_state(state)  # resuming training: the map continues
    assert torch.equal(fresh.train_ray_sampler.error_map.error, error_map.error)


def test_the_eval_batches_draw_uniformly_without_an_error_map(tiny_scene_master):
    """The eval loss batches record no errors, so a map there would only take 4x the draws from torch's global
    stream, which training's batches share: with the map on, eval batches draw as with it off."""
    sampler = SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=8, error_map_candidates=4)
    dm = _datamanager(tiny_scene_master, ray_sampler=sampler)
    assert dm.train_ray_sampler.error_map is not None and dm.eval_ray_sampler.error_map is None
    uniform = _datamanager(tiny_scene_master, ray_sampler=replace(sampler, error_map_candidates=1))
    drawn = []
    for manager in (dm, uniform):
        torch.manual_seed(3)
        _, batch = manager.next_eval(0)
        drawn.append((batch["indices"], torch.rand(4)))  # the global stream's next numbers after the batch
    assert torch.equal(drawn[0][0], drawn[1][0]) and torch.equal(drawn[0][1], drawn[1][1])
