"""The optional extra log file (``[Daemon] logfile``) and its reopening.

The original's rotation contract: move the file aside, send SIGUSR1, and the
client writes to a new file at the old path.  Closing a FileHandler is
enough: it opens its path again on the next record.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..logs import ROOT_LOGGER, EscapeUnprintable

FORMAT = "%(asctime)s %(levelname)s %(message)s"


class LogFile:
    def __init__(self) -> None:
        self.handler: logging.FileHandler | None = None

    def use(self, path: Path | None) -> None:
        """Log to ``path`` from now on (None: no extra file)."""
        if self.handler is not None and path is not None and \
                Path(self.handler.baseFilename) == path.absolute():
            return
        root = logging.getLogger(ROOT_LOGGER)
        if self.handler is not None:
            root.removeHandler(self.handler)
            self.handler.close()
            self.handler = None
        if path is not None:
            self.handler = logging.FileHandler(path, encoding="utf-8", delay=True)
            self.handler.setFormatter(logging.Formatter(FORMAT))
            self.handler.addFilter(EscapeUnprintable())
            root.addHandler(self.handler)

    def reopen(self) -> None:
        if self.handler is not None:
            self.handler.close()
