"""``--device auto|cpu|cuda``: the one place that picks the device, and every command that takes it.

This machine has no GPU: ``auto`` must be the CPU here, ``cuda`` must fail with a message that says
so (before the command's heavy work), and ``--device cpu`` must give what the default gave.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from docfields.cli.main import app
from docfields.cluster.connect import check_ray_device
from docfields.device import (
    autocast,
    check_device,
    confine_processes,
    model_device,
    resolve_device,
    to_device,
    use_bf16,
)
from docfields.errors import ClusterError, ModelError

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
runner = CliRunner()


def test_cpu_is_the_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


@no_gpu
def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_refused():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device() == torch.device("cpu")
    with pytest.raises(ModelError, match="CUDA"):
        resolve_device("cuda")
    with pytest.raises(ModelError, match="CUDA"):
        check_device("cuda")


@pytest.mark.parametrize("check", [resolve_device, check_device, confine_processes])
def test_an_unknown_choice_is_refused_naming_the_choices(check):
    with pytest.raises(ModelError, match=r"unknown device 'gpu'.*auto, cpu, cuda"):
        check("gpu")


def test_to_device_moves_tensors_and_leaves_other_values():
    ids, words = torch.arange(6).view(2, 3), np.array([0, 1, -1])
    moved = to_device({"input_ids": ids, "word_ids": words, "page": 3}, torch.device("meta"))
    assert moved["input_ids"].device.type == "meta" and moved["input_ids"].shape == (2, 3)
    assert moved["word_ids"] is words and moved["page"] == 3
    assert ids.device.type == "cpu"  # a copy moved, not the caller's tensor


def test_bf16_on_the_cpu_is_the_callers_default():
    cpu = torch.device("cpu")
    assert use_bf16(cpu) is False
    assert use_bf16(cpu, cpu_default=True) is True and use_bf16(cpu, cpu_default=False) is False
    with autocast(cpu, enabled=True):
        assert torch.is_autocast_enabled("cpu")
    with autocast(cpu, enabled=False):
        assert not torch.is_autocast_enabled("cpu")


def test_model_device_is_where_the_weights_are():
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.Linear(2, 2, device="meta")).type == "meta"


def test_confine_processes_hides_gpus_only_for_cpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    confine_processes("auto")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    confine_processes("cpu")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


def test_ray_refuses_cuda():
    check_ray_device("cpu")
    check_ray_device("auto")
    with pytest.raises(ClusterError, match="--device cuda with --ray"):
        check_ray_device("cuda")


COMMANDS = {
    "enrich": ["enrich", "in.json", "--model", "no-model", "--out", "out.json"],
    "normalize": ["normalize", "12/31/00", "--normalizer", "date:YYYY-MM-DD"],
    "train seq2seq": ["train", "seq2seq", "--train", "no.jsonl", "--eval", "no.jsonl", "--out", "m"],
    "train ner": ["train", "ner", "--manifest", "no.manifest", "--fields", "no.json", "--out", "m"],
    "process": ["process", "no.pdf", "--model", "no-model"],
    "process --ray": ["process", "no.pdf", "--model", "no-model", "--ray", "local"],
    "watch": ["watch", "in", "--out", "out", "--once"],
    "serve": ["serve"],
    "serve --ray": ["serve", "--ray", "local"],
}


@no_gpu
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_cuda_without_a_gpu(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing named exists there: the device is checked first
    monkeypatch.setenv("DOCFIELDS_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, [*COMMANDS[command], "--device", "cuda"])
    assert result.exit_code != 0
    assert "cuda" in result.output.lower() and "error" in result.output
    assert not (tmp_path / "home").exists() and not (tmp_path / "m").exists()


FIELDS = [{"ClassId": 0, "Name": "Total"}, {"ClassId": 1, "Name": "Date"}]
TEXTS = ["Total", "amount", "due", "Date", "2024-01-31", "12,000", "receipt"] * 20


@pytest.mark.slow
def test_device_cpu_predicts_what_the_default_predicts(tmp_path):
    from docfields.ner import PageExample, Tagger, build_tagger

    pages = [
        PageExample(document="a", page=1, words=("Total", "12,000", "Date"),
                    boxes=((10, 10, 100, 30), (120, 10, 200, 30), (10, 40, 80, 60))),
        PageExample(document="b", page=1, words=("receipt", "2024-01-31"),
                    boxes=((10, 10, 300, 40), (10, 50, 200, 80))),
    ]  # fmt: skip
    path = build_tagger("layoutlm-tiny", FIELDS, TEXTS, seed=5).save(tmp_path / "tagger")
    default, on_cpu = Tagger.load(path), Tagger.load(path, device="cpu")
    assert model_device(on_cpu.model) == torch.device("cpu")
    for bf16 in (False, True):
        expected = default.predict(pages, bf16=bf16)
        got = on_cpu.predict(pages, bf16=bf16)
        assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    with pytest.raises(ModelError, match="unknown device"):
        Tagger.load(path, device="gpu")


@pytest.mark.slow
def test_seq2seq_on_cpu_generates_what_the_default_generates(tmp_path):
    from docfields.normalize.seq2seq import ModelCard, Seq2SeqModel, build_model

    path = Seq2SeqModel(build_model("cpu-tiny", seed=2), ModelCard(max_target_length=8)).save(tmp_path / "m")
    texts = ["Convert dates to YYYY-MM-DD: 12/31/00", "1 Jan 2024"]
    default, on_cpu = Seq2SeqModel.load(path), Seq2SeqModel.load(path, device="cpu")
    assert on_cpu.device == torch.device("cpu")
    assert on_cpu.generate(texts) == default.generate(texts)
    assert on_cpu.generate(texts, bf16=False) == default.generate(texts, bf16=False)
