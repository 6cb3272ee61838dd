"""Python client for LedgerServer. See client.Client and Specs/protocol.md."""
from .client import Client, ConnectionRefused, DeadlineExceeded, LedgerError
from . import protocol

__all__ = ['Client', 'ConnectionRefused', 'DeadlineExceeded', 'LedgerError', 'protocol']
