"""Log lines: JSON with the context that was bound, credentials in URLs masked in every format."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from relay.core.enums import LogFormat
from relay.core.logging_setup import TEXT_FORMAT, ContextFilter, JsonFormatter, bind_log_context


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"tests.logging.{id(stream)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger, stream


async def test_a_json_line_carries_the_context_of_the_task_that_wrote_it() -> None:
    logger, stream = capture(JsonFormatter())

    async def session_task() -> None:
        bind_log_context(tenant="ten_1", session="ses_1")
        logger.info("claimed %s", "ses_1")

    await asyncio.create_task(session_task())
    logger.warning("outside any session")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "claimed ses_1" and first["level"] == "info"
    assert (first["tenant_id"], first["session_id"]) == ("ten_1", "ses_1")
    assert first["logger"].startswith("tests.logging.") and first["timestamp"].endswith("+00:00")
    # The task's context ended with it: a line written elsewhere names no session.
    assert "session_id" not in second and second["level"] == "warning"


def test_an_exception_is_one_json_line_with_its_traceback() -> None:
    logger, stream = capture(JsonFormatter())
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "ValueError: boom" in json.loads(lines[0])["exception"]


@pytest.mark.parametrize("log_format", list(LogFormat))
def test_a_token_in_a_query_string_is_masked(log_format: LogFormat) -> None:
    formatter = JsonFormatter() if log_format == LogFormat.JSON else logging.Formatter(TEXT_FORMAT)
    logger, stream = capture(formatter)
    logger.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/v1/ws?token=rk_secret&since=1")
    assert "rk_secret" not in stream.getvalue()
    assert "/v1/ws?token=redacted&since=1" in stream.getvalue()
