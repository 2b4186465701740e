import torch

from panoptic_nerfstudio.utils.random_draws import built_with_draws_of


def test_what_follows_draws_as_after_the_reference_and_the_build_starts_where_it_starts():
    torch.manual_seed(3)
    torch.nn.Linear(4, 2)
    after_reference = torch.rand(5)

    torch.manual_seed(3)
    wider = built_with_draws_of(lambda: torch.nn.Linear(4, 16), lambda: torch.nn.Linear(4, 2))
    assert torch.equal(torch.rand(5), after_reference)  # the larger module drew more, yet what follows is as before
    assert wider.weight.shape == (16, 4)

    torch.manual_seed(3)
    assert torch.equal(torch.nn.Linear(4, 16).weight, wider.weight)  # built from the reference's starting state
