from dataclasses import replace

import numpy as np
import pytest
import torch

from panoptic_nerfstudio.data.frame_decoding import IGNORE, DecodedFrame
from panoptic_nerfstudio.data.ray_store import build_ray_store
from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySampler, SegmentRaySamplerConfig


def _frame(index: np.ndarray, classes, instances, conf_scale: float) -> DecodedFrame:
    n = len(classes)
    return DecodedFrame(
        segment_index=index.astype(np.int16),
        segment_ids=np.arange(n, dtype=np.int64) * 10,
        classes=np.array(classes, dtype=np.int16),
        instances=np.array(instances, dtype=np.int16),
        scores=np.ones(n, dtype=np.float32),
        confidence=(np.indices(index.shape).sum(0) * conf_scale / index.size).astype(np.float16),
    )


def _store():
    a = np.zeros((6, 8), int)
    a[:, 4:] = 1  # stuff
    a[1:3, 1:3] = 2  # thing 0
    a[4, 6] = 3  # one-pixel thing 1
    a[5, 0] = 0  # void pixel
    b = np.ones((5, 7), int)
    b[2:, :3] = 2
    frames = [
        _frame(a, [IGNORE, 0, 2, 2], [IGNORE, IGNORE, 0, 1], 1.0),
        _frame(b, [IGNORE, 1, 3], [IGNORE, IGNORE, 0], 0.5),
    ]
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (*f.segment_index.shape, 3), dtype=np.uint8) for f in frames]
    return build_ray_store(images, frames), frames, images


def test_batch_targets_match_the_decoded_frames():
    store, frames, images = _store()
    sampler = SegmentRaySampler(SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=4), store)
    torch.manual_seed(0)
    indices, batch = sampler.sample(64)
    assert indices.shape == (64, 3) and sampler.rays_per_batch(64) == 64
    for ray, (f, y, x) in enumerate(indices.tolist()):
        frame = frames[f]
        local = frame.segment_index[y, x]
        assert batch["semantics"][ray] == frame.classes[local]
        assert batch["instance"][ray] == frame.instances[local]
        assert torch.allclose(batch["image"][ray], torch.from_numpy(images[f][y, x]).float() / 255)
        assert abs(float(batch["confidence"][ray]) - float(frame.confidence[y, x])) < 1e-6
        assert int(store.segment_id[batch["segment"][ray]]) == frame.segment_ids[local]


def test_rays_come_in_groups_of_one_segment_and_images_are_grouped():
    store, _, _ = _store()
    sampler = SegmentRaySampler(SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=8), store)
    indices, batch = sampler.sample(160)
    groups = batch["segment"].reshape(2, -1, 8)
    assert (groups == groups[..., :1]).all()  # each group of 8 rays shares one 2D segment
    frames = indices[:, 0].reshape(2, -1)
    assert (frames == frames[:, :1]).all() and frames[0, 0] != frames[1, 0]


def test_area_sampling_is_uniform_over_pixels_and_uniform_mode_favours_small_segments():
    store, _, _ = _store()
    torch.manual_seed(1)
    area_only = SegmentRaySampler(
        SegmentRaySamplerConfig(
            images_per_batch=2, rays_per_segment=4, uniform_segment_fraction=0.0, max_cover_share=0.0
        ),
        store,
    )
    counts = torch.zeros(store.num_pixels)
    for _ in range(300):
        idx, _ = area_only.sample(256)
        flat = store.frame_pixel_offset[idx[:, 0]] + idx[:, 1] * store.widths[idx[:, 0]] + idx[:, 2]
        counts += torch.bincount(flat, minlength=store.num_pixels)
    per_frame = [counts[: 48], counts[48:]]
    for c in per_frame:  # every pixel of a frame is drawn about equally often
        assert c.min() > 0.6 * c.mean() and c.max() < 1.4 * c.mean()

    mixed = SegmentRaySampler(
        SegmentRaySamplerConfig(
            images_per_batch=2, rays_per_segment=4, uniform_segment_fraction=0.5, max_cover_share=0.0
        ),
        store,
    )
    one_pixel_thing = int(store.frame_segment_offset[0]) + 3
    hits = sum(int((mixed.sample(256)[1]["segment"] == one_pixel_thing).sum()) for _ in range(50))
    hits_area = sum(int((area_only.sample(256)[1]["segment"] == one_pixel_thing).sum()) for _ in range(50))
    assert hits > 5 * max(hits_area, 1)


def test_every_thing_segment_of_a_drawn_image_is_in_the_batch():
    """The per-image assignment must see all instances of the image together, however small."""
    store, frames, _ = _store()
    for share in (0.5, 0.0):
        sampler = SegmentRaySampler(
            SegmentRaySamplerConfig(
                images_per_batch=1, rays_per_segment=4, uniform_segment_fraction=0.0, max_cover_share=share
            ),
            store,
        )
        torch.manual_seed(0)
        complete = 0
        for _ in range(40):
            indices, batch = sampler.sample(12)  # 3 groups for frame 0's two things, frame 1's one
            frame = int(indices[0, 0])
            things = {int(store.frame_segment_offset[frame]) + s for s, i in enumerate(frames[frame].instances) if i >= 0}
            complete += things <= set(batch["segment"].tolist())
        assert (complete == 40) == (share > 0)  # without covering, the one-pixel thing is almost never drawn


