"""The contrastive head: unit embeddings, the distribution over cluster centres, and centres in checkpoints."""

import pytest
import torch
import torch.nn.functional as F

from panoptic_nerfstudio.fields.instance_embedding import ContrastiveHeadConfig, ContrastiveHeads, render_embedding
from panoptic_nerfstudio.fields.panoptic_heads import PanopticHeadsConfig

AABB = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])


def _heads(dim=6, temperature=0.1):
    config = PanopticHeadsConfig(num_levels=4, max_res=64, log2_hashmap_size=12, hidden_dim=16)
    return ContrastiveHeads(config, ContrastiveHeadConfig(dim=dim, temperature=temperature), AABB, 3, None)


def test_embeddings_are_unit_vectors_and_the_slot_mlp_is_gone():
    heads = _heads()
    semantic, embedding = heads.semantic_and_embedding(torch.rand(5, 4, 3) * 2 - 1)
    assert semantic.shape == (5, 4, 3) and embedding.shape == (5, 4, 6)
    assert torch.allclose(embedding.norm(dim=-1), torch.ones(5, 4), atol=1e-5)
    assert not hasattr(heads, "instance")
    assert heads.embedding_encoding is not heads.encoding


def test_before_clustering_one_instance_then_one_column_per_centre():
    heads = _heads()
    positions = torch.rand(7, 4, 3) * 2 - 1
    _, logits = heads(positions)
    assert logits.shape == (7, 4, 1) and heads.num_instances == 1
    heads.set_centres(F.normalize(torch.randn(40, 6), dim=-1))
    _, logits = heads(positions)
    assert logits.shape == (7, 4, 40) and heads.num_instances == 40


def test_the_distribution_prefers_the_nearest_centre():
    heads = _heads(dim=2, temperature=0.5)
    heads.set_centres(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    probs = heads.centre_distribution(torch.tensor([[0.9, 0.1], [0.0, 0.8], [-0.7, -0.3]]))
    assert probs.argmax(dim=-1).tolist() == [0, 1, 2]
    assert torch.allclose(probs.sum(dim=-1), torch.ones(3))
    # softmax of -|e - c|^2 / T, by hand for the first row
    squared = torch.tensor([0.01 + 0.01, 0.81 + 0.81, 3.61 + 0.01])
    assert torch.allclose(probs[0], torch.softmax(-squared / 0.5, dim=0), atol=1e-6)


def test_rendering_is_the_weighted_mean():
    embedding = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    weights = torch.tensor([[[0.3], [0.1]]])
    assert torch.allclose(render_embedding(embedding, weights), torch.tensor([[0.75, 0.25]]), atol=1e-5)


def test_centres_of_any_number_survive_a_checkpoint():
    heads = _heads()
    centres = F.normalize(torch.randn(57, 6), dim=-1)
    heads.set_centres(centres)
    state = heads.state_dict()
    fresh = _heads()
    assert fresh.centres.shape == (0, 6)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.centres, centres)
    positions = torch.rand(3, 4, 3) * 2 - 1
    assert torch.equal(fresh(positions)[1], heads(positions)[1])


@pytest.mark.parametrize("dim", [3, 16])
def test_gradients_reach_the_embedding_grid_only_through_the_embedding(dim):
    heads = _heads(dim=dim)
    _, embedding = heads.semantic_and_embedding(torch.rand(4, 2, 3) * 2 - 1)
    embedding.sum().backward()
    assert heads.embedding_encoding.hash_table.grad is not None
    assert heads.encoding.hash_table.grad is None


def test_every_field_of_the_contrastive_config_is_documented():
    from tests.architecture.test_config_docstrings import _undocumented

    assert _undocumented(ContrastiveHeadConfig) == []


def test_the_class_head_may_read_the_backbone_and_the_embedding_never_does():
    config = PanopticHeadsConfig(num_levels=4, max_res=64, log2_hashmap_size=12, hidden_dim=16)
    config.semantic_reads_backbone = True
    heads = ContrastiveHeads(config, ContrastiveHeadConfig(dim=4), AABB, 3, None, backbone_dim=5)
    positions, backbone = torch.rand(5, 4, 3) * 2 - 1, torch.randn(5, 4, 5)
    semantic, embedding = heads.semantic_and_embedding(positions, backbone)
    other_semantic, other_embedding = heads.semantic_and_embedding(positions, backbone * 3)
    assert not torch.allclose(semantic, other_semantic) and torch.equal(embedding, other_embedding)
