"""The UWE LightningModule: encoder + head + loss composed from config, trained on a task mixture."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import get_linear_schedule_with_warmup

from uwe.data.mix import MixEntry
from uwe.data.task import RankingTask
from uwe.errors import UserError
from uwe.eval.evaluate import evaluate_task, macro
from uwe.eval.scorers import EncoderScorer
from uwe.models.checkpoint import export_trained, load_state, model_name, read_checkpoint
from uwe.models.distributed import gather_embeddings, gather_ids
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads import HEADS
from uwe.models.losses import LOSSES
from uwe.models.matryoshka import Matryoshka, check_loss
from uwe.train.batches import MixBatches, StepLoader
from uwe.train.mining import FalseNegativeGuard, mine_negatives
from uwe.train.preferences import TripleBatch, TripleBatches, Triples, triple_scores
from uwe.train.packing import inverse_order, length_chunks, pad_ids

log = logging.getLogger(__name__)


class NonFiniteError(UserError, RuntimeError):
    """Training produced NaN or infinite numbers and stopped; the checkpoints written before are kept."""


class NonFiniteLossError(NonFiniteError):
    """The loss became NaN or infinite (checked every step, before the optimizer uses it)."""


class NonFiniteWeightsError(NonFiniteError):
    """An optimizer step made a weight NaN, infinite or too large for float32 (checked after every step, before
    anything uses it), or validation found the model's outputs NaN (finite weights that have diverged)."""


