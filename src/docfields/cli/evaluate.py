"""``docfields evaluate ner``: scoring a saved tagger on a labelled manifest (``docfields.ner.evaluate``)."""

from __future__ import annotations
