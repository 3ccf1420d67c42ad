"""Error ids: every failure the Slack surface swallows is logged with a short id that people can quote.

The id appears in the log line (with the traceback) and in whatever the person who asked is told, so
"something went wrong (error 1f0c9a2e)" in a thread leads straight to the one log line that explains it.
"""

from __future__ import annotations

import logging
import secrets


def new_error_id() -> str:
    """A fresh id: 8 hex characters, enough to find one failure in a day's logs."""
    return secrets.token_hex(4)


def log_failure(log: logging.Logger, what: str, *args: object, error: BaseException | None = None) -> str:
    """Log a failure as `what % args`, tagged with a new error id, with its traceback; returns the id.

    The traceback is `error`'s, else the exception being handled (call it from an ``except`` block).
    """
    error_id = new_error_id()
    log.error(what + " (error %s)", *args, error_id, exc_info=error or True)
    return error_id


def apology(error_id: str, what: str = "Something went wrong") -> str:
    """What to tell a person when their request failed: ``Something went wrong (error 1f0c9a2e).``"""
    return f"{what} (error {error_id})."
