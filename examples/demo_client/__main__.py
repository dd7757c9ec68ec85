"""Entry point: ``python -m examples.demo_client COMMAND ...``."""

from examples.demo_client.cli import main

main()