class UWEModule(L.LightningModule):
    """Bi-encoder trained with a contrastive loss on several bipartite graphs at once.

    Args:
        encoder: ``{name, max_length, ...}`` (conf/encoder); pooling: ``{name}`` (conf/pooling).
        head: ``{name, **kwargs}`` (conf/head); loss: ``{name, **kwargs}`` (conf/loss).
        graphs: ``{graph name: {alpha, tau}}``: each graph's loss weight and temperature.
        optimizer: a ``_partial_`` optimizer config (conf/optimizer); warmup_ratio: linear warm-up share of
            ``max_steps``, then linear decay to zero.
        batch: ``{nodes, pad_prob, packed, max_tokens}``: right nodes per graph per step on each process,
            padding augmentation; ``packed`` (default True) tokenises every graph once and encodes a step's
            texts of all graphs in length-sorted chunks of at most ``max_tokens`` padded tokens (default 8192)
            instead of two padded passes per graph. Same loss, less padding and fewer passes.
        seed: seeds batches and dropout per step, so a resumed run replays an uninterrupted one.
        mining: ``{negatives, pool, every_n_steps}`` (conf/mining): ``negatives`` mined hard negatives per sampled
            left node join each graph's batch (0: off), drawn from the ``pool`` best-ranked non-positives of
            that node (:mod:`uwe.train.mining`, with its false-negative guard), mined by the model at the start
            of training and again every ``every_n_steps`` steps (None: never again). Kept in checkpoints.
        matryoshka: conf/matryoshka: ``{name: none}`` (or None) trains the full model alone; otherwise every step
            sums the loss over (depth, width) views of the batch plus an alignment term
            (:mod:`uwe.models.matryoshka`). Kept in checkpoints, so a checkpoint says which views it trained.

    The training data (:meth:`attach`) and validation tasks are not hyperparameters: a checkpoint rebuilds
    the model alone, e.g. for ``eval.py ckpt_path=...``.
    """

    def __init__(self, encoder: dict, pooling: dict, head: dict, loss: dict, graphs: dict, optimizer: dict,
                 warmup_ratio: float = 0.1, batch: dict | None = None, seed: int = 42, steps_per_epoch: int = 100,
                 mining: dict | None = None, matryoshka: dict | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.head = HEADS.from_config(head)
        self.encoder = TextEncoder.from_name(encoder["name"], max_length=encoder["max_length"],
                                             pooling=pooling["name"], keep_tokens=self.head.needs_tokens)
        self.loss_fn = LOSSES.from_config(loss)
        self.matryoshka = Matryoshka.from_config(matryoshka)
        if self.matryoshka is not None:
            check_loss(matryoshka["name"], loss["name"], self.trains_on_triples)
            self.matryoshka = self.matryoshka.resolve(self.encoder.dim, self.encoder.num_layers,
                                                      f"encoder {encoder['name']}")
        self._batches: MixBatches | TripleBatches | None = None
        self._guard: FalseNegativeGuard | None = None
        self._val_tasks: list[RankingTask] = []
        # One entry per validation: {"step", "macro_map", "macro_rp@10", "<task>": map}; kept in checkpoints so
        # a resumed run's curve is whole (results.json records it as "val_curve").
        self.val_history: list[dict] = []

    def attach(self, mix: list[MixEntry], val_tasks: list[RankingTask], alias_graphs: list | None = None) -> None:
        """Give the module its training graphs and (already sub-sampled) validation tasks; ``alias_graphs``
        join names of one concept for the mining guard (default: the alias graphs of the mix)."""
        batch = self.hparams.batch or {}
        # The process rank is known only inside fit: train_dataloader sets it.
        tokenize = self._token_ids if batch.get("packed", True) else None
        self._batches = MixBatches(mix, batch.get("nodes", 64), self.hparams.steps_per_epoch, self.hparams.seed,
                                   pad_prob=batch.get("pad_prob"), tokenize=tokenize)
        self._val_tasks = val_tasks
        mining = self.hparams.mining or {}
        for sampler in self._batches.samplers.values():
            sampler.negatives = int(mining.get("negatives", 0))
        self._guard = FalseNegativeGuard([e.graph for e in mix], alias_graphs) if mining.get("negatives") else None

    def mine(self) -> None:
        """Mine every graph's hard-negative pool with the current weights (see ``mining``)."""
        mining, precision = self.hparams.mining, "32"
        if self._trainer is not None and str(self.trainer.precision).startswith("bf16"):
            precision = "bf16"
        for sampler in self._batches.samplers.values():
            sampler.mined = mine_negatives(self.encoder, self.head, sampler.graph, self._guard,
                                           min(int(mining.get("pool", 16)), len(sampler.graph.right)),
                                           precision=precision)

    def on_train_start(self) -> None:
        if self._guard is not None and any(s.mined is None for s in self._batches.samplers.values()):
            self.mine()  # not on resume: the checkpoint brought the pools mined before

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        every = (self.hparams.mining or {}).get("every_n_steps")
        if self._guard is not None and every and self.global_step and self.global_step % every == 0:
            self.mine()

    @property
    def trains_on_triples(self) -> bool:
        """Whether the loss is a preference loss (``loss=rankpo``): stage 2 trains on triples, not graphs."""
        return bool(getattr(self.loss_fn, "triples", False))

    def attach_preferences(self, triples: Triples, val_tasks: list[RankingTask]) -> None:
        """Give the module its preference triples (stage 2, with their reference scores unless the loss is
        reference-free) and validation tasks; ``batch.triples`` triples per step (default 128)."""
        if not self.trains_on_triples:
            raise RuntimeError(f"loss {self.hparams.loss['name']} trains on graphs; use attach(mix, val_tasks)")
        if triples.reference is None and not self.loss_fn.reference_free:
            raise RuntimeError("the triples need their reference scores (uwe.train.preferences.reference_scores)")
        batch = self.hparams.batch or {}
        self._batches = TripleBatches(triples, self._token_ids, batch.get("triples", 128),
                                      self.hparams.steps_per_epoch, self.hparams.seed)
        self._val_tasks = val_tasks

    @classmethod
    def load_trained(cls, ckpt_path: str | Path) -> "UWEModule":
        """A checkpoint's model on the CPU, in eval mode, its encoder named after the checkpoint (target-space
        caches are per model name, so a trained model never meets the zero-shot encoder's caches).

        The file is read and checked by :func:`uwe.models.checkpoint.read_checkpoint` (never unpickled; a
        missing, damaged or foreign file, or NaN weights, is one clear error), as inference reads it without
        this class (:func:`uwe.models.checkpoint.load_checkpoint`)."""
        checkpoint = read_checkpoint(ckpt_path)
        accepted = inspect.signature(cls.__init__).parameters
        module = cls(**{k: v for k, v in checkpoint.hparams.items() if k in accepted})
        load_state(checkpoint, module)
        module.on_load_checkpoint(checkpoint.entries)
        module.encoder.name = model_name(checkpoint.path)
        return module.eval()

    def export(self, out_dir: str | Path, checkpoint: str, overwrite: bool = False) -> Path:
        """A folder that ``SentenceTransformer`` loads, plus this model's head; ``checkpoint`` is recorded."""
        return export_trained(self.encoder, self.head, self.hparams, out_dir, checkpoint, overwrite)

    # data -------------------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        if self._batches is None:
            raise RuntimeError("UWEModule.attach(mix, val_tasks) (or attach_preferences) must be called before fit")
        self._batches.rank = self.global_rank
        return StepLoader(self._batches, lambda: self.global_step)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)  # one tick: the evaluation runs in on_validation_epoch_end

    def on_train_epoch_start(self) -> None:
        self._batches.set_epoch(self.current_epoch)

    # steps ------------------------------------------------------------------------------------------
    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        return self.encoder.tokenizer(texts, truncation=True, max_length=self.encoder.max_length,
                                      return_attention_mask=False, return_token_type_ids=False)["input_ids"]

    def step_layers(self) -> tuple[int, ...] | None:
        """The depths this step trains (:meth:`Matryoshka.step_layers`), None without Matryoshka. Drawn from the
        seed and the step alone: every process gathers the same view, and a resumed run draws the same ones."""
        if self.matryoshka is None:
            return None
        return self.matryoshka.step_layers(hash((self.hparams.seed, self.global_step)) % 2**63)

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                layers: tuple[int, ...] | None) -> Embeddings | dict[int, Embeddings]:
        """The encoder's embeddings, or ``{depth: embeddings}`` of one forward when ``layers`` are given."""
        if layers is None:
            return self.encoder(input_ids, attention_mask)
        return self.encoder.forward_layers(input_ids, attention_mask, layers)

    def _embed(self, texts: list[str], layers: tuple[int, ...] | None = None) -> Embeddings | dict[int, Embeddings]:
        tokens = self.encoder.tokenize(texts)
        return self._encode(tokens["input_ids"].to(self.device), tokens["attention_mask"].to(self.device), layers)

    def embed_packed(self, seqs: list[list[int]], layers: tuple[int, ...] | None = None
                     ) -> Embeddings | dict[int, Embeddings]:
        """Embeddings of token-id sequences in their order, encoded in length-sorted chunks (see
        :mod:`uwe.train.packing`); token states, when kept, are padded to the longest sequence. With ``layers``,
        ``{depth: embeddings}`` of those depths, from the same passes."""
        chunks = length_chunks([len(s) for s in seqs], (self.hparams.batch or {}).get("max_tokens", 8192))
        pad_id = self.encoder.tokenizer.pad_token_id
        outs = [self._encode(*(x.to(self.device) for x in pad_ids([seqs[i] for i in c], pad_id)), layers)
                for c in chunks]
        order = inverse_order(chunks).to(self.device)
        if layers is None:
            return _unchunk(outs, order)
        return {k: _unchunk([o[k] for o in outs], order) for k in layers}

    def embed_step(self, batch: dict, layers: tuple[int, ...] | None = None) -> dict:
        """``{graph: (left, right)}`` embeddings of a step: one packed pass over every graph's texts when the
        batches carry token ids, else two padded passes per graph (the plain path). With ``layers`` (2D
        Matryoshka), ``{graph: {depth: (left, right)}}`` from the same passes."""
        if any(b.left_tokens is None for b in batch.values()):
            sides = {name: (self._embed(b.left, layers), self._embed(b.right, layers)) for name, b in batch.items()}
            if layers is None:
                return sides
            return {name: {k: (left[k], right[k]) for k in layers} for name, (left, right) in sides.items()}
        seqs, spans = [], {}
        for name, b in batch.items():
            spans[name] = (len(seqs), len(seqs) + len(b.left_tokens), len(seqs) + len(b.left_tokens) + len(b.right_tokens))
            seqs += b.left_tokens + b.right_tokens
        packed = self.embed_packed(seqs, layers)
        if layers is None:
            return {name: (_trim(packed[a:b]), _trim(packed[b:c])) for name, (a, b, c) in spans.items()}
        return {name: {k: (_trim(packed[k][a:b]), _trim(packed[k][b:c])) for k in layers}
                for name, (a, b, c) in spans.items()}

    def graph_loss(self, name: str, batch, embedded: tuple[Embeddings, Embeddings] | dict | None = None
                   ) -> torch.Tensor:
        """The configured loss of one graph on the global batch (gathered over processes under DDP).

        ``embedded``: the batch's (left, right) embeddings from :meth:`embed_step` (with 2D Matryoshka,
        ``{depth: (left, right)}``, and the loss is :meth:`Matryoshka.loss` over their views); encoded here when
        None. Scores and loss run in fp32 even under bf16 autocast: logits are scores / tau with tau down to
        0.02, and bf16's 8-bit mantissa would round logits near 50 to steps of 0.25.
        """
        if embedded is None:
            layers = self.step_layers()
            left, right = self._embed(batch.left, layers), self._embed(batch.right, layers)
            embedded = (left, right) if layers is None else {k: (left[k], right[k]) for k in layers}
        views = embedded if isinstance(embedded, dict) else {None: embedded}
        views = {k: tuple(gather_embeddings(e.to(dtype=torch.float32)) for e in sides) for k, sides in views.items()}
        left_ids, right_ids = gather_ids(batch.left_ids), gather_ids(batch.right_ids)
        pairs = global_pairs(batch.pairs, len(batch.left), len(batch.right)).to(self.device)
        pos = self._batches.samplers[name].positives(left_ids.cpu(), right_ids.cpu()).to(self.device)
        tau = self.hparams.graphs[name]["tau"]
        with torch.autocast(self.device.type, enabled=False):
            if self.matryoshka is None:
                return self.loss_fn(self.head(*views[None]), pos, tau, pairs)
            return self.matryoshka.loss(views, lambda q, t: self.loss_fn(self.head(q, t), pos, tau, pairs))

    def preference_loss(self, batch: TripleBatch) -> torch.Tensor:
        """The preference loss of a batch of triples: one packed pass over queries, chosen and rejected texts;
        the reference's scores come with the batch (computed once, before training)."""
        n = len(batch.query_tokens)
        packed = self.embed_packed(batch.query_tokens + batch.chosen_tokens + batch.rejected_tokens)
        q, c, r = (_trim(packed[a:a + n]).to(dtype=torch.float32) for a in (0, n, 2 * n))
        with torch.autocast(self.device.type, enabled=False):
            scores = triple_scores(self.head, q, c, r)
            reference = None if batch.reference is None else batch.reference.to(self.device)
            loss = self.loss_fn(scores, reference)
        margin = (scores[:, 0] - scores[:, 1]).detach()
        self.log("train/preference_accuracy", (margin > 0).float().mean(), batch_size=n)
        if reference is not None:
            gain = margin - (reference[:, 0] - reference[:, 1])
            self.log("train/margin_over_reference", gain.mean(), batch_size=n)
        return loss

    def training_step(self, batch: dict | TripleBatch, batch_idx: int) -> torch.Tensor:
        # Dropout masks depend on the step alone, so a resumed run draws the same ones.
        torch.manual_seed(hash((self.hparams.seed, self.global_step, self.global_rank)) % 2**63)
        if isinstance(batch, TripleBatch):
            return self._checked(self.preference_loss(batch))
        embedded = self.embed_step(batch, self.step_layers())
        total = 0.0
        for name, graph_batch in batch.items():
            loss = self.graph_loss(name, graph_batch, embedded[name])
            self.log(f"train/{name}/loss", loss.detach(), batch_size=len(graph_batch.right))
            total = total + self.hparams.graphs[name]["alpha"] * loss
        return self._checked(total)

    def _checked(self, total: torch.Tensor) -> torch.Tensor:
        """The step's loss, logged, or a stop naming the checkpoints kept when it is NaN or infinite."""
        if not torch.isfinite(total):
            raise NonFiniteLossError(
                f"step {self.global_step}: the loss is {total.item()} (graph losses above); training stopped, "
                f"{self.checkpoints_kept()}. Lower optimizer.lr or raise tau."
            )
        self.log("train/loss", total.detach(), prog_bar=True, batch_size=1)
        return total

    def optimizer_step(self, *args, **kwargs) -> None:
        """The optimizer step, then a stop if it made the weights non-finite (a huge learning rate does), before
        any validation, callback or checkpoint sees them. Costs one fused norm over the weights and one device
        sync per step (``bench/bench_weight_guard.py``)."""
        super().optimizer_step(*args, **kwargs)
        bad = self.non_finite_parameters()
        if bad:
            raise NonFiniteWeightsError(
                f"step {self.global_step}: the optimizer step made {len(bad)} weight tensor(s) NaN, infinite or too "
                f"large for float32 (e.g. {', '.join(bad[:3])}); training stopped, {self.checkpoints_kept()}. "
                "Lower optimizer.lr."
            )

    def non_finite_parameters(self) -> list[str]:
        """Names of the weight tensors whose norm is not finite: a NaN, an infinity, or values so large (1e19 and
        up) that the squares overflow, which no working model has. The total norm is one fused pass; the
        tensors are named only when it is not finite."""
        named = [(n, p.detach()) for n, p in self.named_parameters() if p.is_floating_point()]
        if not named or bool(torch.isfinite(torch.nn.utils.get_total_norm([p for _, p in named]))):
            return []
        return [n for n, p in named if not bool(torch.isfinite(torch.linalg.vector_norm(p)))] or ["(their sum)"]

    def checkpoints_kept(self) -> str:
        """What a stopped run leaves: the checkpoint files that exist now, by name, or that none was written."""
        callbacks = self.trainer.checkpoint_callbacks if self._trainer is not None else []
        found = []  # a monitored callback keeps the best; an unmonitored one the latest (last.ckpt)
        for callback in callbacks:
            found += [("last written", callback.last_model_path),
                      ("best" if callback.monitor else "last written", callback.best_model_path)]
        paths = {}
        for role, path in sorted(found, key=lambda rp: rp[0] != "last written"):  # the last written first
            if path and Path(path).is_file() and role not in paths.get(str(path), []):
                paths.setdefault(str(path), []).append(role)
        if not paths:
            return "and no checkpoint was written yet (the first is written at the first validation)"
        return "the checkpoints kept are " + " and ".join(f"{p} ({', '.join(r)})" for p, r in paths.items())

    def validation_step(self, batch, batch_idx) -> None:
        pass

    def on_validation_epoch_end(self) -> None:
        """WorkBench val splits (sub-sampled, seeded): ``val/<task>/map`` and ``val/macro_map``."""
        if not self._val_tasks:
            return
        # On the training device; bf16 encoding when training runs in bf16 (val numbers only pick checkpoints).
        precision = "bf16" if str(self.trainer.precision).startswith("bf16") else "32"
        scorer = EncoderScorer(self.encoder, self.head, cache_dir=None, show_progress=False, precision=precision)
        try:
            results = {t.key: evaluate_task(scorer, t, show_progress=False) for t in self._val_tasks}
        except ValueError as err:  # NaN scores: say why when the model itself is broken
            if self._outputs_finite():
                raise
            raise NonFiniteWeightsError(
                f"step {self.global_step}: validation found the model's outputs NaN or infinite (its weights have "
                f"diverged); training stopped, {self.checkpoints_kept()}. Lower optimizer.lr."
            ) from err
        for r in results.values():
            self.log(f"val/{r.key.split('/')[0]}/map", r.metrics["map"], batch_size=1)
        overall = macro(results)
        if overall is None:  # not every group validated: the mean over what was
            overall = {m: sum(r.metrics[m] for r in results.values()) / len(results) for m in ("map", "rp@10")}
        self.log("val/macro_map", overall["map"], prog_bar=True, batch_size=1)
        self.log("val/macro_rp@10", overall["rp@10"], batch_size=1)
        self.val_history.append({"step": self.global_step, "macro_map": overall["map"], "macro_rp@10": overall["rp@10"],
                                 **{r.key.split("/")[0]: r.metrics["map"] for r in results.values()}})

    def _outputs_finite(self) -> bool:
        """Whether the encoder's embeddings of a few validation queries are all finite."""
        texts = [q for t in self._val_tasks for q in t.queries[:2]]
        out = self.encoder.encode(texts, show_progress=False, out_device=self.device)
        return bool(torch.isfinite(out.pooled).all()) and (out.tokens is None or bool(torch.isfinite(out.tokens).all()))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["uwe_val_history"] = list(self.val_history)
        if isinstance(self._batches, MixBatches) and self._guard is not None:
            checkpoint["uwe_mined"] = {name: torch.from_numpy(s.mined) for name, s in self._batches.samplers.items()
                                       if s.mined is not None}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.val_history = list(checkpoint.get("uwe_val_history", []))
        if isinstance(self._batches, MixBatches):
            for name, mined in checkpoint.get("uwe_mined", {}).items():
                if name in self._batches.samplers:
                    self._batches.samplers[name].mined = mined.numpy()

    # optimisation -----------------------------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = hydra.utils.instantiate(self.hparams.optimizer)(self.parameters())  # a _partial_ config
        total = max(1, self.trainer.max_steps)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(self.hparams.warmup_ratio * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _unchunk(outs: list[Embeddings], order: torch.Tensor) -> Embeddings:
    """The embeddings of length-sorted chunks back in input order, token states padded to the longest chunk."""
    pooled = torch.cat([o.pooled for o in outs])[order]
    if outs[0].tokens is None:
        return Embeddings(pooled)
    width = max(o.tokens.shape[1] for o in outs)
    tokens = torch.cat([F.pad(o.tokens, (0, 0, 0, width - o.tokens.shape[1])) for o in outs])[order]
    mask = torch.cat([F.pad(o.mask, (0, width - o.mask.shape[1])) for o in outs])[order]
    return Embeddings(pooled, tokens, mask)


def _trim(emb: Embeddings) -> Embeddings:
    """Rows cut out of a packed batch: token states trimmed to their own longest text."""
    if emb.tokens is None:
        return emb
    width = int(emb.mask.sum(1).max()) if len(emb) else 0
    return Embeddings(emb.pooled, emb.tokens[:, :width], emb.mask[:, :width])


def global_pairs(pairs: torch.Tensor, n_left: int, n_right: int) -> torch.Tensor:
    """Local sampled pairs [P, 2] -> rows/columns of the gathered global batch (offsets of earlier ranks)."""
    sizes = gather_ids(torch.tensor([n_left, n_right], dtype=torch.int64)).view(-1, 2)
    if len(sizes) == 1:
        return pairs
    all_pairs, offsets = [], torch.zeros(2, dtype=torch.int64)
    gathered = gather_ids(pairs.flatten()).view(-1, 2)
    counts = gather_ids(torch.tensor([len(pairs)], dtype=torch.int64))
    for n, size in zip(counts.tolist(), sizes):
        all_pairs.append(gathered[:n] + offsets)
        gathered, offsets = gathered[n:], offsets + size
    return torch.cat(all_pairs)
