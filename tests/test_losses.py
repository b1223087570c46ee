"""Losses: hand-computed values on toy batches, reductions between the losses, options, gradients."""

from __future__ import annotations

import doctest
import importlib
import math
from math import exp, log

import pytest
import torch

from uwe.models.losses import (
    LOSSES,
    InfoNCELoss,
    M2MInfoNCELoss,
    SymInfoNCELoss,
    build_loss,
    infonce,
    m2m_infonce,
    m2m_infonce_directions,
    sym_infonce,
)

# 2 queries x 3 targets, tau = 0.5. q0 is linked to y0 and y1, q1 to y1; y2 is linked to nothing.
SCORES = torch.tensor([[2.0, 1.0, 0.0], [0.5, 1.0, -1.0]])
POS = torch.tensor([[True, True, False], [False, True, False]])
TAU = 0.5


def test_m2m_infonce_hand_computed():
    """logits = scores / 0.5 = [[4, 2, 0], [1, 2, -2]].

    L_{Y|Q}: q0 has positives y0, y1 over Z0 = e^4 + e^2 + e^0; q1 has y1 over Z1 = e^1 + e^2 + e^-2.
    L_{Q|Y}: y0 has q0 over e^4 + e^1; y1 has q0 and q1 over e^2 + e^2; y2 has no positive and is skipped.
    """
    z0, z1 = exp(4) + exp(2) + 1, exp(1) + exp(2) + exp(-2)
    y_given_q = -((log(exp(4) / z0) + log(exp(2) / z0)) / 2 + log(exp(2) / z1)) / 2
    q_given_y = -(log(exp(4) / (exp(4) + exp(1))) + (2 * log(exp(2) / (2 * exp(2)))) / 2) / 2
    parts = m2m_infonce_directions(SCORES, POS, TAU)
    torch.testing.assert_close(torch.stack(parts), torch.tensor([y_given_q, q_given_y]))
    torch.testing.assert_close(m2m_infonce(SCORES, POS, TAU), torch.tensor(y_given_q + q_given_y))


def test_m2m_infonce_mask_other_positives_hand_computed():
    """The other positives leave the denominator, the positive itself stays.

    q0: y0 over e^4 + e^0 (y1 removed), y1 over e^2 + e^0 (y0 removed); q1: one positive, as before.
    y0: one positive, as before; y1: q0 over e^2 alone (q1 removed), q1 likewise -> log 1 = 0.
    """
    z1 = exp(1) + exp(2) + exp(-2)
    y_given_q = -((log(exp(4) / (exp(4) + 1)) + log(exp(2) / (exp(2) + 1))) / 2 + log(exp(2) / z1)) / 2
    q_given_y = -(log(exp(4) / (exp(4) + exp(1))) + 0.0) / 2
    masked = m2m_infonce(SCORES, POS, TAU, denominator="mask_other_positives")
    torch.testing.assert_close(masked, torch.tensor(y_given_q + q_given_y))
    assert masked < m2m_infonce(SCORES, POS, TAU)


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (6, 4)])
def test_m2m_with_one_positive_per_query_is_sym_infonce(shape):
    scores = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pos = torch.eye(*shape, dtype=torch.bool)  # the diagonal convention: sampled pairs (q_i, y_i)
    n = min(shape)
    expected = infonce(scores[:n], torch.arange(n), 0.1) + infonce(scores.T[:n], torch.arange(n), 0.1)
    for denominator in ("all", "mask_other_positives"):
        torch.testing.assert_close(M2MInfoNCELoss(denominator)(scores, pos, 0.1), expected)
    torch.testing.assert_close(SymInfoNCELoss()(scores, pos, 0.1), expected)
    torch.testing.assert_close(sym_infonce(scores, torch.stack([torch.arange(n)] * 2, 1), 0.1), expected)


