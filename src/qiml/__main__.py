"""``python -m qiml`` runs the command line."""

from .cli import app

app()