def test_covering_draws_a_random_subset_when_an_image_has_more_things_than_groups():
    store, _, _ = _store()
    sampler = SegmentRaySampler(SegmentRaySamplerConfig(images_per_batch=1, rays_per_segment=4), store)
    torch.manual_seed(0)
    seen = set()
    for _ in range(40):
        indices, batch = sampler.sample(4)  # one group only
        if int(indices[0, 0]) == 0:
            assert (batch["instance"] >= 0).all()  # the only group goes to one of frame 0's things
            seen.add(int(batch["segment"][0]))
    assert len(seen) == 2


def _things_frame(things: int, side: int = 24) -> DecodedFrame:
    """A ``side`` x ``side`` frame of stuff with ``things`` 2 x 2 things along its diagonal."""
    index = np.ones((side, side), int)
    for n in range(things):
        index[2 * n : 2 * n + 2, 2 * n : 2 * n + 2] = n + 2
    return _frame(index, [IGNORE, 0] + [2] * things, [IGNORE, IGNORE] + list(range(things)), 1.0)


def test_an_image_with_more_things_than_groups_still_gives_the_stuff_around_them_rays():
    """Covering every thing of a busy frame would leave no group for its walls and floor (nor their colour)."""
    store = build_ray_store([np.zeros((20, 20, 3), np.uint8)], [_things_frame(10, side=20)])  # stuff: 90%
    stuff_share = {}
    for share in (0.5, 1.0):
        config = SegmentRaySamplerConfig(
            images_per_batch=1, rays_per_segment=4, uniform_segment_fraction=0.0, max_cover_share=share,
            busy_cover_share=share,
        )
        sampler = SegmentRaySampler(config, store)
        torch.manual_seed(0)
        stuff = 0
        for _ in range(50):
            _, batch = sampler.sample(32)  # 8 groups, fewer than the frame's 10 things
            groups = batch["segment"].reshape(8, 4)[:, 0]
            covered = groups[: int(share * 8)]
            assert len(set(covered.tolist())) == len(covered)  # the covered groups: distinct things
            assert (batch["instance"].reshape(8, 4)[: int(share * 8)] >= 0).all()
            stuff += int((batch["semantics"] == 0).sum())
        stuff_share[share] = stuff / (50 * 32)
    assert stuff_share[1.0] == 0.0  # every group a thing: the stuff never drawn
    assert 0.35 < stuff_share[0.5] < 0.55  # half the groups by area: about 0.5 x 90%


def test_a_busy_frame_covers_only_the_busy_share_of_its_groups_and_a_quiet_frame_is_drawn_as_before():
    """A frame with more things than half the groups (here 10 things, 16 groups, so 8 at most) gives its things a
    quarter of the groups and the stuff around them the rest; a frame with fewer things is drawn exactly as with one
    share for every frame."""
    busy_store = build_ray_store([np.zeros((24, 24, 3), np.uint8)], [_things_frame(10)])
    quiet_store = build_ray_store([np.zeros((24, 24, 3), np.uint8)], [_things_frame(6)])

    def draw(store, busy_share: float, draws: int = 30):
        config = SegmentRaySamplerConfig(images_per_batch=1, rays_per_segment=4, uniform_segment_fraction=0.0,
                                         max_cover_share=0.5, busy_cover_share=busy_share)  # fmt: skip
        sampler = SegmentRaySampler(config, store)
        torch.manual_seed(0)
        return [sampler.sample(64)[1] for _ in range(draws)]  # 16 groups of 4 rays

    for batch in draw(busy_store, 0.25):
        instances = batch["instance"].reshape(16, 4)
        assert (instances[:4] >= 0).all() and len(set(batch["segment"].reshape(16, 4)[:4, 0].tolist())) == 4
    stuff = {share: sum(int((b["semantics"] == 0).sum()) for b in draw(busy_store, share)) for share in (0.25, 0.5)}
    assert stuff[0.25] > 1.3 * stuff[0.5]  # 12 groups drawn by area (about 90% stuff) instead of 8
    quiet = [draw(quiet_store, share) for share in (0.25, 0.5)]
    for a, b in zip(*quiet):
        assert torch.equal(a["indices"], b["indices"])
        assert set(range(6)) <= set(a["instance"].tolist())  # every thing of the quiet frame covered


def test_store_is_compact():
    store, _, _ = _store()
    assert store.rgb.dtype == torch.uint8 and store.pixel_segment.dtype == torch.int16
    assert store.confidence.dtype == torch.float16 and store.sorted_pixels.dtype == torch.int32
    per_pixel = sum(t.element_size() * (t.shape[1] if t.dim() > 1 else 1) for t in (store.rgb, store.pixel_segment, store.confidence, store.sorted_pixels))
    assert per_pixel == 11


