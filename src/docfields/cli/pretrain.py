"""``docfields train mlm``: pre-training a tagger base on unlabelled pages (``docfields.ner.pretrain``)."""

from __future__ import annotations
