"""A byte-level T5 text-to-text model: build from a named config or a checkpoint, save, load,
and generate in batches.

Bytes are the vocabulary (ByT5's ids: ``byte + 3``, pad 0, EOS 1), so no tokenizer file is needed
and a model trained here loads in plain ``transformers`` with ``ByT5Tokenizer``. Named configs are
sized for CPUs: the default trains to near the best achievable accuracy on the date task in
minutes on two cores. ``google/byt5-small`` or any local T5 directory with a byte vocabulary
works through the same code.

>>> model = Seq2SeqModel.load("models/dates")            # doctest: +SKIP
>>> model.generate(["Convert dates to YYYY-MM-DD: 12/31/00"])  # doctest: +SKIP
['2000-12-31']
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docfields import storage
from docfields.errors import NormalizerError
from docfields.hflogging import quiet_transformers

if TYPE_CHECKING:
    import numpy as np
    import torch
    from transformers import T5ForConditionalGeneration

logger = logging.getLogger(__name__)

PAD_ID, EOS_ID, BYTE_OFFSET = 0, 1, 3
BYTE_VOCAB = 384  # ByT5's size: 3 specials + 256 bytes + 125 unused ids
PROMPT_ID0, MAX_PROMPT_TOKENS = BYTE_OFFSET + 256, BYTE_VOCAB - BYTE_OFFSET - 256
CARD_FILE = "docfields_seq2seq.json"
Decoding = Literal["loop", "hf"]

# Named configs for CPUs. ByT5 puts most layers in the encoder (bytes need more reading than
# writing); decoding cost grows with decoder layers, so the decoder stays shallow. cpu-small
# (3.9M parameters) reaches 99% of the best achievable accuracy on the date task in 15 minutes
# on two cores (trained on most-likely answers, see dates.generate_date_examples) and decodes about
# 1,000 strings/s there; cpu-tiny is for tests.
NAMED_CONFIGS: dict[str, dict[str, int | float | str]] = {
    "cpu-small": dict(d_model=256, d_ff=512, d_kv=64, num_heads=4, num_layers=3, num_decoder_layers=2),
    "cpu-tiny": dict(d_model=128, d_ff=256, d_kv=32, num_heads=4, num_layers=2, num_decoder_layers=1),
}
DEFAULT_CONFIG = "cpu-small"


class ModelCard(BaseModel):
    """What docfields needs to know about a saved model, stored as ``docfields_seq2seq.json``."""

    model_config = ConfigDict(extra="allow")

    tokenizer: Literal["byte"] = "byte"
    max_source_length: int = Field(default=128, ge=8, description="Longer inputs are cut (bytes)")
    max_target_length: int = Field(default=32, ge=2, description="Generation stops here (bytes)")
    prompt_template: str | None = Field(default=None, description="e.g. 'Convert dates to {target}: {text}'")
    base: str = Field(default=DEFAULT_CONFIG, description="Named config or checkpoint it started from")
    prompt_tokens: list[str] = Field(
        default_factory=list,
        max_length=MAX_PROMPT_TOKENS,
        description="Prompts encoded as one id each (ByT5's unused ids 259+i) instead of bytes",
    )
    eval_accuracy: float | None = None
    train_steps: int | None = None
    train_seconds: float | None = None


@dataclass(frozen=True)
class ByteCodec:
    """Text <-> ByT5 ids, without a tokenizer object (a plain ``encode`` is 20x faster).

    A text that starts with one of ``prompts`` has that prefix replaced by a single id: a fixed
    instruction such as ``Convert dates to YYYY-MM-DD: `` is 29 bytes of the 40 a date prompt
    has, and the encoder's cost grows with length, so one id for it halves training and
    inference time. Any other text is plain bytes, as in ByT5.
    """

    prompts: tuple[str, ...] = ()

    def to_ids(self, text: str, max_length: int) -> list[int]:
        """Ids of one text, prompt id first when it has a known prompt, without EOS."""
        head: list[int] = []
        matches = [(len(p), i) for i, p in enumerate(self.prompts) if text.startswith(p)]
        if matches:
            size, i = max(matches)  # the longest prompt wins when one extends another
            head, text = [PROMPT_ID0 + i], text[size:]
        body = [b + BYTE_OFFSET for b in text.encode("utf-8")]
        return (head + body)[: max_length - 1]

    def encode_batch(self, texts: Sequence[str], max_length: int) -> np.ndarray:
        """Right-padded ids with EOS, cut to ``max_length`` (EOS included)."""
        import numpy as np

        rows = [self.to_ids(t, max_length) for t in texts]
        width = max((len(r) for r in rows), default=0) + 1
        out = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
            out[i, len(row)] = EOS_ID
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """Bytes up to the first EOS; special and unused ids are skipped, bad UTF-8 replaced."""
        data = bytearray()
        for i in ids:
            if i == EOS_ID:
                break
            if BYTE_OFFSET <= i < BYTE_OFFSET + 256:
                data.append(i - BYTE_OFFSET)
        return data.decode("utf-8", errors="replace").strip()


def build_model(base: str = DEFAULT_CONFIG, seed: int = 0) -> T5ForConditionalGeneration:
    """A model from a named config (random weights, seeded), a local directory, or a hub name.

    Only a hub name downloads anything, and only because the user asked for it by name.

    Raises:
        NormalizerError: when the checkpoint cannot be loaded or has no byte vocabulary.
    """
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    if base in NAMED_CONFIGS:
        torch.manual_seed(seed)
        config = T5Config(
            vocab_size=BYTE_VOCAB, feed_forward_proj="gated-silu", dropout_rate=0.0,
            pad_token_id=PAD_ID, eos_token_id=EOS_ID,
            decoder_start_token_id=PAD_ID, **NAMED_CONFIGS[base],
        )  # fmt: skip
        return T5ForConditionalGeneration(config)
    try:
        with quiet_transformers():
            model = T5ForConditionalGeneration.from_pretrained(base)
    except (OSError, ValueError) as exc:
        known = ", ".join(NAMED_CONFIGS)
        raise NormalizerError(f"{base}: not a named config ({known}) nor a loadable T5: {exc}") from exc
    if model.config.vocab_size < BYTE_OFFSET + 256:
        raise NormalizerError(f"{base}: vocabulary of {model.config.vocab_size} is not byte-level")
    return model


class Seq2SeqModel:
    """A loaded model with its card; ``generate`` turns prompts into texts in batches."""

    def __init__(self, model: T5ForConditionalGeneration, card: ModelCard) -> None:
        self.model = model.eval()
        self.card = card
        self.codec = ByteCodec(tuple(card.prompt_tokens))
        self._bf16: T5ForConditionalGeneration | None = None

    def refresh(self) -> None:
        """Forget the bfloat16 inference copy; call after changing the weights (training)."""
        self._bf16 = None

    @property
    def device(self) -> torch.device:
        """Where the weights are: inputs go there, outputs come back to the CPU."""
        from docfields.device import model_device

        return model_device(self.model)

    def _net(self, bf16: bool) -> T5ForConditionalGeneration:
        """The network to run: the model itself, or (once made) a bfloat16 copy of it, on the model's device.

        Casting the weights once beats autocast, which re-casts every weight on every call. ``bf16``
        is the CPU's choice; a GPU with native bfloat16 always runs the copy (``use_bf16``).
        """
        import copy

        import torch

        from docfields.device import use_bf16

        if not use_bf16(self.device, cpu_default=bf16):
            return self.model.eval()
        if self._bf16 is None:
            self._bf16 = copy.deepcopy(self.model).eval().to(torch.bfloat16)
        return self._bf16

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Seq2SeqModel:
        """Load a directory written by ``save`` (or any T5 directory with a byte vocabulary) onto ``device``.

        Raises:
            NormalizerError: naming the directory when it is missing or unusable.
            ModelError: ``device`` is unknown, or ``cuda`` where torch sees no GPU.
        """
        from docfields.device import resolve_device

        target = resolve_device(device)
        path = Path(path)
        if not (path / "config.json").exists():
            raise NormalizerError(f"{path}: not a model directory (no config.json)")
        card = ModelCard()
        if (path / CARD_FILE).exists():
            try:
                card = ModelCard.model_validate_json((path / CARD_FILE).read_text(encoding="utf-8"))
            except ValidationError as exc:
                raise NormalizerError(f"{path / CARD_FILE}: invalid model card: {exc}") from exc
        return cls(build_model(str(path)).to(target), card)

    def save(self, path: str | Path) -> Path:
        """Write ``save_pretrained`` files, a ByT5 tokenizer config and the card."""
        from transformers import ByT5Tokenizer

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.model.save_pretrained(str(path))
            ByT5Tokenizer().save_pretrained(str(path))
        storage.write_text_atomic(str(path / CARD_FILE), self.card.model_dump_json(indent=2))
        return path

    def generate(
        self,
        texts: Sequence[str],
        batch_size: int = 256,
        decoding: Decoding = "loop",
        bf16: bool = True,
    ) -> list[str]:
        """Greedy outputs for ``texts``, in order; the work is done in length-sorted batches.

        Args:
            texts: Prompts, e.g. ``Convert dates to YYYY-MM-DD: 12/31/00``.
            batch_size: Prompts per forward pass.
            decoding: ``loop`` (our cached greedy loop, fastest) or ``hf`` (``generate``).
            bf16: Run in bfloat16 on the CPU: faster, same answers here (a GPU with native bfloat16
                always does).
        """
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        outputs: list[str] = [""] * len(texts)
        net = self._net(bf16)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                ids = self._generate_ids(net, [texts[i] for i in chunk], decoding)
                for i, row in zip(chunk, ids.cpu().tolist(), strict=True):
                    outputs[i] = self.codec.decode(row)
        return outputs

    def _generate_ids(
        self, net: T5ForConditionalGeneration, texts: list[str], decoding: Decoding
    ) -> torch.Tensor:
        import torch

        ids = torch.from_numpy(self.codec.encode_batch(texts, self.card.max_source_length)).to(self.device)
        mask = ids.ne(PAD_ID)
        if decoding == "hf":
            out = net.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=self.card.max_target_length,
                do_sample=False, num_beams=1, use_cache=True,
            )  # fmt: skip
            return out[:, 1:]
        from docfields.normalize.decoding import greedy_decode

        return greedy_decode(net, ids, mask, self.card.max_target_length)
