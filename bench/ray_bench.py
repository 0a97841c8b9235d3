"""Ray benchmark: the same OCR corpus on the local executor and on Ray, side by side in one run.

Corpus: 300-DPI scans (born-digital pages rendered to grayscale PNG, no text layer: Tesseract
reads them) and born-digital PDFs (their text layer: ``auto`` reads it). Three set-ups, each
timed on a fresh output folder:

1. the local executor, 2 worker processes;
2. Ray on this machine, 1 node with 2 CPUs (``ray.cluster_utils.Cluster``, on 127.0.0.1);
3. Ray with 2 simulated nodes of 1 CPU each.

For each: pages/s, per-task overhead (trivial task round trip, one at a time, and trivial tasks
in bulk), Ray start-up seconds, peak RSS (sum over the process tree: Ray's processes are children
of this one; shared pages count once per process, so it overstates). Then the driver's ceiling:
pipeline stages claimed, run and completed per second through the store with tiny documents
(one cheap text-layer OCR stage each), in-process and with the artifacts returned through Ray.
Last, Tesseract eng+tha seconds per 300-DPI page, and the projection for the original's corpus.

Benchmarks assert nothing. Run: ``.venv/bin/python bench/ray_bench.py`` (about 2-3 minutes
with the defaults on 2 cores; ``--scans``, ``--pdfs``, ``--tiny`` size it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray stays on 127.0.0.1 (read at import)

import psutil  # noqa: E402

from docfields.cluster import RayExecutor, RayOcrExecutor, ray_session  # noqa: E402
from docfields.documents import open_document  # noqa: E402
from docfields.ocr import BatchOcrOptions, ocr_document, plan_batch_ocr, run_batch_ocr  # noqa: E402
from docfields.pipeline import Pipeline, PipelineSettings  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCE_PDF = DATA / "pdfs" / "federal-register-2020-17221.pdf"  # 15 dense three-column pages
BORN_DIGITAL = [
    "pdfs/scotus-transcript-p1.pdf",
    "pdfs/nics-background-checks-2015-11.pdf",
    "textract/sample-invoice.pdf",
]
ORIGINAL = {"pages": 16_750, "documents": 2_500, "nodes": 5, "vcpus": 16, "minutes": 35}  # eng+tha, 80 vCPUs
STAGES_PER_DOCUMENT = 4  # ocr, thumbnails, enrich, fields: what `process` claims and completes per document


@dataclass
class Row:
    """One set-up's figures."""

    name: str
    pages: int = 0
    seconds: float = 0.0
    startup: float | None = None
    round_trip_ms: float = 0.0
    bulk_ms: float = 0.0
    peak_rss: int = 0

    @property
    def pages_per_second(self) -> float:
        """Throughput of the OCR run."""
        return self.pages / self.seconds if self.seconds else 0.0


def make_corpus(root: Path, scans: int, pdfs: int) -> Path:
    """``scans`` 300-DPI grayscale PNG pages and ``pdfs`` born-digital PDFs in ``root/corpus``."""
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    with open_document(str(SOURCE_PDF)) as document:
        for i in range(scans):
            document.render(2 + i % 13, dpi=300, grayscale=True).save(corpus / f"scan{i:02d}.png")
    for i in range(pdfs):
        source = DATA / BORN_DIGITAL[i % len(BORN_DIGITAL)]
        (corpus / f"digital{i:02d}.pdf").write_bytes(source.read_bytes())
    return corpus


class PeakRss:
    """Samples the RSS of this process and all its descendants (Ray's nodes included) every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def noop(value: int) -> int:
    """The trivial task whose round trip is the executor's overhead."""
    return value


def ocr_run(corpus: Path, out: Path, executor: Callable | None = None) -> tuple[int, float]:
    """(pages, seconds) of one batch on a fresh output folder."""
    options = BatchOcrOptions(workers=2)
    plan = plan_batch_ocr(str(corpus), str(out), options)
    summary = run_batch_ocr(plan, options, executor=executor)
    return summary.pages, summary.seconds


