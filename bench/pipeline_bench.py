"""Pipeline benchmark: throughput with 1 and 2 workers, latency through the API, memory over a long run.

Everything runs on the synthetic demo corpus (``docfields.samples``: credit card agreements,
a quarter of them scans, ~3.4 pages per document) with OCR engine ``auto``, thumbnails on, a
tagger (``--model DIR``, or an untrained ``--base`` tagger built here: the same compute as a
trained one of that size) and the field configuration ``examples/fields/credit-card.json``.
In one run:

1. End to end: N documents (``Pipeline.run_until_idle``) with 1 worker (in this process), then
   2 worker processes, each on a fresh home (no artifact reused). Wall time includes start-up
   and model loading, as a user sees it. Baseline: 1 worker; ratio 2 workers / 1 worker.
2. Through the API: ``docfields serve`` (real uvicorn on loopback, 2 worker processes). After a
   warm-up (the workers load their models), M documents are uploaded with httpx by a closed-loop
   client keeping ``--api-in-flight`` documents in flight (so latency is not queueing behind a
   burst), polling until each is done or in review. Latency = finished - uploaded: seen by the
   client and by the server (``updated - created``); p50/p95, and per-stage median seconds from
   ``GET /documents/{id}``.
3. Memory: ``--pages`` pages of unique documents (new seeds, never an artifact reused) through
   background worker processes (``Pipeline.start_workers``), their RSS sampled every 0.5 s
   (psutil if installed, else /proc). Peak RSS during the first and the last ``--window``
   pages (at most a third of the run; a document's pages count when it finishes); ratio
   last / first: flat is 1.0.

Benchmarks assert nothing. Run:

    .venv/bin/python bench/pipeline_bench.py             # full run (24 + 20 documents, 500 pages)
    .venv/bin/python bench/pipeline_bench.py --quick     # smoke run (6 + 6 documents, 60 pages)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

import docfields
from docfields.documents import MIME_TYPES
from docfields.pipeline import DocumentStatus, Pipeline, PipelineSettings, WorkerPool
from docfields.pipeline.settings import FINAL_STATES
from docfields.samples import CorpusOptions, generate_credit_card_corpus, generate_document

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FIELDS = ROOT / "examples" / "fields" / "credit-card.json"
STAGES = ("ocr", "thumbnails", "enrich", "fields")
WARM_UP_PER_WORKER = 2  # documents per API worker before timing: both workers have loaded their models
SERVE_WORKERS = 2
MIB = 2**20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=24, help="Documents of the end-to-end runs")
    parser.add_argument("--api-docs", type=int, default=20, help="Documents uploaded through the API")
    parser.add_argument("--api-in-flight", type=int, default=2, help="Documents the API client keeps in flight")
    parser.add_argument("--pages", type=int, default=500, help="Pages of the memory run")
    parser.add_argument("--window", type=int, default=100, help="Pages of the first and last memory windows")
    parser.add_argument("--rss-workers", type=int, default=2, help="Worker processes of the memory run")
    parser.add_argument("--sample-seconds", type=float, default=0.5, help="RSS sampling interval")
    parser.add_argument("--model", type=Path, default=None, help="Trained tagger directory (default: build one)")
    parser.add_argument("--base", default="layoutlm-small", help="Named config of the tagger built when no --model")
    parser.add_argument("--fields", type=Path, default=DEFAULT_FIELDS, help="Field configuration")
    parser.add_argument("--review-threshold", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7, help="Corpus seed (the memory run uses seed + 1)")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep corpus, model and homes here")
    parser.add_argument("--quick", action="store_true", help="6 documents, 6 through the API, 60 pages")
    args = parser.parse_args()
    if args.quick:
        args.docs, args.api_docs, args.pages = 6, 6, 60
    return args


# ------------------------------------------------------------------------------------- set-up


def machine() -> str:
    """CPU model, cores and load: the machine may be shared, so the load is part of the figures."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return f"{cpu}, {os.cpu_count()} cores, load average {load}, {platform.system()} {platform.release()}"


@dataclass(frozen=True)
class Corpus:
    """The demo documents in corpus order, and which of them are born digital (have a text layer)."""

    paths: list[Path]
    born_digital: list[Path]


