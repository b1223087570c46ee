"""What every loss shares: :data:`LOSSES`, the registry it joins from its own module of this package with
``@LOSSES.register("<config name>")``; the ``forward(scores, pos_mask, tau, pairs=None)`` every loss has is
described in :mod:`uwe.models.losses`.
"""

from __future__ import annotations

from torch import nn

from uwe.models.registry import Registry

LOSSES: Registry[type[nn.Module]] = Registry("loss", "uwe.models.losses")
"""Config name (``loss.name``, ``conf/loss/<file>.yaml``) -> loss class; every module of the package is imported
on the first lookup, so a loss registers itself from its own file."""