def local_overhead(tasks: int) -> tuple[float, float]:
    """(round trip ms, bulk ms per task) of a 2-process spawn pool, as the local executor uses."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(noop, range(4))  # warm
        trips = []
        for i in range(30):
            start = time.perf_counter()
            pool.apply(noop, (i,))
            trips.append(time.perf_counter() - start)
        start = time.perf_counter()
        list(pool.imap_unordered(noop, range(tasks), chunksize=1))
        bulk = (time.perf_counter() - start) / tasks
    return statistics.median(trips) * 1000, bulk * 1000


def ray_overhead(tasks: int) -> tuple[float, float]:
    """(round trip ms, bulk ms per task) of trivial Ray tasks with the options our tasks use."""
    import ray

    from docfields.cluster.connect import TASK_ENV

    remote = ray.remote(noop).options(num_cpus=1, max_retries=0, runtime_env={"env_vars": TASK_ENV})
    ray.get([remote.remote(i) for i in range(4)])  # warm
    trips = []
    for i in range(30):
        start = time.perf_counter()
        ray.get(remote.remote(i))
        trips.append(time.perf_counter() - start)
    start = time.perf_counter()
    ray.get([remote.remote(i) for i in range(tasks)])
    return statistics.median(trips) * 1000, (time.perf_counter() - start) / tasks * 1000


@contextmanager
def ray_cluster(cpus_per_node: list[int]) -> Iterator[tuple[str, float]]:
    """A private cluster of those nodes, connected; yields (address, start-up seconds)."""
    import ray
    from ray.cluster_utils import Cluster

    node = {"object_store_memory": 80 * 2**20, "node_ip_address": "127.0.0.1"}
    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={**node, "num_cpus": cpus_per_node[0],
                                                            "include_dashboard": False})  # fmt: skip
    try:
        for cpus in cpus_per_node[1:]:
            cluster.add_node(**node, num_cpus=cpus)
        cluster.wait_for_nodes()
        with ray_session(cluster.address):
            ray.get(ray.remote(noop).remote(0))  # a worker is up: the cluster can run work
            yield cluster.address, time.perf_counter() - start
    finally:
        cluster.shutdown()


def tiny_pdfs(root: Path, count: int) -> Path:
    """``count`` one-line PDFs, each different (no artifact reuse), for the driver's ceiling."""
    from reportlab.pdfgen import canvas

    folder = root / "tiny"
    folder.mkdir()
    for i in range(count):
        page = canvas.Canvas(str(folder / f"tiny{i:04d}.pdf"))
        page.drawString(72, 720, f"Invoice {i} total {i * 7 % 1000}.00")
        page.save()
    return folder


def stages_per_second(folder: Path, home: Path, executor: object | None = None) -> float:
    """Stages claimed, run and completed per second by one driver (one text-layer OCR stage each).

    A first pass over a few documents, in another home, warms the executor (actors started,
    modules imported): the ceiling is the steady rate, not the start-up.
    """
    paths = sorted(folder.iterdir())
    rate = 0.0
    for name, batch in (("warm", paths[:8]), ("measured", paths)):
        settings = PipelineSettings(home=str(home / name), engine="pdftext", thumbnails=False)
        pipeline = Pipeline(settings, executor=executor)
        for path in batch:
            pipeline.submit(str(path))
        start = time.perf_counter()
        pipeline.run_until_idle()
        done = pipeline.status_counts().get("done", 0)
        rate = done / (time.perf_counter() - start)
        if done != len(batch):
            print(f"  warning: {done} of {len(batch)} tiny documents done")
    return rate


def tesseract_seconds_per_page(scan: Path, languages: list[str]) -> float:
    """One process, one 300-DPI page, the best of 3 runs (the first loads the language data; the
    machine's other load only ever adds time)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        ocr_document(str(scan), engine="tesseract", languages=languages)
        times.append(time.perf_counter() - start)
    return min(times)


def run_setups(corpus: Path, root: Path, args: argparse.Namespace) -> tuple[list[Row], dict[str, float]]:
    """The three set-ups of the table, and the driver's ceilings measured along the way."""
    rows, ceilings = [], {}
    tiny = tiny_pdfs(root, args.tiny)
    row = Row("local executor, 2 workers")
    with PeakRss() as rss:
        row.pages, row.seconds = ocr_run(corpus, root / "out-local")
        row.round_trip_ms, row.bulk_ms = local_overhead(args.trivial)
        ceilings["in-process driver, inline"] = stages_per_second(tiny, root / "home-local")
    row.peak_rss = rss.peak
    rows.append(row)
    for name, nodes in (("Ray, 1 node x 2 CPUs", [2]), ("Ray, 2 nodes x 1 CPU", [1, 1])):
        row = Row(name)
        with PeakRss() as rss, ray_cluster(nodes) as (_, row.startup):
            row.pages, row.seconds = ocr_run(corpus, root / f"out-{len(nodes)}", RayOcrExecutor())
            row.round_trip_ms, row.bulk_ms = ray_overhead(args.trivial)
            executor = RayExecutor()
            try:
                ceilings[f"driver + RayExecutor, {name[5:]}"] = stages_per_second(tiny, root / f"home-{len(nodes)}",
                                                                                 executor)  # fmt: skip
            finally:
                executor.close()
        row.peak_rss = rss.peak
        rows.append(row)
    return rows, ceilings