def test_rows_without_positives_are_skipped():
    scores = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    pos = torch.tensor([[True, False, True, False], [False, True, False, False], [False, False, False, False]])
    y_given_q, _ = m2m_infonce_directions(scores, pos, 0.2)
    torch.testing.assert_close(y_given_q, m2m_infonce_directions(scores[:2], pos[:2], 0.2)[0])
    # Column 3 has no positive: L_{Q|Y} averages over columns 0-2 only.
    _, q_given_y = m2m_infonce_directions(scores, pos, 0.2)
    torch.testing.assert_close(q_given_y, m2m_infonce_directions(scores[:, :3], pos[:, :3], 0.2)[1])
    empty = torch.zeros(3, 4, dtype=torch.bool)
    assert m2m_infonce(scores, empty, 0.2) == 0


@pytest.mark.parametrize("denominator", ["all", "mask_other_positives"])
def test_m2m_infonce_gradcheck(denominator):
    # Several positives per row, a row with none, a row where every target is positive, a learnable tau.
    scores = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64).requires_grad_()
    pos = torch.tensor([[True, True, False], [False, False, False], [True, True, True], [False, True, False]])
    tau = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, t: m2m_infonce(s, pos, t, denominator), (scores, tau))


def test_infonce_hand_computed_and_in_batch_negatives():
    # Rows as anchors, sampled positives y0 for q0 and y1 for q1, tau = 0.5 -> logits [[4, 2, 0], [1, 2, -2]].
    expected = -(log(exp(4) / (exp(4) + exp(2) + 1)) + log(exp(2) / (exp(1) + exp(2) + exp(-2)))) / 2
    torch.testing.assert_close(infonce(SCORES, torch.tensor([0, 1]), TAU), torch.tensor(expected))
    # The module takes the diagonal as sampled pairs; q0's other positive y1 stays a negative.
    torch.testing.assert_close(InfoNCELoss()(SCORES, POS, TAU), torch.tensor(expected))


def test_sampled_pairs_can_be_given_and_are_checked():
    pairs = torch.tensor([[0, 1], [1, 1]])
    expected = -(log(exp(2) / (exp(4) + exp(2) + 1)) + log(exp(2) / (exp(1) + exp(2) + exp(-2)))) / 2
    torch.testing.assert_close(InfoNCELoss()(SCORES, POS, TAU, pairs), torch.tensor(expected))
    # Reverse direction: y1 is the anchor twice, its queries have logits (2, 2): -log(1/2) each.
    torch.testing.assert_close(SymInfoNCELoss()(SCORES, POS, TAU, pairs), torch.tensor(expected + math.log(2)))
    with pytest.raises(ValueError, match="not positives in pos_mask"):
        InfoNCELoss()(SCORES, POS, TAU, torch.tensor([[1, 0]]))
    with pytest.raises(ValueError, match=r"pairs must be \[P, 2\]"):
        SymInfoNCELoss()(SCORES, POS, TAU, torch.tensor([0, 1]))


def test_large_scores_are_stable():
    scores = torch.tensor([[1.0, 0.9], [0.8, 1.0]]) * 1e3
    pos = torch.eye(2, dtype=torch.bool)
    for name, cls in LOSSES.items():
        if getattr(cls, "triples", False):  # a preference loss: (chosen, rejected) scores, not a matrix
            assert torch.isfinite(build_loss(name, temperature=0.01)(scores, scores.flip(1)))
        else:
            assert torch.isfinite(build_loss(name)(scores, pos, 0.01))


def test_build_loss_and_errors():
    assert isinstance(build_loss("m2m_infonce", denominator="mask_other_positives"), M2MInfoNCELoss)
    assert build_loss("m2m_infonce").denominator == "all"
    with pytest.raises(ValueError, match="unknown loss 'supcon'; valid: infonce, m2m_infonce, rankpo, sym_infonce"):
        build_loss("supcon")
    with pytest.raises(ValueError, match="unknown denominator 'none'; valid: all, mask_other_positives"):
        M2MInfoNCELoss("none")
    with pytest.raises(ValueError, match="pos_mask must be bool"):
        m2m_infonce(SCORES, POS.float(), TAU)


@pytest.mark.parametrize("module", ["infonce", "sym_infonce", "m2m_infonce"])
def test_docstring_examples(module):
    # The package exports functions of the same names as these files, so import the files by path.
    result = doctest.testmod(importlib.import_module(f"uwe.models.losses.{module}"))
    assert result.attempted > 0 and result.failed == 0
