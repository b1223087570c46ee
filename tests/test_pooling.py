import pytest
import torch

from uwe.models.pooling import POOLINGS, cls_pool, mean_pool, resolve_pooling

# Three texts, L = 3, D = 2: two real tokens, three real tokens, none (all padding).
TOKENS = torch.tensor([
    [[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]],
    [[5.0, 6.0], [7.0, 8.0], [9.0, 13.0]],
    [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]],
])
MASK = torch.tensor([[True, True, False], [True, True, True], [False, False, False]])


def test_mean_pool_hand_values():
    # row 0: ([1,2] + [3,4]) / 2 = [2,3] (the padding [100,100] is ignored)
    # row 1: ([5,6] + [7,8] + [9,13]) / 3 = [7,9]; row 2: no real token -> zeros, not NaN
    expected = torch.tensor([[2.0, 3.0], [7.0, 9.0], [0.0, 0.0]])
    assert torch.equal(mean_pool(TOKENS, MASK), expected)


def test_mean_pool_ignores_padding_gradient():
    tokens = TOKENS.clone().requires_grad_()
    mean_pool(tokens, MASK).sum().backward()
    # d mean / d token = 1/n_real for real tokens, 0 for padding
    assert torch.allclose(tokens.grad[0, :, 0], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.allclose(tokens.grad[1, :, 0], torch.full((3,), 1 / 3))
    assert torch.equal(tokens.grad[2], torch.zeros(3, 2))


def test_cls_pool_first_real_token():
    expected = torch.tensor([[1.0, 2.0], [5.0, 6.0], [0.0, 0.0]])
    assert torch.equal(cls_pool(TOKENS, MASK), expected)


def test_cls_pool_left_padding():
    mask = torch.tensor([[False, True, True]])
    assert torch.equal(cls_pool(TOKENS[:1], mask), torch.tensor([[3.0, 4.0]]))


def test_registry_and_config_names():
    assert POOLINGS == {"mean": mean_pool, "cls": cls_pool}
    assert resolve_pooling("mean") == ("mean", False)
    assert resolve_pooling("cls") == ("cls", False)
    assert resolve_pooling("tokens") == ("mean", True)
    with pytest.raises(ValueError, match="valid: cls, mean, tokens"):
        resolve_pooling("max")
