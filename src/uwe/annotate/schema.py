"""The columns ``uwe annotate`` writes, as an Arrow schema (Parquet parts, Ray Data) and as a Spark DDL string
(``mapInPandas``'s ``schema``); both come from one list, so they cannot drift apart.

========== ============================================================ ==========================================
column     type                                                         meaning
========== ============================================================ ==========================================
id         string                                                       the input's id, as text
title      string (null: no title given or found)                       the title the occupations come from
occupations list<struct<uri, label, probability>>                       the 3 best ESCO occupations of the title
skills     list<struct<uri, label, probability,                         the ad's skills, most probable first; each
           evidence: list<struct<start, end, probability>>>>            evidence is ``text[start:end]``
embedding  fixed_size_list<float16|float32>[D] (``--embeddings``)       the ad's pooled vector
error      string (null: annotated)                                     why the row was not annotated
========== ============================================================ ==========================================
"""

from __future__ import annotations

import pyarrow as pa

OCCUPATION = pa.struct([("uri", pa.string()), ("label", pa.string()), ("probability", pa.float64())])
EVIDENCE = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("probability", pa.float64())])
SKILL = pa.struct([("uri", pa.string()), ("label", pa.string()), ("probability", pa.float64()),
                   ("evidence", pa.list_(EVIDENCE))])


def output_schema(embedding_dtype: str | None = None, dim: int | None = None) -> pa.Schema:
    """The Arrow schema of an output part; ``embedding`` only with ``embedding_dtype`` (and its width ``dim``).

    >>> output_schema().names
    ['id', 'title', 'occupations', 'skills', 'error']
    >>> str(output_schema("float16", 4).field("embedding").type)
    'fixed_size_list<item: halffloat>[4]'
    """
    fields = [("id", pa.string()), ("title", pa.string()), ("occupations", pa.list_(OCCUPATION)),
              ("skills", pa.list_(SKILL))]
    if embedding_dtype is not None:
        fields.append(("embedding", pa.list_(pa.from_numpy_dtype(embedding_dtype), dim)))
    fields.append(("error", pa.string()))
    return pa.schema(fields)


def _ddl(kind: pa.DataType) -> str:
    if pa.types.is_struct(kind):
        return "struct<" + ",".join(f"{kind.field(i).name}:{_ddl(kind.field(i).type)}"
                                    for i in range(kind.num_fields)) + ">"
    if pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind):
        return f"array<{_ddl(kind.value_type)}>"
    return {pa.string(): "string", pa.float64(): "double", pa.float32(): "float", pa.float16(): "float",
            pa.int32(): "int"}[kind]


def spark_ddl(embedding_dtype: str | None = None, dim: int | None = None) -> str:
    """The output schema as Spark SQL DDL, for ``df.mapInPandas(fn, schema=spark_ddl())`` (Spark has no
    float16: a float16 vector is a float array there).

    >>> spark_ddl()[:60]
    'id string, title string, occupations array<struct<uri:string'
    """
    return ", ".join(f"{field.name} {_ddl(field.type)}" for field in output_schema(embedding_dtype, dim))
