import pytest
import torch

from panoptic_nerfstudio.data.pixel_error_map import PixelErrorMap


def test_choice_follows_the_recorded_errors_and_the_floor_mixes_in_uniform_draws():
    errors = PixelErrorMap(10, floor=0.0)
    errors.record(torch.arange(10), torch.tensor([0.0] * 9 + [1.0]))
    candidates = torch.arange(10).expand(2000, 10)
    torch.manual_seed(0)
    assert (errors.choose(candidates, 1) == 9).float().mean() > 0.99  # only pixel 9 has an error
    errors.floor = 10.0  # 10 x the mean error (0.1) on every pixel: pixel 9 weighs 2, the others 1
    share = float((errors.choose(candidates, 1) == 9).float().mean())
    assert 0.12 < share < 0.25  # 2 / 11 = 0.18


def test_the_state_round_trips_and_a_map_of_other_images_is_refused():
    errors = PixelErrorMap(6, floor=1.0)
    errors.record(torch.tensor([1, 4]), torch.tensor([0.5, 0.25]))
    restored = PixelErrorMap(6, floor=1.0)
    restored.load_state(errors.state())
    assert torch.equal(restored.error, errors.error) and restored.mean() == errors.mean()
    assert restored.error.tolist() == [1.0, 0.5, 1.0, 1.0, 0.25, 1.0]  # pixels never drawn count as error 1
    with pytest.raises(ValueError, match="error map has 6 pixels, the training images 5"):
        PixelErrorMap(5, floor=1.0).load_state(errors.state())
