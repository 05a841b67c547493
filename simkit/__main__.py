"""``python -m simkit`` runs the CLI."""

from simkit.cli import main

main()
