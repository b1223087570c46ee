"""2D Matryoshka training (``matryoshka=2d``): one model whose first k layers and first d dimensions are each a
usable embedding.

2D Matryoshka Sentence Embeddings (Li et al. 2024, arXiv 2402.14776) extend Matryoshka Representation Learning
(Kusupati et al. 2022, arXiv 2205.13147) from widths to depths. Each training step scores the batch at several
*views* (layer k, width d) with the configured head and loss, and sums them with weights:

    L = sum_{k in {n} + S} sum_{d in widths} w_k v_d loss(head(q[k, :d], t[k, :d]))
        + a * sum_{k in S} KL(p_n || p_k)

- n is the model's layer count: the full model is trained every step;
- S is ``layers_per_step`` depths drawn at random from the listed shallower ``layers`` (the paper: one per step);
- ``q[k, :d]`` is the embedding of hidden layer k (:meth:`uwe.models.encoder.TextEncoder.forward_layers`) cut
  to its first d dimensions (:func:`truncate`); token heads cut every token vector the same way;
- w and v are ``layer_weights`` and ``width_weights`` (1 each by default, as in MRL);
- the last term aligns each sampled shallow layer with the last one (:func:`alignment_kl`), weight a.

The loss sees each view exactly as a model of that depth and width would produce it, so whatever the loss and
head compute on the full model they compute on each view; the views differ only in which embeddings they see.

What a checkpoint was trained for (:meth:`Matryoshka.trained`) goes into its export metadata; inference checks a
view against it with :mod:`uwe.models.views`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from uwe.errors import ConfigError
from uwe.models.embeddings import Embeddings

NONE = "none"  # the config name that trains the full model alone (conf/matryoshka/none.yaml)
KEYS = ("name", "widths", "width_weights", "layers", "layer_weights", "layers_per_step", "align_weight",
        "align_temperature")


def truncate(emb: Embeddings, width: int) -> Embeddings:
    """The first ``width`` dimensions of every vector: what a ``width``-dimensional model gives.

    No re-normalisation, on purpose: nothing before the head normalises (mean or CLS pooling commute with
    taking the first dimensions, so the pooled vector of the cut tokens is the cut pooled vector), and every
    head normalises what it is given itself (``cosine``'s cosine, ``soft_li``'s C_ij) or uses its raw dot
    products (``soft_li``'s attention), as it does at full width. Normalising before the cut would be wrong: the
    first d entries of a unit vector are not a unit vector.

    Args:
        emb: pooled [N, D], and tokens [N, L, D] with their mask [N, L] when kept.
        width: d, 1 <= d <= D.

    Returns:
        pooled [N, d], tokens [N, L, d] (mask unchanged); ``emb`` itself when d = D.

    Examples:
        >>> e = Embeddings(torch.tensor([[3.0, 4.0, 12.0]]))
        >>> truncate(e, 2).pooled
        tensor([[3., 4.]])
    """
    dim = emb.pooled.shape[-1]
    if not 1 <= width <= dim:
        raise ValueError(f"width {width} is not between 1 and the embeddings' width {dim}")
    if width == dim:
        return emb
    if emb.tokens is None:
        return Embeddings(emb.pooled[..., :width])
    return Embeddings(emb.pooled[..., :width], emb.tokens[..., :width], emb.mask)


def alignment_kl(shallow: torch.Tensor, deep: torch.Tensor, temperature: float) -> torch.Tensor:
    """2DMSE's alignment of a shallow layer with the last: KL(p_deep || p_shallow), batch mean.

    Each text's pooled vector becomes a distribution over its D dimensions, ``p = softmax(x / temperature)``,
    as in the paper and in sentence-transformers' ``AdaptiveLayerLoss``. Our choice: the last layer is a
    teacher (``deep`` is detached), so the alignment moves the shallow layers towards the full model and never
    the full model towards them.

    Args:
        shallow: [N, D] pooled embeddings of a shallow layer.
        deep: [N, D] pooled embeddings of the last layer, same texts.
        temperature: T > 0; lower sharpens both distributions.

    Returns:
        a scalar >= 0, 0 exactly when both give the same distributions.

    Examples:
        >>> x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
        >>> alignment_kl(x, x, 0.3)
        tensor(0.)

        Deep (0, 0.3) at T = 0.3 gives p = softmax(0, 1) = (0.2689, 0.7311), shallow (0, 0) gives q = (0.5, 0.5):
        KL = 0.2689 ln(0.2689 / 0.5) + 0.7311 ln(0.7311 / 0.5) = -0.1668 + 0.2777 = 0.1109.

        >>> round(alignment_kl(torch.zeros(1, 2), torch.tensor([[0.0, 0.3]]), 0.3).item(), 4)
        0.1109
    """
    log_q = F.log_softmax(shallow / temperature, dim=-1)
    log_p = F.log_softmax(deep.detach() / temperature, dim=-1)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


@dataclass(frozen=True)
class Matryoshka:
    """The ``matryoshka`` config (``conf/matryoshka/*.yaml``) as checked numbers.

    Args:
        widths: the trained widths, strictly descending, the first at most the model's width (None: the full
            width alone, a layers-only run).
        layers: the trained depths, strictly descending, each between 1 and the model's layer count (None: the
            full model alone, a widths-only run). The full model is trained every step whether or not it is
            listed; the listed shallower depths are the ones sampled.
        width_weights, layer_weights: one weight >= 0 per width / listed layer (None: all 1); an unlisted full
            model weighs 1.
        layers_per_step: shallower depths sampled per step (the paper: 1); all of them when there are fewer.
        align_weight: a, the alignment term's weight (0: off); align_temperature: T of :func:`alignment_kl`.
    """

    widths: tuple[int, ...] | None = None
    layers: tuple[int, ...] | None = None
    width_weights: tuple[float, ...] | None = None
    layer_weights: tuple[float, ...] | None = None
    layers_per_step: int = 1
    align_weight: float = 1.0
    align_temperature: float = 0.3

    @classmethod
    def from_config(cls, cfg: Mapping | None) -> "Matryoshka | None":
        """The settings of a ``matryoshka`` config, or None for ``matryoshka=none`` (or no such config); a
        :class:`~uwe.errors.ConfigError` naming ``matryoshka.<key>=<value>`` for a value out of type or range."""
        if cfg is None or cfg.get("name", NONE) == NONE:
            return None
        unknown = sorted(set(cfg) - set(KEYS))
        if unknown:
            raise ConfigError(f"matryoshka.{unknown[0]} is not valid: a matryoshka config takes {', '.join(KEYS[1:])}")
        widths = _ints(cfg, "widths")
        layers = _ints(cfg, "layers")
        width_weights = _weights(cfg, "width_weights", widths, "widths")
        layer_weights = _weights(cfg, "layer_weights", layers, "layers")
        per_step = cfg.get("layers_per_step", 1)
        if not _is_int(per_step) or per_step < 1:
            raise ConfigError(f"matryoshka.layers_per_step={per_step!r} is not valid: expected an integer >= 1")
        align_weight = _number(cfg, "align_weight", 1.0, "a number >= 0", lambda x: x >= 0)
        temperature = _number(cfg, "align_temperature", 0.3, "a number > 0", lambda x: x > 0)
        return cls(widths, layers, width_weights, layer_weights, per_step, align_weight, temperature)

    def resolve(self, dim: int, n_layers: int, model: str = "the encoder") -> "Matryoshka":
        """These settings for a model of width ``dim`` and ``n_layers`` layers: ``widths`` and ``layers`` filled
        in (``layers[0]`` is then always ``n_layers``, with its weight), or a :class:`ConfigError` when a width is
        above the model's or a depth beyond its layers."""
        widths = self.widths or (dim,)
        width_weights = self.width_weights or (1.0,) * len(widths)
        if widths[0] > dim:
            raise ConfigError(f"matryoshka.widths={list(widths)} is not valid: {widths[0]} is above the width of "
                              f"{model}, {dim}; the widths must be at most {dim}")
        listed = self.layers or (n_layers,)
        if listed[0] > n_layers:
            raise ConfigError(f"matryoshka.layers={list(listed)} is not valid: {model} has {n_layers} layers; the "
                              f"depths must be between 1 and {n_layers}")
        weights = dict(zip(listed, self.layer_weights or (1.0,) * len(listed)))
        layers = (n_layers,) + tuple(k for k in listed if k < n_layers)
        return replace(self, widths=widths, width_weights=width_weights, layers=layers,
                       layer_weights=tuple(weights.get(k, 1.0) for k in layers))

    def trained(self) -> dict:
        """``{"widths": [...], "layers": [...]}``, the views trained (of resolved settings): what a checkpoint's
        export records and :mod:`uwe.models.views` compares a view with."""
        return {"widths": list(self.widths), "layers": list(self.layers)}

    def step_layers(self, seed: int) -> tuple[int, ...]:
        """The depths of one step (of resolved settings): the full model, then ``layers_per_step`` shallower
        listed depths drawn with ``seed``, deepest first. Every process of a step must pass the same seed: the
        gathered batch must be one view."""
        shallow = list(self.layers[1:])
        drawn = random.Random(seed).sample(shallow, min(self.layers_per_step, len(shallow)))
        return (self.layers[0], *sorted(drawn, reverse=True))

    def loss(self, views: Mapping[int, tuple[Embeddings, Embeddings]],
             loss_of: Callable[[Embeddings, Embeddings], torch.Tensor]) -> torch.Tensor:
        """The 2D Matryoshka loss (module docstring) of one batch (of resolved settings).

        Args:
            views: {depth k: (queries, targets)} at full width: the full model's depth ``layers[0]`` and the
                step's sampled ones (:meth:`step_layers`).
            loss_of: the configured loss of (queries, targets) embeddings, e.g.
                ``lambda q, t: m2m_infonce(head(q, t), positives, tau)``.

        Returns:
            the weighted sum over every (depth, width) view, plus the alignment of each shallow depth.
        """
        weights = dict(zip(self.layers, self.layer_weights))
        total = torch.zeros((), device=next(iter(views.values()))[0].pooled.device)
        for depth, (q, t) in views.items():
            for width, weight in zip(self.widths, self.width_weights):
                if weights[depth] * weight:
                    total = total + weights[depth] * weight * loss_of(truncate(q, width), truncate(t, width))
        if self.align_weight:
            deep = _pooled(views[self.layers[0]])
            for depth in views:
                if depth != self.layers[0]:
                    total = total + self.align_weight * alignment_kl(_pooled(views[depth]), deep,
                                                                     self.align_temperature)
        return total


def check_loss(name: str, loss: str, trains_on_triples: bool) -> None:
    """A :class:`ConfigError` when ``matryoshka=name`` (not ``none``) meets a loss it cannot wrap: the preference
    losses score triples against a frozen full model's reference scores, which have no views."""
    if name != NONE and trains_on_triples:
        raise ConfigError(f"matryoshka={name} is not valid with loss={loss}: it trains with the contrastive graph "
                          "losses (infonce, sym_infonce, m2m_infonce); use matryoshka=none for a preference stage")


def _pooled(view: tuple[Embeddings, Embeddings]) -> torch.Tensor:
    """[Nq + Nt, D] the pooled vectors of both sides of a view."""
    return torch.cat([view[0].pooled, view[1].pooled])


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _list(value) -> list | None:
    """``value`` as a list when it is a list (a YAML or OmegaConf one), else None."""
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None


def _ints(cfg: Mapping, key: str) -> tuple[int, ...] | None:
    """``cfg[key]``: null, or a non-empty strictly descending list of integers >= 1."""
    value = cfg.get(key)
    if value is None:
        return None
    values = _list(value)
    if (not values or not all(_is_int(v) and v >= 1 for v in values)
            or any(a <= b for a, b in zip(values, values[1:]))):
        what = "width" if key == "widths" else "depth"
        raise ConfigError(f"matryoshka.{key}={_show(value)} is not valid: expected a list of integers >= 1 in "
                          f"descending order, e.g. [384, 256, 128, 64], or null (the full {what} alone)")
    return tuple(values)


def _weights(cfg: Mapping, key: str, of: tuple[int, ...] | None, of_key: str) -> tuple[float, ...] | None:
    """``cfg[key]``: null (all 1), or one finite number >= 0 per entry of ``of``."""
    value = cfg.get(key)
    if value is None:
        return None
    values, count = _list(value), len(of) if of is not None else 1
    if values is None or len(values) != count or not all(_is_number(v) and v >= 0 for v in values):
        raise ConfigError(f"matryoshka.{key}={_show(value)} is not valid: expected {count} number(s) >= 0, one per "
                          f"entry of matryoshka.{of_key}, or null (all 1)")
    return tuple(float(v) for v in values)


def _number(cfg: Mapping, key: str, default: float, expected: str, ok: Callable[[float], bool]) -> float:
    value = cfg.get(key, default)
    if not _is_number(value) or not ok(value):
        raise ConfigError(f"matryoshka.{key}={value!r} is not valid: expected {expected}")
    return float(value)


def _show(value) -> str:
    values = _list(value)
    return repr(value) if values is None else str(values)
