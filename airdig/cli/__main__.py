"""``python -m airdig.cli`` — the same as the ``airdig`` command."""

from airdig.cli.main import main

if __name__ == "__main__":  # a spawned worker process (airdig.engine.intel.workers) imports this module too
    main()
