"""Run the official WorkRB benchmark (``pip install workrb``, tested with 0.6.0) on a uwe model.

WorkRB's model interface (``workrb.models.base.ModelInterface``) asks for ``compute_rankings(queries, targets,
query_input_type, target_input_type) -> [n queries, n targets]`` scores, the same for classification, and a
``name``/``description``. :class:`UWEWorkRBModel` answers with a :class:`uwe.ranker.Ranker`: each distinct
target list becomes a space cached on disk under ``workrb-<sha256 of the list>``, so a second run of a task
reads its targets back instead of encoding them. UWE is one tower for every input type, so the input types
are accepted and ignored.

    import workrb
    from uwe.integrations.workrb import UWEWorkRBModel

    model = UWEWorkRBModel("outputs/run/model")            # an export folder, a .ckpt or an encoder name
    results = workrb.evaluate(model, tasks=[...], output_folder="results/uwe")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from uwe.ranker import Ranker

try:
    from workrb.models.base import ModelInterface
    from workrb.registry import register_model
except ImportError as err:  # only this module needs workrb; the rest of uwe works without it
    raise ImportError("uwe.integrations.workrb needs the workrb package: pip install workrb==0.6.0") from err


def target_columns(targets: list[str]) -> tuple[list[str], list[int]]:
    """The unique stripped targets, in first-seen order, and for each target its column among them.

    A space needs unique non-empty labels while a benchmark's target list may repeat one (or differ only in
    whitespace); scoring the unique ones and indexing back gives every listed target its score.

    Examples:
        >>> target_columns(["python", "sql ", "python", "sql"])
        (['python', 'sql'], [0, 1, 0, 1])
    """
    position: dict[str, int] = {}
    columns = [position.setdefault(t.strip(), len(position)) for t in targets]
    return list(position), columns


@register_model("UWE")
class UWEWorkRBModel(ModelInterface):
    """A uwe model in WorkRB: ranks with the model's own head against cached target spaces.

    Args:
        model: a :class:`Ranker`, or what :meth:`Ranker.from_pretrained` takes (export folder, ``.ckpt``,
            encoder name).
        head, cache_dir: passed to :meth:`Ranker.from_pretrained` when ``model`` is not a Ranker.
    """

    def __init__(self, model: Ranker | str | Path = "minilm", head: str | None = None,
                 cache_dir: str | Path | None = None, **kwargs):
        self.ranker = model if isinstance(model, Ranker) else Ranker.from_pretrained(model, head=head,
                                                                                    cache_dir=cache_dir)

    @property
    def name(self) -> str:
        return f"UWE-{Path(self.ranker.name).name}"

    @property
    def description(self) -> str:
        info = self.ranker.describe()
        return f"uwe bi-encoder {info['model']} with the {info['head']} scoring head ({info['pooling']} pooling)"

    def _compute_rankings(self, queries: list[str], targets: list[str], query_input_type=None,
                          target_input_type=None) -> torch.Tensor:
        """Scores [len(queries), len(targets)] of every query against every target."""
        unique, columns = target_columns(list(targets))
        space = "workrb-" + hashlib.sha256(json.dumps(unique, ensure_ascii=False).encode()).hexdigest()[:16]
        if space not in self.ranker.spaces():
            self.ranker.add_space(space, unique)
        scores = self.ranker.scores(list(queries), space)
        return scores if len(unique) == len(columns) else scores[:, torch.tensor(columns)]

    def _compute_classification(self, texts: list[str], targets: list[str], input_type=None,
                                target_input_type=None) -> torch.Tensor:
        """Classes as a ranking: the score of each text against each class label."""
        return self._compute_rankings(texts, targets, input_type, target_input_type)

    @property
    def classification_label_space(self) -> list[str] | None:
        """None: uwe has no classification layer; it ranks the labels it is given."""
        return None
