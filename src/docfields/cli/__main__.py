"""``python -m docfields.cli`` runs the ``docfields`` command."""

from docfields.cli.main import main

main()
