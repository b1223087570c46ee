"""The soft_li and maxsim inference paths (length blocks of real tokens) against their plain formulas."""

from __future__ import annotations

import copy
import doctest
import gc
import pickle

import pytest
import torch

from uwe.models.embeddings import Embeddings
from uwe.models.heads import (CosineHead, MaxSimHead, SoftLateInteractionHead, cosine_scores, maxsim_scores,
                              maxsim_space_scores, soft_li_scores)
from uwe.models.heads import maxsim, soft_li_space, space_scores, token_space
from uwe.models.heads.memo import TensorMemo
from uwe.models.heads.soft_li_space import soft_li_space_scores
from uwe.models.heads.space_scores import query_blocks
from uwe.models.heads.token_space import build_token_space


def embeddings(lengths: list[int], width: int, dim: int, seed: int, dtype=torch.float32, pad=float("nan"),
               scattered: bool = False) -> Embeddings:
    """Rows with ``lengths`` real tokens of ``width``; padding filled with ``pad``.

    ``scattered``: real tokens at random positions of the row instead of a prefix (masks need not be prefixes).
    """
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(len(lengths), width, dim, generator=g, dtype=torch.float64).to(dtype)
    if scattered:
        mask = torch.stack([torch.randperm(width, generator=g) < n for n in lengths])
    else:
        mask = torch.arange(width)[None] < torch.tensor(lengths)[:, None]
    tokens = tokens.masked_fill(~mask[..., None], pad)
    pooled = torch.where(mask[..., None], tokens, 0.0).sum(1) / mask.sum(1, keepdim=True)
    return Embeddings(pooled, tokens, mask)


def varied(dtype=torch.float32, pad=float("nan")) -> tuple[Embeddings, Embeddings]:
    """9 queries (one with a single real token) x 40 targets of 1-7 real tokens (several of one token), D = 32,
    plus ties: target 0 repeats one token three times and target 1 equals target 0."""
    g = torch.Generator().manual_seed(0)
    q = embeddings([1, 4, 2, 6, 3, 1, 5, 6, 2], 6, 32, seed=1, dtype=dtype, pad=pad)
    t_lengths = [3, 3] + torch.randint(1, 8, (38,), generator=g).tolist()
    t_lengths[5] = t_lengths[9] = 1
    t = embeddings(t_lengths, 7, 32, seed=2, dtype=dtype, pad=pad)
    t.tokens[0, :3] = t.tokens[0, 0]
    t.tokens[1] = t.tokens[0]
    return q, t


def reference(q: Embeddings, t: Embeddings, **kwargs) -> torch.Tensor:
    return soft_li_scores(q.tokens, q.mask, t.tokens, t.mask, **kwargs)


@pytest.mark.parametrize("tau_a", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("normalize", [True, False])
def test_fast_path_equals_plain_formula_fp32(tau_a, normalize):
    q, t = varied()
    expected = reference(q, t, tau_a=tau_a, normalize_query_tokens=normalize)
    fast = soft_li_space_scores(q.tokens, q.mask, build_token_space(t.tokens, t.mask), tau_a, normalize)
    assert fast.dtype == torch.float32 and fast.shape == (9, 40)
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)


def test_fast_path_equals_plain_formula_fp64_to_rounding():
    q, t = varied(torch.float64)
    expected = reference(q, t, tau_a=0.1)
    torch.testing.assert_close(soft_li_space_scores(q.tokens, q.mask, build_token_space(t.tokens, t.mask)), expected,
                               rtol=1e-12, atol=1e-12)


