"""WorkBench-offline data: readers for the raw public exports, ranking tasks and training graphs.

Entry points: :func:`uwe.data.catalog.build_task`, :func:`uwe.data.catalog.build_graph`,
:func:`uwe.data.catalog.all_task_keys`; ``python -m uwe.data summary`` prints every size.
"""

PROTOCOL = "workbench-offline-v1"
