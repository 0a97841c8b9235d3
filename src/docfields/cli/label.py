"""``docfields label export``: the next pages worth labelling, as Label Studio tasks (``docfields.annotations.tasks``)."""

from __future__ import annotations
