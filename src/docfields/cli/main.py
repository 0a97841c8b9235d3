"""Assembles the ``docfields`` command from one module per command group.

Each command module registers its commands on the apps defined here; command bodies parse
options, call one public function and map ``DocfieldsError`` to an exit code.
"""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="docfields",
    help="Turn business documents (PDF, PNG, JPEG, TIFF) into validated fields.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train models (seq2seq normalizers, field taggers).", no_args_is_help=True)
datagen_app = typer.Typer(help="Generate synthetic training data.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(datagen_app, name="datagen")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log decisions (INFO).")) -> None:
    setup_logging(logging.INFO if verbose else logging.WARNING)


def setup_logging(level: int) -> None:
    """Send the package's log records to stderr through rich; only the CLI calls this."""
    from rich.logging import RichHandler

    logger = logging.getLogger("docfields")
    logger.handlers[:] = [RichHandler(show_path=False, rich_tracebacks=False)]
    logger.setLevel(level)


def _register_commands() -> None:
    # Command modules import only typer and rich at module level, so --help stays fast.
    from docfields.cli import (  # noqa: F401
        amounts,
        autoscale,
        calibrate,
        config,
        evaluate,
        fields,
        label,
        ner,
        normalize,
        ocr,
        pipeline,
        pretrain,
        review,
        samples,
        serve,
    )


def main() -> None:
    """Entry point of the ``docfields`` console script."""
    app()


_register_commands()
