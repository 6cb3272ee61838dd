"""Python client for LedgerServer. See client.Client and Specs/protocol.md."""
from .client import Client, DeadlineExceeded, LedgerError
from . import protocol

__all__ = ['Client', 'DeadlineExceeded', 'LedgerError', 'protocol']
