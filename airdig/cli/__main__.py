"""``python -m airdig.cli`` — the same as the ``airdig`` command."""

from airdig.cli.main import main

main()