def test_a_rank_draws_only_from_its_own_frames():
    """Several training processes: each sampler is given its share of the frames and never leaves it."""
    store, _, _ = _store()
    config = SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=4)
    whole = SegmentRaySampler(config, store)
    torch.manual_seed(0)
    for frame in (0, 1):
        sampler = SegmentRaySampler(config, store, frames=torch.tensor([frame]))
        assert sampler.rays_per_batch(64) == 64  # one image of 16 groups instead of two of 8
        for _ in range(5):
            indices, _ = sampler.sample(64)
            assert set(indices[:, 0].tolist()) == {frame}
    # without a share the draws are exactly the single-process ones (same stream, same batches)
    torch.manual_seed(3)
    a, _ = whole.sample(64)
    torch.manual_seed(3)
    b, _ = SegmentRaySampler(config, store, frames=None).sample(64)
    assert torch.equal(a, b)


def _flat(store, indices):
    return store.frame_pixel_offset[indices[:, 0]] + indices[:, 1] * store.widths[indices[:, 0]] + indices[:, 2]


def test_the_error_map_draws_a_segments_worst_pixels_more_often_and_keeps_the_groups():
    store, _, _ = _store()
    config = SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=4, max_cover_share=0.0)
    assert SegmentRaySampler(config, store).error_map is None  # the default: uniform inside the segment
    sampler = SegmentRaySampler(replace(config, error_map_candidates=4, error_map_floor=0.0), store)
    hot = int(store.frame_pixel_offset[0]) + 5  # frame 0, row 0, column 5: one of the stuff segment's 24 pixels
    torch.manual_seed(0)
    hits = stuff_rays = 0
    for _ in range(200):
        indices, batch = sampler.sample(64)
        groups = batch["segment"].reshape(2, -1, 4)
        assert (groups == groups[..., :1]).all()  # every group still lies in one segment
        flat = _flat(store, indices)
        assert torch.equal(sampler.last_pixels, flat)
        stuff_rays += int((batch["segment"] == int(store.frame_segment_offset[0]) + 1).sum())
        hits += int((flat == hot).sum())
        errors = torch.full((len(flat),), 1e-4)
        errors[flat == hot] = 1.0  # the field keeps rendering that pixel badly, every other one well
        sampler.record_errors(errors)
    # uniform in the segment: 1 ray in 24; the map can raise that at most to the 4 candidates' 4 in 24
    assert hits > 3 * stuff_rays / 24
    assert float(sampler.error_map.error[hot]) == 1.0 and 1e-4 < sampler.error_map.mean() < 0.1


def test_the_error_map_puts_never_drawn_pixels_first():
    store, _, _ = _store()
    config = SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=4, max_cover_share=0.0)
    sampler = SegmentRaySampler(replace(config, error_map_candidates=8), store)
    torch.manual_seed(0)
    seen = torch.zeros(store.num_pixels, dtype=torch.bool)
    uniform = SegmentRaySampler(config, store)
    seen_uniform = torch.zeros(store.num_pixels, dtype=torch.bool)
    for _ in range(4):
        indices, _ = sampler.sample(64)
        seen[_flat(store, indices)] = True
        sampler.record_errors(torch.full((len(indices),), 1e-3))  # rendered well once drawn
        seen_uniform[_flat(store, uniform.sample(64)[0])] = True
    assert int(seen.sum()) > int(seen_uniform.sum())


def test_the_error_map_settings_are_checked():
    store, _, _ = _store()
    for bad in ({"error_map_candidates": 0}, {"error_map_floor": -1.0}):
        with pytest.raises(ValueError, match="error_map"):
            SegmentRaySampler(SegmentRaySamplerConfig(**bad), store)


def test_the_error_map_can_leave_the_rays_of_things_uniform():
    store, _, _ = _store()
    config = SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=4, max_cover_share=0.0)
    thing = int(store.frame_segment_offset[0]) + 2  # frame 0's 2 x 2 thing
    hot = int(store.frame_pixel_offset[0]) + 1 * 8 + 1  # one of its four pixels
    for stuff_only, low, high in ((False, 0.4, 1.0), (True, 0.15, 0.35)):
        sampler = SegmentRaySampler(replace(config, error_map_candidates=4, error_map_stuff_only=stuff_only), store)
        sampler.error_map.error[:] = 1e-4
        sampler.error_map.error[hot] = 1.0
        sampler.error_map.floor = 0.0
        torch.manual_seed(0)
        hits = thing_rays = 0
        for _ in range(300):
            indices, batch = sampler.sample(64)
            in_thing = batch["segment"] == thing
            thing_rays += int(in_thing.sum())
            hits += int((_flat(store, indices)[in_thing] == hot).sum())
        assert low < hits / thing_rays < high, (stuff_only, hits / thing_rays)  # uniform: 1 in 4
