"""Python client for LedgerServer: `Client` (threads) and `AsyncClient`
(asyncio). See Specs/protocol.md."""
from .aio import AsyncClient
from .client import Client, ConnectionRefused, DeadlineExceeded, LedgerError
from . import protocol

__all__ = ['AsyncClient', 'Client', 'ConnectionRefused', 'DeadlineExceeded', 'LedgerError', 'protocol']
