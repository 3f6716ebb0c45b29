"""Start bqemulator offline. This file is the one place that works around the emulator as published.

bqemulator 1.4.0 runs `INSTALL spatial` at start-up, a download from DuckDB's extension site; with
no network it then refuses to start. hookstream stores no GEOGRAPHY values, so the loader becomes
a no-op and everything else (REST, insertAll, queries, persistence) runs as shipped.
Usage: python -m infra.local.bqemu_launcher start --rest-port ... (the emulator's own CLI).
"""

import sys


def main() -> None:
    from bqemulator.storage.engine import DuckDBEngine

    def skip_spatial(self: DuckDBEngine) -> None:
        return None

    DuckDBEngine._load_spatial = skip_spatial  # type: ignore[method-assign]
    from bqemulator.cli import main as emulator_cli

    sys.exit(emulator_cli())


if __name__ == "__main__":
    main()
