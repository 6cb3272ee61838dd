"""Python client for LedgerServer: `Client` (threads) and `AsyncClient`
(asyncio). See Specs/protocol.md."""
from .aio import AsyncClient
from .client import Client, ConnectionRefused, DeadlineExceeded, LedgerError
from .cluster import Cluster
from . import protocol

__all__ = ['AsyncClient', 'Client', 'Cluster', 'ConnectionRefused', 'DeadlineExceeded', 'LedgerError', 'protocol']
