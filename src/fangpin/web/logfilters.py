"""Log filters for the server log (settings.LOGGING)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


class DenialsWithoutTraceback(logging.Filter):
    """A refused page is an expected event, audited as ACCESS_DENIED: Django logs it with the exception's
    traceback, which buries real errors. Keep the one-line message, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exception = record.exc_info[1] if record.exc_info else None
        if isinstance(exception, PermissionDenied) or getattr(record, "status_code", None) == 403:
            record.exc_info, record.exc_text = None, None
        return True