def print_table(rows: list[Row], scan_seconds: float) -> None:
    """The side-by-side table, with each set-up against the local executor."""
    local = rows[0].pages_per_second
    print(f"\n{'set-up':28} {'pages':>5} {'s':>6} {'pages/s':>8} {'x local':>7} {'start s':>7} "
          f"{'trip ms':>7} {'bulk ms':>7} {'trip/page':>9} {'peak RSS':>9}")  # fmt: skip
    for row in rows:
        startup = f"{row.startup:.1f}" if row.startup is not None else "-"
        print(f"{row.name:28} {row.pages:5d} {row.seconds:6.1f} {row.pages_per_second:8.2f} "
              f"{row.pages_per_second / local:7.2f} {startup:>7} {row.round_trip_ms:7.1f} {row.bulk_ms:7.1f} "
              f"{row.round_trip_ms / 10 / scan_seconds:8.2f}% {row.peak_rss / 2**20:6.0f} MiB")  # fmt: skip


def print_projection(rows: list[Row], ceilings: dict[str, float], eng: float, eng_tha: float) -> None:
    """The original's corpus on 5 nodes of 16 vCPUs, and the cluster size at which one driver limits.

    A document keeps one CPU busy for its pages' OCR; the driver hands out one task per document
    (``ocr``: limited by Ray's per-task cost) or claims and completes ``STAGES_PER_DOCUMENT``
    stages per document (``process``: limited by the store's measured rate).
    """
    cpus = ORIGINAL["nodes"] * ORIGINAL["vcpus"]
    efficiency = min(rows[2].pages_per_second / rows[0].pages_per_second, 1.0)  # 2 Ray nodes vs 2 local workers
    minutes = ORIGINAL["pages"] * eng_tha / cpus / efficiency / 60
    cpu_seconds_per_document = ORIGINAL["pages"] / ORIGINAL["documents"] * eng_tha
    print(f"\nTesseract per 300-DPI page, one core: eng {eng:.2f} s, eng+tha {eng_tha:.2f} s")
    for name, rate in ceilings.items():
        print(f"driver ceiling, {name}: {rate:.0f} stages/s")
    print(f"projection: {ORIGINAL['pages']} pages eng+tha on {ORIGINAL['nodes']} x {ORIGINAL['vcpus']} vCPUs "
          f"(a vCPU as one of these cores, Ray scaling efficiency {efficiency:.2f}): {minutes:.0f} min "
          f"(original: {ORIGINAL['minutes']} min)")  # fmt: skip
    tasks_per_second = 1000 / max(row.bulk_ms for row in rows[1:])
    stages_per_second = min(rate for name, rate in ceilings.items() if "Ray" in name)
    for command, documents_per_second in (("ocr", tasks_per_second),
                                          ("process", stages_per_second / STAGES_PER_DOCUMENT)):  # fmt: skip
        print(f"one driver limits `{command}` at {documents_per_second:.0f} documents/s, i.e. about "
              f"{documents_per_second * cpu_seconds_per_document:.0f} CPUs busy on the original's documents "
              f"({ORIGINAL['pages'] / ORIGINAL['documents']:.1f} pages eng+tha each)")  # fmt: skip


def main() -> None:
    """Build the corpus, run the three set-ups, print the table and the projection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=6, help="300-DPI scan pages")
    parser.add_argument("--pdfs", type=int, default=4, help="born-digital PDFs")
    parser.add_argument("--tiny", type=int, default=150, help="tiny documents for the driver's ceiling")
    parser.add_argument("--trivial", type=int, default=200, help="trivial tasks for the bulk overhead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        corpus = make_corpus(root, args.scans, args.pdfs)
        scan = next(corpus.glob("scan*.png"))
        eng, eng_tha = tesseract_seconds_per_page(scan, ["eng"]), tesseract_seconds_per_page(scan, ["eng", "tha"])
        rows, ceilings = run_setups(corpus, root, args)
    print_table(rows, eng)
    print_projection(rows, ceilings, eng, eng_tha)


if __name__ == "__main__":
    main()
