"""``--pipeline.datamanager.cache-images disk``: the ray store's pixels in memory-mapped files that leave nothing
behind, giving exactly the batches the in-memory store gives."""

import mmap
from pathlib import Path

import numpy as np
import pytest
import torch

from panoptic_nerfstudio.data import pixel_storage
from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.pixel_storage import PixelAllocator


def _owner(array):
    """What ultimately holds an array's memory (an mmap for the disk cache)."""
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array.obj if isinstance(array, memoryview) else array


def test_disk_arrays_are_mapped_files_already_unlinked(tmp_path):
    allocator = PixelAllocator("disk", tmp_path / "cache")
    array = allocator.empty((1000, 3), np.uint8)
    assert isinstance(_owner(array), mmap.mmap) and array.shape == (1000, 3)
    array[:] = np.arange(3000).reshape(1000, 3) % 251
    tensor = torch.from_numpy(array)  # the store's tensors share the mapping
    allocator.release_pages()  # written back and dropped from the process: still readable
    assert int(tensor[999, 2]) == 2999 % 251 and int(array.sum()) == int((np.arange(3000) % 251).sum())
    assert list((tmp_path / "cache").iterdir()) == []  # nothing left in the folder, even before the process ends
    assert not isinstance(_owner(PixelAllocator("cpu").empty((4,), np.int16)), mmap.mmap)
    with pytest.raises(ValueError, match="cpu' or 'disk"):
        PixelAllocator("gpu")


def _datamanager(scene, **kwargs):
    parser = PanopticDataParserConfig(data=scene)
    config = PanopticDataManagerConfig(dataparser=parser, train_num_rays_per_batch=256, **kwargs)
    return config.setup(device="cpu", test_mode="val")


def test_disk_store_trains_on_exactly_the_in_memory_batches(tiny_scene_master, tmp_path):
    memory = _datamanager(tiny_scene_master)
    disk = _datamanager(tiny_scene_master, cache_images="disk", cache_dir=tmp_path)
    for split in ("train_dataset", "eval_dataset"):
        a, b = getattr(memory, split).store, getattr(disk, split).store
        assert b.nbytes() == a.nbytes()
        for name, value in a.__dict__.items():
            assert torch.equal(value, getattr(b, name)), f"{split}.{name}"
    assert isinstance(disk.train_dataset.pixel_allocator, PixelAllocator)
    assert disk.train_dataset.pixel_allocator.cache == "disk"
    assert list(tmp_path.iterdir()) == []
    if Path("/proc/self/maps").exists():  # the per-pixel arrays of both splits: mappings of unlinked files
        maps = Path("/proc/self/maps").read_text().splitlines()
        assert sum(str(tmp_path) in line and "panoptic-rays-" in line for line in maps) >= 8
    for step in range(3):
        torch.manual_seed(step)
        _, expected = memory.next_train(step)
        torch.manual_seed(step)
        _, batch = disk.next_train(step)
        for key, value in expected.items():
            assert torch.equal(value, batch[key]), key
    # full-image evaluation targets come from the store too
    for key, value in memory.eval_dataset.get_metadata({"image_idx": 0}).items():
        assert torch.equal(value, disk.eval_dataset.get_metadata({"image_idx": 0})[key]), key


def test_a_cache_dir_in_memory_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pixel_storage, "_filesystem_type", lambda directory: "tmpfs")
    monkeypatch.setattr(pixel_storage, "_WARNED_TMPFS", set())
    allocator = PixelAllocator("disk", tmp_path)
    allocator.empty((10,), np.int16)
    allocator.empty((10,), np.int16)
    out = capsys.readouterr().out
    assert out.count("tmpfs") == 1 and "--pipeline.datamanager.cache-dir" in out


def test_filesystem_type_of_a_folder():
    if not Path("/proc/mounts").exists():
        pytest.skip("no /proc/mounts")
    assert pixel_storage._filesystem_type(Path("/proc")) == "proc"
