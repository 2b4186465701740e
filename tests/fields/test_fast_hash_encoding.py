import copy

import torch

from nerfstudio.field_components.encodings import HashEncoding

from panoptic_nerfstudio.fields.fast_hash_encoding import FastTorchHashEncoding, accelerate_torch_hash_encodings


def test_fast_encoding_matches_nerfstudio_values_and_gradients():
    torch.manual_seed(0)
    reference = HashEncoding(num_levels=6, min_res=4, max_res=300, log2_hashmap_size=10, implementation="torch")
    reference.hash_table.data.normal_()
    fast = copy.deepcopy(reference)
    assert accelerate_torch_hash_encodings(fast) == 1 and isinstance(fast, FastTorchHashEncoding)
    x = torch.rand(257, 3)
    x[:5] = torch.tensor([0.0, 0.5, 1.0])  # exact grid points (ceil == floor)
    ref_out, fast_out = reference(x), fast(x)
    assert torch.allclose(ref_out, fast_out, atol=1e-6)
    weights = torch.randn_like(ref_out)
    (ref_out * weights).sum().backward()
    (fast_out * weights).sum().backward()
    assert torch.allclose(reference.hash_table.grad, fast.hash_table.grad, atol=1e-5)
    assert reference.state_dict().keys() == fast.state_dict().keys()
