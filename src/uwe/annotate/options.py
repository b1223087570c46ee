"""What an annotation run reads, writes and runs: the columns and decisions (:class:`AnnotateOptions`) and
the model every worker loads (:class:`ModelSpec`). Both are plain, picklable values: a Ray actor, a Spark
executor or a test builds the same annotator from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from uwe.errors import UserError
from uwe.extract.checks import MAX_AD_CHARS

EMBEDDING_DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class AnnotateOptions:
    """Columns in, decisions, and what goes out.

    Args:
        id_column, text_column: the input's id and ad text columns.
        title_column: the job title's column (None: the ad's first line when it reads as one, as ``extract``).
        min_prob: report skills from this probability (None: the calibrated operating point, as ``extract``).
        any_language: annotate ads that do not look English (default: such a row gets an ``error``).
        embeddings: also write the ad's pooled vector as ``float16`` or ``float32`` (None: no vector).
        max_chars: a longer text is a bad row (``error``), not annotated.
        batch_size: ads whose sentences are encoded together (:meth:`uwe.extract.Extractor.extract_many`).
    """

    id_column: str = "id"
    text_column: str = "text"
    title_column: str | None = None
    min_prob: float | None = None
    any_language: bool = False
    embeddings: str | None = None
    max_chars: int = MAX_AD_CHARS
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.embeddings is not None and self.embeddings not in EMBEDDING_DTYPES:
            raise UserError(f"embeddings must be one of {', '.join(EMBEDDING_DTYPES)}, got {self.embeddings!r}")
        if self.min_prob is not None and not 0.0 <= self.min_prob <= 1.0:
            raise UserError(f"min_prob must be a probability from 0 to 1, got {self.min_prob!r}")
        if self.batch_size < 1 or self.max_chars < 1:
            raise UserError(f"batch_size and max_chars must be >= 1, got {self.batch_size} and {self.max_chars}")

    @property
    def columns(self) -> list[str]:
        """The input columns read."""
        return [self.id_column, self.text_column] + ([self.title_column] if self.title_column else [])

    @property
    def column_options(self) -> dict[str, str]:
        """Each input column by the command-line option that names it."""
        return {"--id": self.id_column, "--text": self.text_column,
                **({"--title": self.title_column} if self.title_column else {})}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelSpec:
    """The model each worker loads once (:meth:`uwe.ranker.Ranker.from_pretrained`'s arguments) and the CPU
    threads it runs on (torch and ONNX Runtime; one per worker by default, so N workers use N cores)."""

    model: str = "minilm"
    head: str | None = None
    cache_dir: str | None = None
    data_root: str | None = None
    layers: int | None = None
    dim: int | None = None
    threads: int = 1

    def load(self):
        """The ranker, on ``threads`` CPU threads (set before the ONNX session is built: it takes torch's count)."""
        import torch

        from uwe.ranker import Ranker

        torch.set_num_threads(self.threads)
        return Ranker.from_pretrained(self.model, head=self.head, cache_dir=self.cache_dir, data_root=self.data_root,
                                      show_progress=False, layers=self.layers, dim=self.dim)

    def to_dict(self) -> dict:
        return asdict(self)
