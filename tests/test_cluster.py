"""docfields on a real Ray cluster: two 1-CPU nodes on this machine, on 127.0.0.1 only.

The cluster starts once for the module (a few seconds) and is shut down by its fixture; every
driver connects to its address explicitly, never to whatever cluster ``/tmp/ray`` remembers.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from docfields.cluster import RayExecutor, RayOcrExecutor, init_arguments, ray_session
from docfields.cluster.connect import LOOPBACK_ONLY
from docfields.errors import ClusterError
from docfields.ocr import BatchOcrOptions, plan_batch_ocr, run_batch_ocr
from docfields.pipeline import Pipeline, PipelineSettings, process_files
from docfields.textract import read_textract

DOCFIELDS = [sys.executable, "-m", "docfields.cli"]
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20, "node_ip_address": "127.0.0.1"}


@pytest.fixture(scope="module")
def cluster() -> Iterator:
    """Head (1 CPU) plus one added node (1 CPU); the environment is set before ray is imported."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv(LOOPBACK_ONLY, "0")  # drivers, nodes and workers all stay on 127.0.0.1
        from ray.cluster_utils import Cluster

        ray_cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
        try:
            ray_cluster.add_node(**NODE)
            ray_cluster.wait_for_nodes()
            yield ray_cluster
        finally:
            ray_cluster.shutdown()


@pytest.fixture
def mixed_corpus(shared_data: Path, tmp_path: Path) -> Path:
    """A born-digital PDF, a scan and a corrupt file."""
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(shared_data / "pdfs" / "scotus-transcript-p1.pdf", root / "transcript.pdf")
    shutil.copy(shared_data / "textract" / "single-page-1.png", root / "scan.png")
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 2)
    return root


def words_per_page(out: Path) -> dict[str, list[list[str]]]:
    """Each output's words, page by page (block ids are random; the text is what must agree)."""
    result = {}
    for path in sorted(out.rglob("consolidated.json")):
        document = read_textract(str(path))
        pages: dict[int, list[str]] = {}
        for block in document.blocks:
            if block.block_type == "WORD":
                pages.setdefault(block.page or 1, []).append(block.text or "")
        result[str(path.relative_to(out))] = [pages[page] for page in sorted(pages)]
    return result


def failures(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]


def test_addresses_of_ray_option():
    assert init_arguments("local")["address"] == "local"
    assert init_arguments("local")["include_dashboard"] is False
    for address in ("auto", "ray://head.example:10001", "10.0.0.5:6379"):
        assert init_arguments(address) == {"address": address}
    with pytest.raises(ClusterError, match="nonsense"):
        init_arguments("nonsense")


@pytest.mark.slow
def test_ocr_on_ray_gives_the_local_outputs_and_failures(cluster, mixed_corpus, tmp_path):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    options = BatchOcrOptions(workers=1)
    run_batch_ocr(plan_batch_ocr(str(mixed_corpus), str(local), options), options)
    command = [*DOCFIELDS, "ocr", str(mixed_corpus), "-o", str(on_ray), "--ray", cluster.address]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr  # the corrupt file failed, as locally
    assert "Traceback" not in result.stdout + result.stderr

    expected = words_per_page(local)
    assert set(expected) == {"transcript.pdf/consolidated.json", "scan.png/consolidated.json"}
    assert all(pages and pages[0] for pages in expected.values())
    assert words_per_page(on_ray) == expected
    assert failures(on_ray) == failures(local)
    assert [entry["raw-ref"] for entry in failures(on_ray)] == [str(mixed_corpus / "corrupt.pdf")]
    assert len((on_ray / "manifest.jsonl").read_text().splitlines()) == 2

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert "0 processed, 2 already done" in rerun.stdout, rerun.stdout + rerun.stderr


def titles(node) -> list[tuple[psutil.Process, str]]:
    """The processes a node's raylet started (its workers and agents) with their titles; the exited skipped."""
    found = []
    for child in psutil.Process(node.all_processes["raylet"][0].process.pid).children():
        try:
            found.append((child, " ".join(child.cmdline())))
        except psutil.Error:  # exited meanwhile, or a zombie not yet reaped
            continue
    return found


def busy_workers(cluster) -> list[psutil.Process]:
    """Worker processes of THIS cluster's raylets that are running a task (not idle, not an agent)."""
    idle = ("ray::IDLE", "ray::DashboardAgent", "ray::RuntimeEnvAgent")
    return [child for node in cluster.list_all_nodes() for child, title in titles(node) if not title.startswith(idle)]


