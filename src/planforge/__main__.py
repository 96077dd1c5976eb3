"""``python -m planforge`` runs the command line."""

from planforge.cli import main

main()
