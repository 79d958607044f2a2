"""What operators probe."""

from __future__ import annotations

from typing import Literal

from relay.core.schemas import ResponseBody


class Health(ResponseBody):
    status: Literal["ok"]


class Ready(ResponseBody):
    """Every dependency answered; otherwise the answer is a 503 problem naming what failed."""

    database: Literal["ok"]
    redis: Literal["ok"]
