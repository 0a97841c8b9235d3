"""The ``docfields`` command: a thin Typer layer over the public Python API."""

from docfields.cli.main import app, main

__all__ = ["app", "main"]
