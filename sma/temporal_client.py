"""The one place that connects to Temporal (DESIGN.md convention 3), always with the pydantic converter."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from sma.settings import Settings


async def connect(address: str, namespace: str = "default", attempts: int = 1, delay: float = 0.5) -> Client:
    """Connect, retrying while a server that was just started comes up."""
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
        except RuntimeError:
            if attempt == attempts:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def client_for(settings: Settings, attempts: int = 1) -> Client:
    return await connect(settings.temporal_address, settings.temporal.namespace, attempts=attempts)