def test_ties_single_tokens_and_scattered_masks():
    q, t = varied(torch.float64)
    fast = soft_li_space_scores(q.tokens, q.mask, build_token_space(t.tokens, t.mask), tau_a=0.1)
    torch.testing.assert_close(fast[:, 0], fast[:, 1], rtol=0, atol=0)  # identical targets, identical scores
    # Three equal target tokens: uniform attention, so s = mean_i cos(q_i, y).
    cos = torch.nn.functional.cosine_similarity(q.tokens, t.tokens[0, 0].expand_as(q.tokens), dim=-1)
    torch.testing.assert_close(fast[:, 0], torch.where(q.mask, cos, 0.0).sum(1) / q.mask.sum(1))
    # One real target token: attention 1, s = mean_i cos(q_i, y).
    cos5 = torch.nn.functional.cosine_similarity(q.tokens, t.tokens[5, 0].expand_as(q.tokens), dim=-1)
    torch.testing.assert_close(fast[:, 5], torch.where(q.mask, cos5, 0.0).sum(1) / q.mask.sum(1))
    qs = embeddings([2, 5, 1], 6, 8, seed=3, dtype=torch.float64, scattered=True)
    ts = embeddings([4, 1, 6, 3, 4], 7, 8, seed=4, dtype=torch.float64, scattered=True)
    torch.testing.assert_close(soft_li_space_scores(qs.tokens, qs.mask, build_token_space(ts.tokens, ts.mask)),
                               reference(qs, ts), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logits_far_below_the_max_are_exact(dtype):
    # Token states x 10: logit gaps of thousands at tau_a = 0.1, so exp would underflow to subnormals or 0
    # where the fast path clamps the gap at MIN_LOGIT_GAP; the weights lost are below any float's resolution.
    q, t = varied(torch.float64)
    q, t = (Embeddings(e.pooled, e.tokens * 10, e.mask) for e in (q, t))
    gaps = torch.einsum("qid,tjd->qitj", q.tokens.nan_to_num(), t.tokens.nan_to_num()) / 0.1
    assert float(gaps.amax(-1, keepdim=True).sub(gaps).masked_fill(~t.mask[None, None], 0).max()) > 1000
    expected = reference(q, t, tau_a=0.1)
    fast = soft_li_space_scores(q.tokens.to(dtype), q.mask, build_token_space(t.tokens.to(dtype), t.mask))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(fast.double(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("pad", [0.0, 1e30, float("inf"), float("nan")])
def test_padding_values_are_never_read(pad):
    q, t = varied(pad=pad)
    q0, t0 = varied(pad=0.0)
    fast = soft_li_space_scores(q.tokens, q.mask, build_token_space(t.tokens, t.mask))
    torch.testing.assert_close(fast, reference(q0, t0), rtol=1e-5, atol=1e-5)
    assert torch.isfinite(fast).all()


@pytest.mark.parametrize("block_tokens", [1, 3, 10, 10_000])
@pytest.mark.parametrize("max_queries,max_query_tokens", [(1, 1), (2, 5), (128, 512)])
def test_block_sizes_do_not_change_scores(block_tokens, max_queries, max_query_tokens):
    q, t = varied(torch.float64)
    space = build_token_space(t.tokens, t.mask, block_tokens=block_tokens)
    counts = [b.count for b in space.blocks]
    assert [b.start for b in space.blocks] == [sum(counts[:i]) for i in range(len(counts))]  # no gaps
    assert all(b.tokens.shape[0] <= max(block_tokens, b.length) for b in space.blocks)
    fast = soft_li_space_scores(q.tokens, q.mask, space, 0.1, True, max_queries, max_query_tokens)
    torch.testing.assert_close(fast, reference(q, t), rtol=1e-12, atol=1e-12)


def test_query_blocks_respect_both_limits():
    assert query_blocks([3, 3, 3, 3], max_queries=3, max_query_tokens=100) == [(0, 3), (3, 4)]
    assert query_blocks([3, 3, 3, 3], max_queries=10, max_query_tokens=6) == [(0, 2), (2, 4)]
    assert query_blocks([9, 1, 1], max_queries=10, max_query_tokens=4) == [(0, 1), (1, 3)]  # a long query alone
    assert query_blocks([], max_queries=2, max_query_tokens=2) == []


def test_no_queries_and_bad_arguments():
    q, t = varied()
    space = build_token_space(t.tokens, t.mask)
    assert soft_li_space_scores(q.tokens[:0], q.mask[:0], space).shape == (0, 40)
    with pytest.raises(ValueError, match="D=16, the target space D=32"):
        soft_li_space_scores(q.tokens[..., :16], q.mask, space)
    with pytest.raises(ValueError, match="max_queries and max_query_tokens must be >= 1"):
        soft_li_space_scores(q.tokens, q.mask, space, max_queries=0)
    with pytest.raises(ValueError, match="no real token"):
        build_token_space(t.tokens, torch.zeros_like(t.mask))


@pytest.mark.parametrize("chunk_size", [1, 4, None])
def test_head_score_chunked_equals_forward_without_gradients(chunk_size):
    q, t = varied()
    head = SoftLateInteractionHead(tau_a=0.1)
    leaves = Embeddings(t.pooled, t.tokens.clone().requires_grad_(), t.mask)
    scores = head.score_chunked(q, leaves, chunk_size)
    assert not scores.requires_grad
    torch.testing.assert_close(scores, head(q, t), rtol=1e-5, atol=1e-5)


def test_head_reuses_the_token_space_until_the_tensors_change_or_die():
    q, t = varied()
    head = SoftLateInteractionHead()
    first = head.score_chunked(q, t)
    space = head.token_space(t)
    assert head.token_space(Embeddings(t.pooled, t.tokens, t.mask)) is space  # same tensors, new container
    t.tokens[3, 0] += 1.0  # in place: a stale space would give the old scores
    assert head.token_space(t) is not space
    torch.testing.assert_close(head.score_chunked(q, t), head(q, t), rtol=1e-5, atol=1e-5)
    assert not torch.equal(head.score_chunked(q, t)[:, 3], first[:, 3])
    assert len(head._spaces) == 1  # the stale entry was replaced
    del t
    gc.collect()
    assert len(head._spaces) == 0


def test_memo_is_bounded_and_copies_empty():
    memo = TensorMemo(max_entries=2)
    tensors = [torch.zeros(1) for _ in range(3)]
    for i, x in enumerate(tensors):
        assert memo.get(lambda i=i: i, (x,)) == i
    assert len(memo) == 2 and memo.get(lambda: "new", (tensors[0],)) == "new"  # the oldest was evicted
    assert memo.get(lambda: "other dtype", (tensors[2],), torch.float64) == "other dtype"
    head = SoftLateInteractionHead(tau_a=0.3)
    q, t = varied()
    head.score_chunked(q, t)
    for clone in (copy.deepcopy(head), pickle.loads(pickle.dumps(head))):
        assert len(clone._spaces) == 0 and clone.tau_a == 0.3
        torch.testing.assert_close(clone.score_chunked(q, t), head.score_chunked(q, t), rtol=0, atol=0)


def test_float64_queries_against_float32_targets_promote():
    q, t = varied()
    q64 = Embeddings(q.pooled.double(), q.tokens.double(), q.mask)
    scores = SoftLateInteractionHead().score_chunked(q64, t)
    assert scores.dtype == torch.float64
    t64 = Embeddings(t.pooled.double(), t.tokens.double(), t.mask)
    torch.testing.assert_close(scores, reference(q64, t64), rtol=1e-12, atol=1e-12)


def test_bf16_inference_is_opt_in_and_close():
    q, t = varied()
    exact, fast = SoftLateInteractionHead(), SoftLateInteractionHead(bf16_inference=True)
    assert exact.token_space(t).matmul_dtype == torch.float32
    space = fast.token_space(t)
    assert space.matmul_dtype == torch.bfloat16 and space.dtype == torch.float32
    assert {b.tokens.dtype for b in space.blocks} == {torch.bfloat16}
    approx = fast.score_chunked(q, t)
    assert approx.dtype == torch.float32 and "bf16_inference=True" in repr(fast)
    torch.testing.assert_close(approx, exact.score_chunked(q, t), rtol=0, atol=2e-2)
    torch.testing.assert_close(fast(q, t), exact(q, t), rtol=0, atol=0)  # training never uses bf16 here


@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_cosine_score_chunked_is_unchanged(chunk_size):
    q, t = varied(torch.float64)
    head = CosineHead()
    scores = head.score_chunked(q, t, chunk_size)
    torch.testing.assert_close(scores, cosine_scores(q.pooled, t.pooled), rtol=1e-12, atol=1e-12)
    assert len(head._normalized) == 1 and not scores.requires_grad


@pytest.mark.parametrize("module", [maxsim, soft_li_space, space_scores, token_space])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("pad", [float("nan"), 0.0])
def test_maxsim_fast_path_equals_plain_formula(normalize, pad):
    q, t = varied(pad=pad)
    expected = maxsim_scores(q.tokens, q.mask, t.tokens, t.mask, normalize)
    fast = maxsim_space_scores(q.tokens, q.mask, build_token_space(t.tokens, t.mask), normalize)
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)
    head = MaxSimHead(normalize_query_tokens=normalize)
    torch.testing.assert_close(head.score_chunked(q, t, 2), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(head.score_once(q, t), expected, rtol=1e-5, atol=1e-5)
    assert len(head._spaces) == 1  # score_chunked kept its space, score_once did not add one


def test_maxsim_fast_path_in_float64_is_exact_and_small_query_blocks_agree():
    q, t = varied(torch.float64)
    expected = maxsim_scores(q.tokens, q.mask, t.tokens, t.mask)
    space = build_token_space(t.tokens, t.mask)
    torch.testing.assert_close(maxsim_space_scores(q.tokens, q.mask, space), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(maxsim_space_scores(q.tokens, q.mask, space, True, 1, 3), expected,
                               rtol=1e-12, atol=1e-12)
