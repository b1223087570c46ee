"""The per-batch work, engine-free: a pandas frame of ads in, a pandas frame of annotations out.

:func:`annotate_frame` is a plain function of a frame and an extractor; :class:`Annotator` loads the model once
and maps frames with it. Ray Data's actors (:mod:`uwe.annotate.pipeline`), Spark's ``mapInPandas``, Dask's
``map_partitions`` and a test all call the same object::

    annotator = Annotator(ModelSpec("minilm"), AnnotateOptions(text_column="description"))
    annotations = annotator(pd.DataFrame({"id": ["a1"], "description": ["Data Engineer\\n- Python and SQL"]}))

A row's skills and occupations are those of ``Ranker.extract(text, title)`` (probabilities equal up to float32
rounding of the batch, about 1e-6): the sentences of all the batch's ads are encoded together
(:meth:`uwe.extract.Extractor.extract_many`), so the encoder sees full batches across short ads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from uwe.annotate.options import AnnotateOptions, ModelSpec
from uwe.annotate.rows import check_columns, id_text, is_missing, row_errors
from uwe.annotate.schema import output_schema
from uwe.extract.checks import AdError


def annotate_frame(frame: pd.DataFrame, extractor, options: AnnotateOptions,
                   duplicates: frozenset[int] = frozenset()) -> pd.DataFrame:
    """The annotations of ``frame``'s rows, in order, with the columns of :func:`uwe.annotate.schema.output_schema`.

    Args:
        frame: the ads; ``options`` names its id, text and title columns (a missing one is a UserError).
        extractor: a :class:`uwe.extract.Extractor` (its ranker encodes the embeddings).
        duplicates: row positions whose id an earlier batch already had (they get ``error``).

    A bad row (missing or duplicate id, a text that is not a string, empty, too long, binary or not English)
    gets its reason in ``error`` and nothing else; the other rows are annotated.
    """
    check_columns(list(frame.columns), options.column_options, "the batch")
    ids = frame[options.id_column].tolist()
    texts = frame[options.text_column].tolist()
    titles = frame[options.title_column].tolist() if options.title_column else None
    errors = row_errors(ids, texts, titles, options.max_chars, options.any_language, duplicates)
    good = [i for i, error in enumerate(errors) if error is None]
    found: dict[int, object] = {}
    for start in range(0, len(good), options.batch_size):
        rows = good[start:start + options.batch_size]
        batch_titles = None if titles is None else [None if is_missing(titles[i]) else titles[i] for i in rows]
        for i, result in zip(rows, extractor.extract_many([texts[i] for i in rows], batch_titles, options.min_prob,
                                                          any_language=options.any_language)):
            if isinstance(result, AdError):
                errors[i] = ("not extractable", str(result))
            else:
                found[i] = result
    # object columns: a missing id, title or error stays None (pandas 3 would make a string column's None NaN)
    out = pd.DataFrame({
        "id": pd.Series([None if is_missing(v) else id_text(v) for v in ids], dtype=object),
        "title": pd.Series([found[i].title if i in found else None for i in range(len(ids))], dtype=object),
        "occupations": [[{"uri": o.uri, "label": o.label, "probability": o.probability} for o in found[i].occupations]
                        if i in found else [] for i in range(len(ids))],
        "skills": [[{"uri": s.uri, "label": s.label, "probability": s.probability,
                     "evidence": [{"start": e.start, "end": e.end, "probability": e.probability} for e in s.evidence]}
                    for s in found[i].skills] if i in found else [] for i in range(len(ids))],
    })
    if options.embeddings is not None:
        out["embedding"] = _embeddings(extractor.ranker, texts, sorted(found), len(ids), options.embeddings)
    out["error"] = pd.Series([None if error is None else error[1] for error in errors], dtype=object)
    counts: dict[str, int] = {}
    for error in errors:
        if error is not None:
            counts[error[0]] = counts.get(error[0], 0) + 1
    out.attrs["error_counts"] = counts  # bad rows by kind (uwe.annotate.rows.KINDS), for the totals
    return out


def _embeddings(ranker, texts: list, rows: list[int], n: int, dtype: str) -> list:
    """Each annotated row's pooled vector (the whole ad, as the encoder truncates it) in ``dtype``; None elsewhere."""
    out: list = [None] * n
    if rows:
        pooled = ranker.retriever.encode_queries([texts[i] for i in rows]).pooled.float().cpu().numpy()
        for i, vector in zip(rows, pooled.astype(np.dtype(dtype))):
            out[i] = vector
    return out


class Annotator:
    """Loads the model once (``spec``) and annotates frames with it: ``annotator(frame) -> frame``.

    Args:
        spec: the model and its CPU threads.
        options: columns and decisions.
        calibration: the model's :class:`uwe.extract.Calibration` (default: the export's or the cache's, or
            fitted now; a pipeline passes the one its driver loaded so workers never refit it).
    """

    def __init__(self, spec: ModelSpec, options: AnnotateOptions, calibration=None):
        from uwe.extract import Extractor

        self.options = options
        self.ranker = spec.load()
        self.extractor = Extractor(self.ranker, calibration)
        self.dim = self.ranker.encoder.dim

    def __call__(self, frame: pd.DataFrame, duplicates: frozenset[int] = frozenset()) -> pd.DataFrame:
        return annotate_frame(frame, self.extractor, self.options, duplicates)

    @property
    def schema(self):
        """The Arrow schema of this annotator's output."""
        return output_schema(self.options.embeddings, self.dim)