def make_corpus(args: argparse.Namespace, workdir: Path) -> Corpus:
    """The demo corpus: enough documents for the end-to-end runs and the API (with its warm-up)."""
    began = time.perf_counter()
    n = max(args.docs, args.api_docs + WARM_UP_PER_WORKER * SERVE_WORKERS)
    summary = generate_credit_card_corpus(workdir / "corpus", n=n, seed=args.seed)
    records = [json.loads(line) for line in Path(summary.truth).read_text().splitlines()]
    print(f"  corpus: {summary.documents} documents ({summary.scans} scans), {summary.pages} pages, formats "
          f"{summary.formats}, generated in {time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip
    paths = [Path(summary.out) / record["file"] for record in records]
    return Corpus(paths, [path for path, record in zip(paths, records, strict=True) if not record["scan"]])


def build_model(args: argparse.Namespace, corpus: Corpus, workdir: Path) -> Path:
    """An untrained tagger of ``--base`` (tokenizer from the corpus text layers), saved as a model directory."""
    import torch

    from docfields.ner import build_tagger
    from docfields.ocr import ocr_document
    from docfields.textract import iter_words

    began = time.perf_counter()
    torch.manual_seed(args.seed)
    fields = json.loads(args.fields.read_text())
    texts = [word.text for path in corpus.born_digital
             for word in iter_words(ocr_document(str(path), engine="pdftext"))]  # fmt: skip
    tagger = build_tagger(args.base, fields, texts, seed=args.seed)
    directory = Path(tagger.save(workdir / "model"))
    print(f"  model: untrained {args.base} tagger built in {time.perf_counter() - began:.1f} s "
          f"({len(texts)} corpus words for its tokenizer)", flush=True)  # fmt: skip
    return directory


def build_model_elsewhere(args: argparse.Namespace, corpus: Corpus, workdir: Path) -> Path:
    """``build_model`` in a child process: this one stays without torch, as cold as a user's for run 1."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        return executor.submit(build_model, args, corpus, workdir).result()


def settings_for(args: argparse.Namespace, model: Path, home: Path) -> PipelineSettings:
    return PipelineSettings(home=str(home), engine="auto", model=str(model), fields=str(args.fields),
                            review_threshold=args.review_threshold, thumbnails=True)  # fmt: skip


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method); the value itself for a single one."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def stage_medians(statuses: list[DocumentStatus]) -> dict[str, float]:
    """Median seconds of each stage over documents (skipped stages have none)."""
    seconds: dict[str, list[float]] = {name: [] for name in STAGES}
    for status in statuses:
        for stage in status.stages:
            if stage.seconds is not None and stage.name in seconds:
                seconds[stage.name].append(stage.seconds)
    return {name: statistics.median(values) for name, values in seconds.items() if values}


def outcome(statuses: list[DocumentStatus]) -> str:
    """Counts per final status, and the first error, if any."""
    states = [s.status for s in statuses]
    counts = ", ".join(f"{states.count(state)} {state}" for state in FINAL_STATES if state in states)
    failed = next((s.error for s in statuses if s.status == "failed"), None)
    return counts + (f" (first error: {failed})" if failed else "")


# --------------------------------------------------------------------------------- end to end


@dataclass
class Throughput:
    """One end-to-end run."""

    workers: int
    documents: int
    pages: int
    seconds: float
    stages: dict[str, float]

    @property
    def docs_per_minute(self) -> float:
        return self.documents / self.seconds * 60

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds


def end_to_end(args: argparse.Namespace, corpus: list[Path], model: Path, workdir: Path, workers: int) -> Throughput:
    pipeline = Pipeline(settings_for(args, model, workdir / f"home-e2e-{workers}"))
    ids = [pipeline.submit(str(path)) for path in corpus[: args.docs]]
    began = time.perf_counter()
    pipeline.run_until_idle(workers=workers)
    seconds = time.perf_counter() - began
    statuses = [pipeline.status(doc_id) for doc_id in ids]
    run = Throughput(workers, len(ids), sum(s.pages or 0 for s in statuses), seconds, stage_medians(statuses))
    print(f"  {workers} worker(s): {run.documents} documents, {run.pages} pages in {seconds:.1f} s: "
          f"{run.docs_per_minute:.1f} documents/min, {run.pages_per_second:.2f} pages/s; {outcome(statuses)}",
          flush=True)  # fmt: skip
    return run


# -------------------------------------------------------------------------------------- API


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``docfields serve`` in a subprocess on a free loopback port; SIGINT stops it (workers included)."""

    def __init__(self, args: argparse.Namespace, model: Path, home: Path, log: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = log
        self.command = [
            sys.executable, "-m", "docfields.cli", "serve", "--host", "127.0.0.1", "--port", self.url.rsplit(":", 1)[1],
            "--home", str(home), "--model", f"bench={model}", "--fields", str(args.fields), "--engine", "auto",
            "--workers", str(SERVE_WORKERS), "--review-threshold", str(args.review_threshold), "--idle-unload", "0",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(self.command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docfields serve exited:\n{self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise TimeoutError(f"docfields serve did not answer /healthz within 120 s; log: {self.log}")

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Finished:
    """A document uploaded through the API and its final status."""

    status: DocumentStatus
    client_seconds: float

    @property
    def server_seconds(self) -> float:
        return self.status.updated - self.status.created


def upload(client: httpx.Client, path: Path) -> str:
    media = MIME_TYPES.get(path.suffix.lower().lstrip("."), "application/octet-stream")
    response = client.post("/documents", content=path.read_bytes(), headers={"Content-Type": media},
                           params={"name": path.name})  # fmt: skip
    response.raise_for_status()
    return response.json()["id"]


def closed_loop(client: httpx.Client, paths: list[Path], in_flight: int, timeout: float = 900) -> list[Finished]:
    """Upload with at most ``in_flight`` documents unfinished; poll each until done or in review."""
    pending, flying, finished = list(paths), {}, []
    deadline = time.monotonic() + timeout
    while pending or flying:
        while pending and len(flying) < in_flight:
            path = pending.pop(0)
            began = time.perf_counter()
            flying[upload(client, path)] = began
        time.sleep(0.2)
        for doc_id in list(flying):
            status = DocumentStatus.model_validate(client.get(f"/documents/{doc_id}").json())
            if status.final:
                finished.append(Finished(status, time.perf_counter() - flying.pop(doc_id)))
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(flying) + len(pending)} documents unfinished after {timeout:.0f} s")
    return finished


@dataclass
class ApiRun:
    """Latencies of the measured uploads, and how long they took together."""

    finished: list[Finished]
    seconds: float

    def client(self, q: int) -> float:
        return percentile([f.client_seconds for f in self.finished], q)

    def server(self, q: int) -> float:
        return percentile([f.server_seconds for f in self.finished], q)


def through_api(args: argparse.Namespace, corpus: list[Path], model: Path, workdir: Path) -> ApiRun:
    warm = WARM_UP_PER_WORKER * SERVE_WORKERS
    measured, warm_up = corpus[: args.api_docs], corpus[args.api_docs : args.api_docs + warm]
    with Server(args, model, workdir / "home-api", workdir / "serve.log") as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:  # fmt: skip
        began = time.perf_counter()
        closed_loop(client, warm_up, in_flight=warm)
        print(f"  API: server up, warm-up of {warm} documents in {time.perf_counter() - began:.1f} s", flush=True)
        began = time.perf_counter()
        finished = closed_loop(client, measured, in_flight=args.api_in_flight)
        run = ApiRun(finished, time.perf_counter() - began)
    statuses = [f.status for f in finished]
    print(f"  API: {len(finished)} documents ({args.api_in_flight} in flight) in {run.seconds:.1f} s; latency "
          f"p50 {run.client(50):.2f} s, p95 {run.client(95):.2f} s; {outcome(statuses)}", flush=True)  # fmt: skip
    return run


# ----------------------------------------------------------------------------------- memory


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (0 once it is gone)."""
    try:
        import psutil
    except ImportError:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


class RssSampler(threading.Thread):
    """Samples the RSS of each worker process every ``interval`` seconds: (time, [bytes per worker])."""

    def __init__(self, pids: list[int], interval: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.pids, self.interval = pids, interval
        self.samples: list[tuple[float, list[int]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while True:
            self.samples.append((time.time(), [rss_bytes(pid) for pid in self.pids]))
            if self._halt.wait(self.interval):
                return

    def stop(self) -> None:
        self._halt.set()
        self.join()


def unique_documents(seed: int, pages: int) -> list[tuple[str, bytes, int]]:
    """Newly generated documents (a quarter scans) until ``pages`` pages: (name, bytes, pages), all distinct."""
    options = CorpusOptions(seed=seed, prefix="rss")
    draw = random.Random(f"pipeline-bench:{seed}")
    documents, digests, total, index = [], set(), 0, 0
    while total < pages:
        document = generate_document(index, options, scan=draw.random() < options.scan_share)
        index += 1
        digest = hashlib.sha256(document.data).hexdigest()
        if digest in digests:
            continue
        digests.add(digest)
        documents.append((Path(document.filename).name, document.data, len(document.pages)))
        total += len(document.pages)
    return documents


@dataclass
class MemoryRun:
    """Peak worker RSS over the first and the last ``window`` pages of a long run."""

    pages: int
    documents: int
    seconds: float
    window: int
    first_total: float
    last_total: float
    first_worker: float
    last_worker: float
    samples: int
    outcome: str


def window_times(finished: list[tuple[float, int]], window: int) -> tuple[float, float]:
    """When the first ``window`` pages were finished, and when the last ``window`` began (after the rest)."""
    ordered = sorted(finished)
    total = sum(pages for _, pages in ordered)
    done, first_end, last_start = 0, ordered[-1][0], ordered[0][0]
    for when, pages in ordered:
        before = done
        done += pages
        if before < window <= done:
            first_end = when
        if done <= total - window:
            last_start = when
    return first_end, last_start


def peak(
    samples: list[tuple[float, list[int]]], start: float, end: float, combine: Callable[[list[int]], int]
) -> float:
    """Largest combined RSS (MiB) sampled between ``start`` and ``end``."""
    values = [combine(rss) for when, rss in samples if start <= when <= end]
    return max(values) / MIB if values else float("nan")


def wait_final(pipeline: Pipeline, ids: list[str], pool: WorkerPool, timeout: float = 3600) -> list[DocumentStatus]:
    """Statuses of ``ids`` once all are final; fails when every worker died or after ``timeout``."""
    wanted, deadline = set(ids), time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = [s for s in pipeline.list() if s.id in wanted]
        if all(s.final for s in statuses):
            return statuses
        if not pool.alive():
            raise RuntimeError(f"every worker process exited; {sum(not s.final for s in statuses)} documents left")
        time.sleep(0.5)
    raise TimeoutError(f"memory run unfinished after {timeout:.0f} s")


def memory_run(args: argparse.Namespace, model: Path, workdir: Path) -> MemoryRun:
    began = time.perf_counter()
    documents = unique_documents(args.seed + 1, args.pages)
    pages = sum(p for *_, p in documents)
    print(f"  memory: {len(documents)} new documents ({pages} pages) generated in {time.perf_counter() - began:.1f} s",
          flush=True)  # fmt: skip
    pipeline = Pipeline(settings_for(args, model, workdir / "home-rss"))
    ids = [pipeline.submit_bytes(data, name) for name, data, _ in documents]
    began, started = time.perf_counter(), time.time()
    with pipeline.start_workers(args.rss_workers) as pool:
        sampler = RssSampler(pool.pids, args.sample_seconds)
        sampler.start()
        try:
            statuses = wait_final(pipeline, ids, pool)
        finally:
            sampler.stop()
    seconds = time.perf_counter() - began
    window = max(1, min(args.window, pages // 3))
    first_end, last_start = window_times([(s.updated, s.pages or 0) for s in statuses], window)
    ended = max(s.updated for s in statuses) + args.sample_seconds
    samples = sampler.samples
    run = MemoryRun(
        pages=sum(s.pages or 0 for s in statuses), documents=len(statuses), seconds=seconds, window=window,
        first_total=peak(samples, started, first_end, sum), last_total=peak(samples, last_start, ended, sum),
        first_worker=peak(samples, started, first_end, max), last_worker=peak(samples, last_start, ended, max),
        samples=len(samples), outcome=outcome(statuses),
    )  # fmt: skip
    print(f"  memory: {run.pages} pages through {args.rss_workers} worker processes in {seconds:.1f} s, "
          f"{run.samples} RSS samples; {run.outcome}", flush=True)  # fmt: skip
    return run


# ----------------------------------------------------------------------------------- report


def report(runs: dict[int, Throughput], api: ApiRun, memory: MemoryRun) -> None:
    one, two = runs[1], runs[2]
    rows: list[tuple[str, str, str, str]] = [
        ("end to end: documents/min", f"{one.docs_per_minute:.1f}", f"{two.docs_per_minute:.1f}",
         f"{two.docs_per_minute / one.docs_per_minute:.2f}x"),
        ("end to end: pages/s", f"{one.pages_per_second:.2f}", f"{two.pages_per_second:.2f}",
         f"{two.pages_per_second / one.pages_per_second:.2f}x"),
    ]  # fmt: skip
    for name in STAGES:
        if name in one.stages and name in two.stages:
            rows.append((f"  stage {name}: median s", f"{one.stages[name]:.3f}", f"{two.stages[name]:.3f}",
                         f"{two.stages[name] / max(one.stages[name], 1e-9):.2f}x"))  # fmt: skip
    rows += [
        ("API latency p50 (client): s", "", f"{api.client(50):.2f}", ""),
        ("API latency p95 (client): s", "", f"{api.client(95):.2f}", ""),
        ("API latency p50 (server): s", "", f"{api.server(50):.2f}", ""),
        ("API latency p95 (server): s", "", f"{api.server(95):.2f}", ""),
        ("API documents/min", "", f"{len(api.finished) / api.seconds * 60:.1f}", ""),
    ]
    for name, seconds in stage_medians([f.status for f in api.finished]).items():
        rows.append((f"  API stage {name}: median s", "", f"{seconds:.3f}", ""))
    rows += [
        ("peak RSS, all workers: MiB", f"{memory.first_total:.0f}", f"{memory.last_total:.0f}",
         f"{memory.last_total / memory.first_total:.2f}x"),
        ("peak RSS, largest worker: MiB", f"{memory.first_worker:.0f}", f"{memory.last_worker:.0f}",
         f"{memory.last_worker / memory.first_worker:.2f}x"),
    ]  # fmt: skip
    print(f"\n== pipeline: {one.documents} documents end to end ({one.pages} pages), {len(api.finished)} through "
          f"the API, {memory.pages} pages for memory ==")  # fmt: skip
    print(
        "baselines: end to end = 1 worker (measured: 2 workers); API = none; "
        f"RSS = first {memory.window} pages (measured: last {memory.window} pages)"
    )
    header = ("measure", "baseline", "measured", "ratio")
    print(f"{header[0]:<34}{header[1]:>10}{header[2]:>10}{header[3]:>8}")
    for label, base, measured, ratio in rows:
        print(f"{label:<34}{base:>10}{measured:>10}{ratio:>8}")


def main() -> None:
    args = parse_args()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    began = time.perf_counter()
    print(f"pipeline_bench: docfields {docfields.__version__}, Python {platform.python_version()}; {machine()}")
    print(f"  measured: engine auto, thumbnails on, enrich ({args.model or 'untrained ' + args.base}), fields "
          f"({args.fields.name}), review threshold {args.review_threshold:g}, seed {args.seed}"
          + (" [QUICK]" if args.quick else ""), flush=True)  # fmt: skip
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="docfields-pipeline-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        corpus = make_corpus(args, workdir)
        model = args.model.resolve() if args.model else build_model_elsewhere(args, corpus, workdir)
        print("\n== 1. end to end ==", flush=True)
        runs = {workers: end_to_end(args, corpus.paths, model, workdir, workers) for workers in (1, 2)}
        print("\n== 2. through the API ==", flush=True)
        api = through_api(args, corpus.paths, model, workdir)
        print("\n== 3. memory ==", flush=True)
        memory = memory_run(args, model, workdir)
        report(runs, api, memory)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntotal {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