@pytest.mark.slow
def test_work_lands_on_both_nodes_and_a_killed_worker_loses_no_document(cluster, shared_data, tmp_path):
    corpus = tmp_path / "scans"
    corpus.mkdir()
    documents = 6
    for i in range(documents):
        shutil.copy(shared_data / "textract" / "single-page-1.png", corpus / f"scan{i}.png")
    out = tmp_path / "out"
    first_done, killed = threading.Event(), []

    def kill_a_busy_worker() -> None:
        first_done.wait(timeout=120)
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for worker in busy_workers(cluster)[:1]:
                worker.kill()
                killed.append(worker.pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    executor = RayOcrExecutor()
    with ray_session(cluster.address):
        plan = plan_batch_ocr(str(corpus), str(out))
        summary = run_batch_ocr(plan, executor=executor, on_outcome=lambda outcome: first_done.set())
    killer.join()

    assert killed, "no busy Ray worker was found to kill"
    assert executor.resubmitted >= 1  # the killed worker's document was handed out again
    assert summary.processed == documents and summary.failed == 0
    assert len(list(out.rglob("consolidated.json"))) == documents
    assert len((out / "manifest.jsonl").read_text().splitlines()) == documents
    assert len(set(executor.nodes.values())) == 2  # both nodes did work
    assert not os.path.exists(out / "failures.jsonl") or not (out / "failures.jsonl").read_text()


def completions(home: Path) -> list[tuple[str, str, int]]:
    """(document, stage, times completed) from the store's attempt records."""
    with sqlite3.connect(home / "docfields.db") as connection:
        return connection.execute(
            "SELECT document_id, stage, COUNT(*) FROM attempts WHERE outcome IN ('done', 'reused') "
            "GROUP BY document_id, stage"
        ).fetchall()


@pytest.fixture(scope="module")
def tagger(shared_data, tmp_path_factory) -> str:
    """A tiny untrained tagger: the test checks where stages run, not what the model finds."""
    from pipeline_support import tiny_tagger

    words = tmp_path_factory.mktemp("words")
    shutil.copy(shared_data / "pdfs" / "scotus-transcript-p1.pdf", words)
    return tiny_tagger(words, tmp_path_factory.mktemp("model"))


def kill_when_running(cluster, title: str, stop: threading.Event, killed: list[int]) -> None:
    """Kill the first worker process of this cluster whose title starts with ``title`` (a call it runs)."""
    while not killed and not stop.is_set():
        for node in cluster.list_all_nodes():
            for worker, running in titles(node):
                if running.startswith(title):
                    worker.kill()
                    killed.append(worker.pid)
                    return
        time.sleep(0.02)


@pytest.mark.slow
def test_process_on_ray_gives_the_local_results_and_completes_each_stage_once(cluster, mixed_corpus, tagger, tmp_path):
    files = [str(path) for path in sorted(mixed_corpus.iterdir())]
    local = Pipeline(PipelineSettings(home=str(tmp_path / "home-local"), model=tagger))
    summary = process_files(local, files, str(tmp_path / "out-local"))
    assert summary.count("failed") == 1
    command = [*DOCFIELDS, "process", *files, "--model", tagger, "--home", str(tmp_path / "home-ray"),
               "-o", str(tmp_path / "out-ray"), "--ray", cluster.address]  # fmt: skip
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_when_running, args=(cluster, "ray::StageWorker.run", stop, killed))
    killer.start()
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    finally:
        stop.set()
        killer.join()
    assert run.returncode == 2, run.stdout + run.stderr  # the corrupt file fails, as locally
    assert "Traceback" not in run.stdout + run.stderr
    assert killed, "no stage call was seen running on an actor"
    assert lost_calls(tmp_path / "home-ray") >= 1  # the killed actor's call came back lost, and was claimed again

    results = {name: {path.name: without_block_ids(json.loads(path.read_text()))
                      for path in (tmp_path / f"out-{name}").iterdir()} for name in ("local", "ray")}  # fmt: skip
    assert len(results["local"]) == 2  # the PDF and the scan have a result (done or in review)
    assert results["ray"] == results["local"]
    counts = completions(tmp_path / "home-ray")
    assert len(counts) >= 2 * 4 and all(times == 1 for _, _, times in counts)  # every stage of 2 documents, once


def lost_calls(home: Path) -> int:
    """Attempts the store recorded as lost by the executor (a dead actor or node)."""
    with sqlite3.connect(home / "docfields.db") as connection:
        return connection.execute("SELECT COUNT(*) FROM attempts WHERE error LIKE '%executor lost%'").fetchone()[0]


def without_block_ids(value):
    """A result without its detections' block ids (random per OCR run), at any depth."""
    if isinstance(value, dict):
        return {key: without_block_ids(item) for key, item in value.items() if key != "Blocks"}
    if isinstance(value, list):
        return [without_block_ids(item) for item in value]
    return value


@pytest.mark.slow
def test_pipeline_loses_nothing_when_the_second_node_goes_away(cluster, shared_data, tmp_path):
    """Last in the module: it removes the second node while one of its actors runs a stage."""
    from PIL import Image, PngImagePlugin

    corpus = tmp_path / "scans"
    corpus.mkdir()
    with Image.open(shared_data / "ocr" / "phototest.tif") as image:
        for i in range(6):  # different bytes (the pipeline reuses a document it has seen), same page
            info = PngImagePlugin.PngInfo()
            info.add_text("copy", str(i))
            image.save(corpus / f"scan{i}.png", pnginfo=info)
    second = cluster.list_all_nodes()[1]
    removed = threading.Event()

    def remove_when_busy() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(title.startswith("ray::StageWorker.run") for _, title in titles(second)):
                cluster.remove_node(second, allow_graceful=False)
                removed.set()
                return
            time.sleep(0.02)

    remover = threading.Thread(target=remove_when_busy)
    home = tmp_path / "home"
    with ray_session(cluster.address):
        pipeline = Pipeline(PipelineSettings(home=str(home), retry_base_seconds=0.0), executor=RayExecutor())
        ids = [pipeline.submit(str(path)) for path in sorted(corpus.iterdir())]
        remover.start()
        pipeline.run_until_idle()
        remover.join()

    assert removed.is_set(), "no stage was seen running on the second node"
    assert lost_calls(home) >= 1  # its call came back lost and ran again on the head
    assert [pipeline.status(doc_id).status for doc_id in ids] == ["done"] * len(ids)
    counts = completions(home)
    assert len(counts) == 2 * len(ids) and all(times == 1 for _, _, times in counts)
