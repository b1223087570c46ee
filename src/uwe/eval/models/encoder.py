"""``model=encoder``: rank with the configured encoder + pooling + head, or with a trained model (``ckpt_path``)."""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig

from uwe.eval.models import MODELS
from uwe.eval.scorers import EncoderScorer
from uwe.models.checkpoint import load_checkpoint
from uwe.models.encoder import TextEncoder
from uwe.models.heads import HEADS

log = logging.getLogger(__name__)


def encoder_scorer(cfg: DictConfig, encoder: TextEncoder, head,
                   device: str | torch.device | None = None) -> EncoderScorer:
    """``encoder`` and ``head``, moved to ``device`` (default: the config's ``device``; the CPU for a config
    without one), with the config's target-space cache, batch, scoring block and ``precision`` settings, and
    its query ``backend`` (``torch``, or ``onnx``/``auto``: ONNX Runtime fp32 from a file exported once into the
    cache folder, :func:`uwe.models.onnx_export.apply_backend`, as the ranker's; target spaces are always encoded
    by torch)."""
    return EncoderScorer(encoder, head, cfg.paths.cache_dir, cfg.encoder.batch_size, cfg.score_chunk,
                         refresh_cache=cfg.refresh_cache, precision=cfg.get("precision", "32"),
                         device=cfg.get("device", "cpu") if device is None else device,
                         backend=cfg.get("backend", "torch"))


def set_view(cfg: DictConfig, encoder: TextEncoder) -> TextEncoder:
    """``encoder`` cut to the config's ``layers`` and ``dim`` (null: the full depth, width), before its query backend
    is set (:meth:`~uwe.models.encoder.TextEncoder.set_view`)."""
    encoder.set_view(cfg.get("layers"), cfg.get("dim"))
    return encoder


def build_encoder_scorer(cfg: DictConfig) -> EncoderScorer:
    """The config's ``encoder``, ``pooling`` and ``head`` (a zero-shot encoder)."""
    head = HEADS.from_config(cfg.head)
    encoder = TextEncoder.from_name(cfg.encoder.name, max_length=cfg.encoder.max_length, pooling=cfg.pooling.name,
                                    keep_tokens=head.needs_tokens)
    return encoder_scorer(cfg, set_view(cfg, encoder), head)


def build_checkpoint_scorer(cfg: DictConfig) -> EncoderScorer:
    """A trained UWE model with its own encoder, pooling and head (the config's encoder/head are ignored)."""
    encoder, head, hparams = load_checkpoint(cfg.ckpt_path)  # on the CPU; encoder_scorer moves it to cfg.device
    log.info("evaluating checkpoint %s (encoder %s, head %s)", cfg.ckpt_path, hparams["encoder"]["name"],
             hparams["head"]["name"])
    return encoder_scorer(cfg, set_view(cfg, encoder), head)


@MODELS.register("encoder")
def encoder_model(cfg: DictConfig) -> EncoderScorer:
    """The checkpoint ``ckpt_path`` names, else the configured zero-shot encoder."""
    return build_checkpoint_scorer(cfg) if cfg.get("ckpt_path") else build_encoder_scorer(cfg)
