import copy

import torch

from nerfstudio.field_components.encodings import HashEncoding

from panoptic_nerfstudio.fields.fast_hash_encoding import (
    FastTorchHashEncoding,
    _gather,
    accelerate_torch_hash_encodings,
)


def test_fast_encoding_matches_nerfstudio_values_and_gradients():
    torch.manual_seed(0)
    reference = HashEncoding(num_levels=6, min_res=4, max_res=300, log2_hashmap_size=10, implementation="torch")
    reference.hash_table.data.normal_()
    fast = copy.deepcopy(reference)
    assert accelerate_torch_hash_encodings(fast) == 1 and isinstance(fast, FastTorchHashEncoding)
    x = torch.rand(257, 3)
    x[:5] = torch.tensor([0.0, 0.5, 1.0])  # exact grid points (ceil == floor)
    x[5:9] = torch.tensor([-0.3, 0.2, -1.7])  # outside the grid: negative hashes, masked as torch's % wraps them
    x_ref, x_fast = x.clone().requires_grad_(), x.clone().requires_grad_()  # (positions train with a camera optimizer)
    ref_out, fast_out = reference(x_ref), fast(x_fast)
    assert torch.equal(ref_out, fast_out)
    weights = torch.randn_like(ref_out)
    (ref_out * weights).sum().backward()
    (fast_out * weights).sum().backward()
    assert torch.equal(x_ref.grad, x_fast.grad)
    # nerfstudio's gather accumulates the table's gradient in no fixed order, so only up to rounding there.
    assert torch.allclose(reference.hash_table.grad, fast.hash_table.grad, atol=1e-5)
    assert reference.state_dict().keys() == fast.state_dict().keys()


def test_pair_gather_equals_index_select_bit_for_bit():
    """The complex-view gather keeps index_select's values and gradients exactly, also with many repeated rows."""
    torch.manual_seed(0)
    for rows, count in ((4096, 50_000), (7, 20_000)):
        table = torch.randn(rows, 2, requires_grad=True)
        index = torch.randint(0, rows, (count, 8))
        upstream = torch.randn(count, 8, 2)
        expected = table.index_select(0, index.reshape(-1)).reshape(count, 8, 2)
        (expected_grad,) = torch.autograd.grad(expected, table, upstream)
        gathered = _gather(table, index)
        (grad,) = torch.autograd.grad(gathered, table, upstream)
        assert torch.equal(gathered, expected) and torch.equal(grad, expected_grad)


def test_gather_of_other_tables_keeps_index_select():
    """Tables the complex view does not fit (3 features, float64) are gathered by index_select as before."""
    index = torch.tensor([[2, 0], [2, 1]])
    for table in (torch.arange(12.0).reshape(4, 3), torch.arange(8, dtype=torch.float64).reshape(4, 2)):
        table.requires_grad_()
        gathered = _gather(table, index)
        assert torch.equal(gathered, table.detach()[index])
        gathered.sum().backward()
        assert torch.equal(table.grad[:, 0], torch.tensor([1.0, 1.0, 2.0, 0.0], dtype=table.dtype))
