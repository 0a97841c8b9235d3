"""Commands on normalizers: ``datagen dates``, ``train seq2seq`` and ``normalize``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from docfields.cli.main import app, datagen_app, train_app
from docfields.cli.output import console, error_console, fail_on_error, parse_day, require_extra
from docfields.device import DEVICE_HELP

if TYPE_CHECKING:
    from docfields.normalize import NormalizedValue


@datagen_app.command("dates")
def datagen_dates(
    n: int = typer.Option(20000, "-n", min=1, help="Number of pairs."),
    out: str = typer.Option(..., "--out", "-o", help="Dataset folder, or a .jsonl file."),
    seed: int = typer.Option(42, help="Random seed: same seed and options, same data."),
    formats: str | None = typer.Option(None, help="Format table JSON (default: the original's)."),
    start: str = typer.Option("1950-01-01", help="First date (included)."),
    end: str = typer.Option("2050-01-01", help="End of the date range (excluded)."),
    prompt: str = typer.Option("Convert dates to {target}: {text}", help="Prompt template."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Write JSON lines even without .jsonl."),
    answers: str = typer.Option(
        "drawn",
        help="drawn (the original's) or most-likely: ambiguous inputs get their most likely answer, "
        "the better training data; keep drawn for held-out sets.",
    ),
    noise: float = typer.Option(
        0.0,
        min=0.0,
        max=1.0,
        help="Share of the characters of each observed date misread as Tesseract misreads them on real scans "
        "(O for 0, dropped or doubled separators, split tokens); answers stay clean. 0: no noise, the same data "
        "as without the option. Measured on receipts: about 0.03.",
    ),
) -> None:
    """Generate synthetic date-normalization pairs (src_texts, tgt_texts)."""
    from docfields.normalize import DateDataOptions, load_format_table, write_date_dataset

    with fail_on_error():
        options = DateDataOptions(
            n=n, seed=seed, start=parse_day(start), end=parse_day(end), prompt_template=prompt,
            table=load_format_table(formats), answers=answers,
            noise=noise,
        )  # fmt: skip
        written = write_date_dataset(options, out, "jsonl" if jsonl else None)
    console.print(f"wrote {n} pairs to {written}")


@train_app.command("seq2seq")
def train_seq2seq_command(
    train: str = typer.Option(..., help="Training pairs: dataset folder or .jsonl."),
    eval_data: str = typer.Option(..., "--eval", help="Held-out pairs for exact match."),
    out: str = typer.Option(..., "--out", "-o", help="Model directory to write."),
    model: str = typer.Option("cpu-small", help="Named config, checkpoint dir or hub name."),
    max_steps: int | None = typer.Option(20000, min=1, help="Stop after this many steps."),
    max_minutes: float | None = typer.Option(None, help="Stop after this many minutes."),
    batch_size: int = typer.Option(64, min=1),
    learning_rate: float = typer.Option(1e-3, help="Peak learning rate (try ~3e-4 for byt5)."),
    eval_every: int = typer.Option(250, min=1, help="Steps between evaluations."),
    eval_samples: int = typer.Option(1000, min=1, help="Eval pairs used during training."),
    patience: int = typer.Option(4, min=1, help="Evaluations without progress before stopping."),
    seed: int = typer.Option(1337),
    threads: int | None = typer.Option(None, min=1, help="Torch threads (default: torch's)."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT."),
    bf16: bool = typer.Option(True, help="bfloat16 autocast on the CPU (faster on CPUs with bf16)."),
    prompt_template: str = typer.Option(
        "Convert dates to {target}: {text}", help="How the data asks; stored for the hybrid."
    ),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Train a byte-level T5 normalizer; the best model (by exact match) is saved to OUT."""
    require_extra("ml", "docfields train seq2seq")
    from docfields.normalize import TrainOptions, train_seq2seq

    with fail_on_error():
        options = TrainOptions(
            train=train, eval=eval_data, output=out, base=model, max_steps=max_steps,
            max_minutes=max_minutes, batch_size=batch_size, learning_rate=learning_rate,
            eval_every=eval_every, eval_samples=eval_samples, patience=patience, seed=seed,
            resume=resume, bf16=bf16, prompt_template=prompt_template, device=device,
        )  # fmt: skip
        _set_threads(threads)
        result = _run_with_progress(options, train_seq2seq)
    console.print(
        f"saved {result.output}: exact match {result.final_accuracy:.4f} on {eval_data} "
        f"after {result.steps} steps, {result.seconds / 60:.1f} min"
    )


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _run_with_progress(options, train):  # noqa: ANN001, ANN202
    """Draw a progress bar with loss, learning rate and the last exact match."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))  # fmt: skip
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("", total=options.max_steps)
        last = {"acc": "-"}

        def on_event(event) -> None:  # noqa: ANN001
            if event.kind == "eval":
                last["acc"] = f"{event.accuracy:.4f}"
                progress.console.print(
                    f"step {event.step}: exact match {event.accuracy:.4f} (best {event.best_accuracy:.4f})"
                )
            elif event.kind == "step":
                progress.update(bar, completed=event.step, description=(
                    f"loss {event.loss:.4f} lr {event.learning_rate:.2e} exact match {last['acc']}"
                ))  # fmt: skip

        return train(options, on_event)


@app.command()
def normalize(
    texts: Annotated[list[str] | None, typer.Argument(metavar="TEXT...", help="Texts (default: stdin lines).")] = None,
    model: str | None = typer.Option(None, help="Model directory or normalizer service URL."),
    normalizer: str | None = typer.Option(
        None, help="Any normalizer name: date:YYYY-MM-DD[;order=MDY][;yearless=after][;model=DIR], URL, dir."
    ),
    prompt: str = typer.Option("", help="Prefix put before each text for a model."),
    reference_date: str | None = typer.Option(
        None, help="YYYY-MM-DD that year-less and relative dates (14 December, next Friday) are read against."
    ),
    jsonl: bool = typer.Option(
        False, "--jsonl", help='Read one {"text": ..., "reference_date": ...} object per stdin line.'
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per text."),
    batch_size: int = typer.Option(256, min=1, help="Texts per model batch."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Normalize texts with a model, a rule or the hybrid; prints one result per line.

    Exit code 0 when every text was normalized, 2 when some need review (or a --jsonl line is
    not a request: its result line says which and why).
    """
    from docfields.device import check_device
    from docfields.normalize import NormalizeContext, NormalizedValue, resolve_normalizer

    spec = normalizer or model
    if not spec:
        error_console.print("[red]error:[/red] give --model or --normalizer")
        raise typer.Exit(2)
    reference = parse_day(reference_date) if reference_date else None
    lines = texts or [line.rstrip("\n") for line in sys.stdin]
    requests = _jsonl_requests(lines) if jsonl else [(t, NormalizeContext(reference_date=reference)) for t in lines]
    with fail_on_error():
        check_device(device)  # also for rules, which need none: the user asked for it
        found = [r for r in requests if not isinstance(r, NormalizedValue)]
        values = iter(resolve_normalizer(spec, prompt, device=device).normalize(
            [text for text, _ in found], [context for _, context in found]))  # fmt: skip
    results = [r if isinstance(r, NormalizedValue) else next(values) for r in requests]
    for result in results:
        _print_result(result, as_json)
    if any(r.needs_review for r in results):
        raise typer.Exit(2)


def _jsonl_requests(lines: list[str]) -> list:
    """(text, context) per line, or an unparsed value naming the line when it is not a request."""
    from docfields.normalize import NormalizedValue
    from docfields.normalize.context import request_from_json

    requests: list = []
    for number, line in enumerate(lines, 1):
        try:
            requests.append(request_from_json(line, f"stdin line {number}"))
        except ValueError as exc:
            requests.append(NormalizedValue(raw=line, status="unparsed", source="rule", reason=str(exc)))
    return requests


def _print_result(result: NormalizedValue, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), ensure_ascii=False) + "\n")
        return
    if result.needs_review:
        sys.stdout.write(f"{result.raw}\t[{result.status}] {result.reason}\n")
    else:
        sys.stdout.write(f"{result.value}\n")
