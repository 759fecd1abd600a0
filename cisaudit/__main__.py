"""``python -m cisaudit`` runs the command line."""

from cisaudit.cli import main

main()
