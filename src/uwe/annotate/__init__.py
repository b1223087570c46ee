"""Annotate a labour market: every ad of a dataset -> its occupation and skills, in Parquet parts.

- :mod:`uwe.annotate.batch`: the engine-free per-batch function (pandas -> pandas) and the :class:`Annotator`
  that loads the model once; Spark's ``mapInPandas`` or Dask can call it as Ray Data does.
- :mod:`uwe.annotate.pipeline`: ``uwe annotate INPUT --out DIR`` on Ray Data, resumable, near-line with ``--watch``.
"""

from uwe.annotate.batch import Annotator, annotate_frame
from uwe.annotate.options import AnnotateOptions, ModelSpec
from uwe.annotate.schema import output_schema, spark_ddl

__all__ = ["AnnotateOptions", "Annotator", "ModelSpec", "annotate_frame", "output_schema", "spark_ddl"]
