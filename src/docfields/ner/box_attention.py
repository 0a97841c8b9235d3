"""LayoutLM (v1) with a relative 2-D attention bias: what a word sees depends on where the others sit.

LayoutLM v1 adds each word's absolute box to its embedding. From scratch, on a few hundred
pages, a model uses absolute places to memorize where fields sat on its training pages, and
on unseen documents it did no better than the same model without boxes. LayoutLMv3 and
ERNIE-Layout add instead, to every attention score, a learned bias for how far the key word
sits from the query word, horizontally and vertically (distances cut into log-spaced buckets).
Relations ("the value to the right of its label, the amount below its heading") carry over to
unseen documents; places do not. The bias costs two small tables (buckets x heads) and one
``(heads, tokens, tokens)`` addition per layer.

``LayoutLMWithBoxBias`` is ``LayoutLMForTokenClassification`` with that bias; its config holds
``box_attention`` (buckets, max_distance, absolute_boxes). ``absolute_boxes=False`` keeps the boxes
out of the embeddings (every word gets the zero box there), so the model sees relations only.
Its weights keep LayoutLM's names plus ``box_attention_bias.*``: a plain ``LayoutLMForTokenClassification``
loads them without the bias (and says so); ``load_checkpoint`` picks this class from the config.
``LayoutLMMaskedLMWithBoxBias`` is the same encoder under a masked-word head, for pre-training
(``docfields.ner.pretrain``); ``BoxBiasMixin`` is what the two share.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from transformers import LayoutLMConfig, LayoutLMForMaskedLM, LayoutLMForTokenClassification
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.layoutlm.modeling_layoutlm import LayoutLMSelfAttention

CONFIG_KEY = "box_attention"  # the config attribute that holds BoxAttention


class BoxAttention(BaseModel):
    """The relative 2-D attention bias of a model, stored in its config as ``box_attention``."""

    model_config = ConfigDict(extra="forbid")

    buckets: int = Field(default=64, ge=4, description="Distance buckets per axis, both directions")
    max_distance: int = Field(default=512, ge=2, description="Distances (0..1000 page units) beyond share a bucket")
    absolute_boxes: bool = Field(default=False, description="Also add each word's own box to its embedding")


def relative_buckets(distance: torch.Tensor, buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bidirectional buckets: half per sign; small distances exact, larger ones log-spaced.

    >>> relative_buckets(torch.tensor([-600, -3, 0, 3, 14, 600]), 64, 512).tolist()
    [31, 3, 0, 35, 46, 63]
    """
    half = buckets // 2
    exact = half // 2
    offset = (distance > 0).long() * half
    size = distance.abs()
    scaled = torch.log(size.float().clamp(min=1) / exact) / math.log(max_distance / exact) * (half - exact)
    spaced = (exact + scaled.long()).clamp(max=half - 1)
    return offset + torch.where(size < exact, size, spaced)


class BoxAttentionBias(nn.Module):
    """Per-head bias for every (query, key) pair from their horizontal and vertical distances.

    Distances are between left edges and between bottom edges (as LayoutLMv3). The tables start
    at zero: an untrained bias changes nothing.
    """

    def __init__(self, heads: int, settings: BoxAttention) -> None:
        super().__init__()
        self.settings = settings
        self.x_buckets = nn.Embedding(settings.buckets, heads)
        self.y_buckets = nn.Embedding(settings.buckets, heads)
        nn.init.zeros_(self.x_buckets.weight)
        nn.init.zeros_(self.y_buckets.weight)

    def forward(self, bbox: torch.Tensor) -> torch.Tensor:
        """``(batch, tokens, 4)`` boxes -> ``(batch, heads, query, key)`` additive attention bias."""
        buckets, limit = self.settings.buckets, self.settings.max_distance
        x, y = bbox[..., 0], bbox[..., 3]
        dx = relative_buckets(x[:, None, :] - x[:, :, None], buckets, limit)
        dy = relative_buckets(y[:, None, :] - y[:, :, None], buckets, limit)
        return (self.x_buckets(dx) + self.y_buckets(dy)).permute(0, 3, 1, 2)


class BiasedSelfAttention(LayoutLMSelfAttention):
    """LayoutLM's self-attention with ``box_bias`` (passed down as a keyword) added to its mask."""

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        bias = kwargs.pop("box_bias", None)
        if bias is not None:
            attention_mask = bias.to(hidden_states.dtype) if attention_mask is None else attention_mask + bias
        return super().forward(hidden_states, attention_mask, **kwargs)


