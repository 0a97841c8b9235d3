"""The byte-level T5: real (small) training that learns, save/load, resume, batched decoding.

The training task is the date task narrowed to two months and two input formats, so that a
128-wide model learns it in a few hundred steps on one core; the baseline it must beat is the
share of the most frequent answer.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest

from docfields.errors import NormalizerError
from docfields.normalize import (
    DateDataOptions,
    DateFormat,
    DateFormatTable,
    ModelCard,
    Seq2SeqModel,
    TrainOptions,
    build_model,
    generate_date_examples,
    read_pairs,
    resolve_normalizer,
    train_seq2seq,
    write_pairs,
)
from docfields.normalize.seq2seq import PROMPT_ID0, ByteCodec
from docfields.normalize.training import exact_match, find_prompts

torch = pytest.importorskip("torch")

TABLE = DateFormatTable(formats=(
    DateFormat(pattern="%Y-%m-%d", name="YYYY-MM-DD", observed_weight=1, target_weight=1),
    DateFormat(pattern="%m/%d/%Y", name="MM/DD/YYYY", observed_weight=1, target_weight=0),
))  # fmt: skip


def _write(path, n, seed):
    options = DateDataOptions(n=n, seed=seed, start=date(2021, 1, 1), end=date(2021, 3, 1), table=TABLE)
    examples = generate_date_examples(options)
    return write_pairs([e.src for e in examples], [e.tgt for e in examples], path)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models train faster on one thread, and other tests' thread count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dates")
    return _write(root / "train.jsonl", 4000, 1), _write(root / "eval.jsonl", 200, 2)


def _options(data, output, **changes):
    base = dict(train=str(data[0]), eval=str(data[1]), output=str(output), base="cpu-tiny",
                max_steps=200, eval_every=100, batch_size=32, warmup_steps=30,
                learning_rate=3e-3, seed=7)  # fmt: skip
    return TrainOptions(**(base | changes))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    events = []
    result = train_seq2seq(_options(data, tmp_path_factory.mktemp("model")), events.append)
    return result, events


@pytest.mark.slow
def test_short_training_learns(trained, data):
    result, events = trained
    held_out = read_pairs(data[1])
    baseline = Counter(held_out.tgt).most_common(1)[0][1] / len(held_out)
    assert result.final_accuracy > max(0.5, baseline + 0.4)
    assert result.history[0]["accuracy"] <= result.best_accuracy
    kinds = Counter(e.kind for e in events)
    assert kinds["step"] == 200 and kinds["eval"] == 2 and kinds["done"] == 1


@pytest.mark.slow
def test_saved_model_loads_and_answers_the_same(trained, data):
    result, _ = trained
    model = Seq2SeqModel.load(result.output)
    held_out = read_pairs(data[1])
    assert exact_match(model.generate(held_out.src), held_out.tgt) == pytest.approx(result.final_accuracy)
    card = json.loads((result.output / "docfields_seq2seq.json").read_text())
    assert card["prompt_tokens"] == ["Convert dates to YYYY-MM-DD: "] and card["base"] == "cpu-tiny"
    assert (result.output / "tokenizer_config.json").exists()
    assert json.loads((result.output / "training_history.json").read_text())[-1]["step"] == 200


@pytest.mark.slow
def test_decoding_loop_matches_generate_and_batching_keeps_order(trained, data):
    model = Seq2SeqModel.load(trained[0].output)
    texts = read_pairs(data[1]).src[:40]
    reference = model.generate(texts, decoding="hf", bf16=False)
    assert model.generate(texts, decoding="loop", bf16=False) == reference
    assert model.generate(texts, batch_size=7) == model.generate(texts, batch_size=256)
    assert [model.generate([t])[0] for t in texts[:5]] == model.generate(texts[:5])


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", "no date here", "x" * 20000, "Convert dates to YYYY-MM-DD: ", "日本 ✓"])
def test_bad_inputs_give_strings(trained, text):
    out = Seq2SeqModel.load(trained[0].output).generate([text, "Convert dates to YYYY-MM-DD: 2021-01-05"])
    assert isinstance(out[0], str) and len(out[0]) <= 32


@pytest.mark.slow
def test_hybrid_and_plain_model_from_the_registry(trained):
    directory = str(trained[0].output)
    hybrid = resolve_normalizer(f"date:YYYY-MM-DD;model={directory}")
    results = hybrid.normalize(["13/01/2021", "02/01/2021", "hello"])
    assert results[0].source == "rule" and results[0].value == "2021-01-13"
    assert results[1].source == "model" and results[1].status in ("ok", "invalid")
    if results[1].status == "ok":
        assert results[1].value in ("2021-02-01", "2021-01-02")
    assert results[2].status == "unparsed"
    plain = resolve_normalizer(directory, prompt="Convert dates to YYYY-MM-DD: ")
    assert plain.normalize(["2021-02-03"])[0].source == "model"


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(data, tmp_path):
    out = tmp_path / "m"
    first = train_seq2seq(_options(data, out, max_steps=60, eval_every=20, keep_checkpoints=2))
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["step-40", "step-60"] and first.steps == 60
    again = train_seq2seq(_options(data, out, max_steps=80, eval_every=20, resume=True))
    assert again.steps == 80 and [h["step"] for h in again.history] == [20, 40, 60, 80]


@pytest.mark.slow
def test_fine_tune_from_a_local_checkpoint(trained, data, tmp_path):
    result = train_seq2seq(_options(data, tmp_path / "ft", base=str(trained[0].output), max_steps=10,
                                    eval_every=10, learning_rate=1e-4))  # fmt: skip
    assert result.final_accuracy >= trained[0].final_accuracy - 0.1


def test_codec_prompt_tokens_and_bytes():
    codec = ByteCodec(("Convert dates to ", "Convert dates to ISO: "))
    ids = codec.encode_batch(["Convert dates to ISO: 1", "ab", "Convert dates to X"], 64)
    assert ids[0, :3].tolist() == [PROMPT_ID0 + 1, ord("1") + 3, 1]
    assert ids[1, :3].tolist() == [ord("a") + 3, ord("b") + 3, 1]
    assert ids[2, 0] == PROMPT_ID0
    assert codec.encode_batch(["x" * 100], 16).shape == (1, 16)
    assert codec.decode([ord("h") + 3, 300, ord("i") + 3, 1, ord("z") + 3]) == "hi"


def test_find_prompts_keeps_frequent_instructions():
    sources = ["Convert dates to A: 1"] * 50 + ["Convert dates to B: 2"] * 50 + ["odd: 3"]
    assert find_prompts(sources) == ["Convert dates to A: ", "Convert dates to B: "]


def test_unusable_models_are_refused(tmp_path):
    with pytest.raises(NormalizerError, match="not a model directory"):
        Seq2SeqModel.load(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "docfields_seq2seq.json").write_text('{"max_source_length": 1}')
    with pytest.raises(NormalizerError, match="invalid model card"):
        Seq2SeqModel.load(tmp_path)
    with pytest.raises(NormalizerError, match="named config"):
        build_model(str(tmp_path / "missing"))


def test_named_config_is_small_and_seeded():
    a, b = build_model("cpu-small", seed=3), build_model("cpu-small", seed=3)
    assert sum(p.numel() for p in a.parameters()) < 6_000_000
    assert torch.equal(a.shared.weight, b.shared.weight)
    assert ModelCard().tokenizer == "byte"
