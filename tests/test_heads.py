"""Scoring heads: hand-computed scores on a toy, masks, chunked == all-pairs, tau_a -> 0, gradients."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from uwe.models.embeddings import Embeddings
from uwe.models.heads import (
    HEADS,
    CosineHead,
    MaxSimHead,
    SoftLateInteractionHead,
    SoftLateInteractionPooledHead,
    build_head,
    cosine,
    maxsim,
    maxsim_scores,
    soft_li,
    soft_li_pooled,
    soft_li_scores,
)

R2, R125, E = math.sqrt(2), math.sqrt(1.25), math.e


def toy(pad: float = 1e30) -> tuple[Embeddings, Embeddings]:
    """2 queries x 2 targets in D = 2; ``pad`` fills the padding tokens.

    q0 = [(1, 0), (0, 1)]        q1 = [(2, 0), PAD]        pooled: q0 (0.5, 0.5), q1 (2, 0)
    y0 = [(1, 0), (1, 1)]        y1 = [(0, 3), PAD]        pooled: y0 (1, 0.5),   y1 (0, 3)

    Token cosines (rows: query tokens, columns: target tokens):
        q0 (1,0): y0 -> 1, 1/sqrt2;  y1 -> 0        q0 (0,1): y0 -> 0, 1/sqrt2;  y1 -> 1
        q1 (2,0): y0 -> 1, 1/sqrt2;  y1 -> 0
    """
    q_tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [pad, pad]]])
    t_tokens = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[0.0, 3.0], [pad, -pad]]])
    mask = torch.tensor([[True, True], [True, False]])
    q = Embeddings(torch.tensor([[0.5, 0.5], [2.0, 0.0]]), q_tokens, mask)
    t = Embeddings(torch.tensor([[1.0, 0.5], [0.0, 3.0]]), t_tokens, mask.clone())
    return q, t


def expected_cosine() -> list[list[float]]:
    # cos((.5,.5),(1,.5)) = .75 / (sqrt.5 sqrt1.25); cos((.5,.5),(0,3)) = 1.5 / (sqrt.5 * 3) = 1/sqrt2;
    # cos((2,0),(1,.5)) = 2 / (2 sqrt1.25); cos((2,0),(0,3)) = 0.
    return [[0.75 / (math.sqrt(0.5) * R125), 1 / R2], [1 / R125, 0.0]]


def expected_maxsim_sum() -> list[list[float]]:
    # q0-y0: max(1, 1/sqrt2) + max(0, 1/sqrt2); q0-y1: 0 + 1; q1-y0: 1; q1-y1: 0.
    return [[1 + 1 / R2, 1.0], [1.0, 0.0]]


def expected_soft_li_sum() -> list[list[float]]:
    """tau_a = 1, A_ij = softmax_j(<q_i, y_j>), plain sum over query tokens.

    q0 (1,0) vs y0: dots (1, 1) -> A = (1/2, 1/2), C = (1, 1/sqrt2)  -> (1 + 1/sqrt2) / 2
    q0 (0,1) vs y0: dots (0, 1) -> A = (1, e) / (1 + e), C = (0, 1/sqrt2) -> e / ((1 + e) sqrt2)
    q0 vs y1: one real target token, A = 1: C = 0 and 1 -> 1
    q1 (2,0) vs y0: dots (2, 2) -> A = (1/2, 1/2) -> (1 + 1/sqrt2) / 2;  q1 vs y1: C = 0 -> 0
    """
    half = (1 + 1 / R2) / 2
    return [[half + E / ((1 + E) * R2), 1.0], [half, 0.0]]


def expected_soft_li_pooled() -> list[list[float]]:
    """tau_a = 1, w_i = softmax_i(<q_i, y>) over query tokens, y = pooled target.

    q0 vs y0 = (1, .5): dots (1, .5), w = (e, e^.5) / (e + e^.5), cos = (1, .5) / sqrt1.25
    q0 vs y1 = (0, 3):  dots (0, 3),  w = (1, e^3) / (1 + e^3),   cos = (0, 1)
    q1 (one token) vs y0: cos = 1 / sqrt1.25;  vs y1: 0
    """
    s00 = (E * 1 + math.exp(0.5) * 0.5) / ((E + math.exp(0.5)) * R125)
    s01 = math.exp(3) / (1 + math.exp(3))
    return [[s00, s01], [1 / R125, 0.0]]


def per_query_mean(sums: list[list[float]]) -> list[list[float]]:
    n_query_tokens = (2, 1)
    return [[v / n for v in row] for row, n in zip(sums, n_query_tokens)]


CASES = {
    "cosine": (CosineHead(), expected_cosine()),
    "maxsim": (MaxSimHead(), per_query_mean(expected_maxsim_sum())),
    "maxsim_sum": (MaxSimHead(normalize_query_tokens=False), expected_maxsim_sum()),
    "soft_li_pooled": (SoftLateInteractionPooledHead(tau_a=1.0), expected_soft_li_pooled()),
    "soft_li": (SoftLateInteractionHead(tau_a=1.0), per_query_mean(expected_soft_li_sum())),
    "soft_li_sum": (SoftLateInteractionHead(tau_a=1.0, normalize_query_tokens=False), expected_soft_li_sum()),
}


@pytest.mark.parametrize("case", CASES)
def test_head_matches_hand_computed_toy(case):
    head, expected = CASES[case]
    torch.testing.assert_close(head(*toy()), torch.tensor(expected))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("pad", [0.0, -1e30, float("inf"), float("nan")])
def test_padding_values_do_not_change_scores(case, pad):
    head, _ = CASES[case]
    torch.testing.assert_close(head(*toy(pad)), head(*toy(1e30)), rtol=0, atol=0)


def random_embeddings(n: int, length: int = 5, dim: int = 6, seed: int = 0, unit_tokens: bool = False) -> Embeddings:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(n, length, dim, generator=g, dtype=torch.float64)
    if unit_tokens:
        tokens = tokens / tokens.norm(dim=-1, keepdim=True)
    mask = torch.arange(length)[None] < torch.randint(1, length + 1, (n,), generator=g)[:, None]
    tokens = tokens.masked_fill(~mask[..., None], 1e30)
    pooled = torch.where(mask[..., None], tokens, 0.0).sum(1) / mask.sum(1, keepdim=True)
    return Embeddings(pooled, tokens, mask)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("chunk_size", [1, 3, 10_000])
def test_score_chunked_equals_forward(name, chunk_size):
    head = build_head(name)
    q, t = random_embeddings(7, seed=1), random_embeddings(10, seed=2)
    full = head(q, t)
    chunked = head.score_chunked(q, t, chunk_size=chunk_size)
    assert chunked.shape == (7, 10) and not chunked.requires_grad
    torch.testing.assert_close(chunked, full.detach(), rtol=1e-12, atol=1e-12)


def test_soft_li_tends_to_maxsim_as_tau_a_goes_to_zero():
    # Unit-norm target tokens: the largest dot product is then the largest cosine (see soft_li_scores).
    q, t = random_embeddings(6, seed=3), random_embeddings(9, seed=4, unit_tokens=True)
    target = maxsim_scores(q.tokens, q.mask, t.tokens, t.mask, normalize_query_tokens=False)
    coarse = soft_li_scores(q.tokens, q.mask, t.tokens, t.mask, tau_a=1.0, normalize_query_tokens=False)
    fine = soft_li_scores(q.tokens, q.mask, t.tokens, t.mask, tau_a=1e-5, normalize_query_tokens=False)
    assert (coarse - target).abs().max() > 0.1
    torch.testing.assert_close(fine, target, rtol=0, atol=1e-8)


def test_soft_li_gradcheck():
    q, t = random_embeddings(2, length=3, dim=4, seed=5), random_embeddings(3, length=3, dim=4, seed=6)
    q_tokens = torch.where(q.mask[..., None], q.tokens, 0.0).requires_grad_()
    t_tokens = torch.where(t.mask[..., None], t.tokens, 0.0).requires_grad_()
    for normalize in (True, False):
        assert torch.autograd.gradcheck(
            lambda a, b: soft_li_scores(a, q.mask, b, t.mask, tau_a=0.5, normalize_query_tokens=normalize),
            (q_tokens, t_tokens),
        )


@pytest.mark.parametrize("name", HEADS)
def test_gradients_reach_real_tokens_only(name):
    head = build_head(name)
    q, t = random_embeddings(3, seed=7), random_embeddings(4, seed=8)
    leaves = [x.detach().requires_grad_() for x in (q.pooled, q.tokens, t.pooled, t.tokens)]
    head(Embeddings(leaves[0], leaves[1], q.mask), Embeddings(leaves[2], leaves[3], t.mask)).sum().backward()
    used = [leaf for leaf in leaves if leaf.grad is not None]
    assert used and all(torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0 for leaf in used)
    for tokens, mask in ((leaves[1], q.mask), (leaves[3], t.mask)):
        if tokens.grad is not None:
            assert tokens.grad[~mask].abs().sum() == 0


def test_needs_tokens_flags():
    flags = {name: (cls.needs_query_tokens, cls.needs_target_tokens) for name, cls in HEADS.items()}
    assert flags == {
        "cosine": (False, False),
        "maxsim": (True, True),
        "soft_li_pooled": (True, False),
        "soft_li": (True, True),
    }
    assert not CosineHead().needs_tokens and SoftLateInteractionPooledHead().needs_tokens


def test_build_head_passes_kwargs_and_rejects_unknown_names():
    head = build_head("soft_li", tau_a=0.5, normalize_query_tokens=False)
    assert isinstance(head, SoftLateInteractionHead) and head.tau_a == 0.5 and not head.normalize_query_tokens
    assert SoftLateInteractionHead().tau_a == 0.1 and SoftLateInteractionHead().normalize_query_tokens
    with pytest.raises(ValueError, match="unknown head 'colbert'; valid: cosine, maxsim, soft_li, soft_li_pooled"):
        build_head("colbert")


def test_missing_tokens_and_empty_rows_are_clear_errors():
    q, t = toy()
    with pytest.raises(ValueError, match="needs target token embeddings"):
        SoftLateInteractionHead()(q, Embeddings(t.pooled))
    SoftLateInteractionPooledHead()(q, Embeddings(t.pooled))  # pooled targets are enough here
    empty = Embeddings(q.pooled, q.tokens, torch.tensor([[True, True], [False, False]]))
    with pytest.raises(ValueError, match="some query rows have no real token"):
        MaxSimHead().score_chunked(empty, t)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        CosineHead().score_chunked(q, t, chunk_size=0)


@pytest.mark.parametrize("module", [cosine, maxsim, soft_li_pooled, soft_li])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", HEADS)
def test_paired_scores_are_the_diagonal_with_its_gradients(name):
    head = build_head(name)
    q, t = random_embeddings(6, seed=3), random_embeddings(6, seed=4)
    q = Embeddings(q.pooled.requires_grad_(), q.tokens.clone().requires_grad_(), q.mask)
    paired = head.paired(q, t)
    diagonal = head(q, t).diagonal()
    assert paired.shape == (6,)
    torch.testing.assert_close(paired, diagonal, rtol=1e-12, atol=1e-12)
    grads = [torch.autograd.grad(s.sum(), [q.pooled, q.tokens], allow_unused=True) for s in (paired, diagonal)]
    for a, b in zip(*grads):
        if b is None:
            assert a is None or not a.any()
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="as many queries as targets"):
        head.paired(q, t[:5])