class BoxBiasMixin:
    """The box bias of a LayoutLM model with a ``layoutlm`` encoder: shared by the tagger and its pre-training.

    ``install_box_bias`` replaces every layer's self-attention by ``BiasedSelfAttention`` and adds
    ``box_attention_bias``; ``box_inputs`` turns the boxes of a call into that bias (and zeroes
    the boxes of the embeddings unless ``absolute_boxes``). Both head classes keep the same weight
    names, so a pre-trained encoder loads into a tagger key for key.
    """

    layoutlm: Any
    post_init: Any

    def install_box_bias(self, config: LayoutLMConfig) -> None:
        """Swap in biased attention and the bias tables; call from ``__init__`` after the base class's."""
        self.settings = BoxAttention.model_validate(getattr(config, CONFIG_KEY, None) or {})
        for layer in self.layoutlm.encoder.layer:
            layer.attention.self = BiasedSelfAttention(config)
        self.box_attention_bias = BoxAttentionBias(config.num_attention_heads, self.settings)
        self.post_init()  # initializes the new attention weights as the rest
        nn.init.zeros_(self.box_attention_bias.x_buckets.weight)
        nn.init.zeros_(self.box_attention_bias.y_buckets.weight)

    def box_inputs(self, bbox: torch.Tensor | None, kwargs: dict[str, Any]) -> torch.Tensor | None:
        """The boxes to hand LayoutLM's forward; puts the attention bias into ``kwargs`` as ``box_bias``."""
        if bbox is None:
            return None
        kwargs["box_bias"] = self.box_attention_bias(bbox)
        return bbox if self.settings.absolute_boxes else torch.zeros_like(bbox)


class LayoutLMWithBoxBias(BoxBiasMixin, LayoutLMForTokenClassification):
    """LayoutLM token classification whose attention sees relative word positions (see module doc)."""

    def __init__(self, config: LayoutLMConfig) -> None:
        super().__init__(config)
        self.install_box_bias(config)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        bbox: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """LayoutLM's forward; ``labels`` is named because the Trainer finds label columns in this signature."""
        bbox = self.box_inputs(bbox, kwargs)
        return super().forward(input_ids=input_ids, bbox=bbox, attention_mask=attention_mask, labels=labels, **kwargs)


class LayoutLMMaskedLMWithBoxBias(BoxBiasMixin, LayoutLMForMaskedLM):
    """LayoutLM masked language model with the tagger's box bias: pre-training for ``LayoutLMWithBoxBias``.

    With ``labels`` only the masked positions go through the vocabulary projection (``logits`` is
    then ``(masked tokens, vocab)``): for a small model with a corpus vocabulary that projection
    over every token is most of the cost of a step. With ``layout_classes`` in the config
    (``docfields.ner.pretrain``: the layout objective) a small ``layout_head`` also predicts each
    masked word's layout class (``layout_labels``, -100 where none), its loss added to the
    masked-word loss. The tagger loads ``layoutlm.*`` and ``box_attention_bias.*`` and leaves
    ``cls.*`` and ``layout_head.*``.
    """

    def __init__(self, config: LayoutLMConfig) -> None:
        super().__init__(config)
        classes = int(getattr(config, "layout_classes", 0) or 0)
        self.layout_head = nn.Linear(config.hidden_size, classes) if classes else None
        self.install_box_bias(config)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        bbox: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        layout_labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """Masked-word logits (and ``layout_logits``) of the masked positions, or of all without ``labels``."""
        bbox = self.box_inputs(bbox, kwargs)
        hidden = self.layoutlm(input_ids, bbox, attention_mask=attention_mask, **kwargs)[0]
        kept = None if labels is None else labels != -100
        if kept is not None:
            hidden = hidden[kept]
        output = MaskedLMOutput(logits=self.cls(hidden))
        if kept is not None:
            output["loss"] = nn.functional.cross_entropy(output.logits.float(), labels[kept])
        if self.layout_head is not None:
            output["layout_logits"] = self.layout_head(hidden)
            if kept is not None and layout_labels is not None:
                output["loss"] = output.loss + nn.functional.cross_entropy(
                    output["layout_logits"].float(), layout_labels[kept], ignore_index=-100
                )
        return output


def has_box_bias(config: Any) -> bool:
    """Whether a model config asks for ``LayoutLMWithBoxBias``."""
    return getattr(config, "model_type", None) == "layoutlm" and getattr(config, CONFIG_KEY, None) is not None
