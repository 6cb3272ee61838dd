"""An asyncio LedgerServer client (Python 3.8+, standard library): the same
operations, deadlines, retries and errors as `Client`, for asyncio code
(FastAPI, Django async views, aiohttp).

One connection per client, opened with the handshake on first use and
re-opened after it drops; concurrent calls are pipelined on it (up to the
server's in_flight_max) and replies matched by request id. Every call ends
within `deadline_s`. busy, rateLimited, tooManyInFlight, shuttingDown,
engineStopped and a dropped connection are retried with the same bytes (the
same ids) until the deadline: treat 'ok' and 'exists' alike.
"""
import asyncio
import ssl
import time
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from . import protocol as p
from .client import ConnectionRefused, DeadlineExceeded, LedgerError, Result, judge_reply

_Reply = Tuple[int, int, bytes]   # operation, status, body


class _AsyncConnection:
    """A stream pair, a reader task, and the requests waiting for replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.waiting: Dict[int, 'asyncio.Future[Optional[_Reply]]'] = {}
        self.closed = False
        self.task = asyncio.ensure_future(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(p.HEADER_BYTES)
                operation, request_id, n, crc, status = p.decode_header(head)
                body = await self.reader.readexactly(n)
                if p.masked_crc(body) != crc:
                    raise p.ProtocolError('reply body checksum mismatch')
                future = self.waiting.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result((operation, status, body))
        except (OSError, asyncio.IncompleteReadError, p.ProtocolError):
            pass
        finally:
            self.close()

    def send(self, operation: int, request_id: int, body: bytes) -> 'asyncio.Future[Optional[_Reply]]':
        if self.closed:
            raise ConnectionError('connection closed')
        future: 'asyncio.Future[Optional[_Reply]]' = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        # One write call per frame: the event loop writes frames whole, in order.
        self.writer.write(p.encode_frame(operation, request_id, body))
        return future

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        waiting, self.waiting = self.waiting, {}
        self.writer.close()
        for future in waiting.values():
            if not future.done():
                future.set_result(None)   # the connection dropped


class AsyncClient:
    def __init__(self, key_id: str, secret: bytes, host: str = '127.0.0.1', port: int = p.DEFAULT_PORT, deadline_s: float = 10.0,
                 retry_delay_first_s: float = 0.002, retry_delay_max_s: float = 0.2, tls_ca_file: Optional[str] = None, tls: bool = False,
                 tls_server_name: Optional[str] = None) -> None:
        self.key_id = key_id
        self.secret = bytes(secret)
        self.host = host
        self.port = port
        self.deadline_s = deadline_s
        self.retry_delay_first_s = retry_delay_first_s
        self.retry_delay_max_s = retry_delay_max_s
        self.server: Optional[p.HelloReply] = None
        self.retries = 0
        self._conn: Optional[_AsyncConnection] = None
        self._connecting: Optional[asyncio.Lock] = None
        self._ever_connected = False
        self._next_id = 2
        self._slots: Optional[asyncio.Semaphore] = None
        self._tls: Optional[ssl.SSLContext] = None
        self._tls_server_name = tls_server_name
        if tls or tls_ca_file:
            self._tls = ssl.create_default_context(cafile=tls_ca_file)
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2

    async def __aenter__(self) -> 'AsyncClient':
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- operations ------------------------------------------------------

    async def create_accounts(self, accounts: Iterable[Mapping[str, int]]) -> List[Result]:
        events = [p.account_event(**a) for a in accounts]
        return p.decode_results(await self._call('createAccounts', p.encode_batch(events)), len(events))

    async def close_accounts(self, ids: Iterable[int]) -> List[Result]:
        events = [p.close_account_event(i) for i in ids]
        return p.decode_results(await self._call('createAccounts', p.encode_batch(events)), len(events))

    async def submit(self, entries: Iterable[Mapping[str, object]]) -> List[Result]:
        events = [p.entry_event(**e) for e in entries]  # type: ignore[arg-type]  # fields are checked by entry_event
        return p.decode_results(await self._call('submitEntries', p.encode_batch(events)), len(events))

    async def lookup_accounts(self, ids: Iterable[int]) -> List[Optional[p.Account]]:
        id_list = list(ids)
        return p.decode_accounts(await self._call('lookupAccounts', p.encode_ids(id_list)), len(id_list))

    async def lookup_entries(self, ids: Iterable[int]) -> List[Optional[p.Entry]]:
        id_list = list(ids)
        return p.decode_entries(await self._call('lookupEntries', p.encode_ids(id_list)), len(id_list))

    async def history(self, account: int, from_ns: int = 0, to_ns: int = p.NO_END, after: int = 0, limit: int = 100) -> p.HistoryPage:
        return p.decode_history_page(await self._call('accountHistory', p.encode_history_query(account, from_ns, to_ns, after, limit)))

    async def balance_as_of(self, account: int, as_of_ns: int) -> p.Balances:
        return p.decode_balances(await self._call('balanceAsOf', p.encode_balance_query(account, as_of_ns)))

    async def status(self) -> p.Status:
        return p.decode_status(await self._call('status', b''))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            try:
                await conn.writer.wait_closed()
            except OSError:
                pass

    # --- requests, retries, deadlines ------------------------------------

    async def _connected(self, deadline: float) -> _AsyncConnection:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            server_name = (self._tls_server_name or self.host) if self._tls is not None else None
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self._tls, server_hostname=server_name),
                max(0.05, deadline - time.monotonic()))
            conn = _AsyncConnection(reader, writer)
            future = conn.send(p.OPERATIONS['hello'], 1, p.encode_hello(self.key_id, self.secret))
            try:
                reply = await asyncio.wait_for(future, max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                reply = None
            if reply is None:
                conn.close()
                raise ConnectionError('no hello reply')
            _op, status, body = reply
            if status != 0:
                conn.close()
                raise LedgerError(p.STATUSES[status], body.decode('utf-8', 'replace'))
            server = p.decode_hello_reply(body)
            self.server = server
            self._slots = asyncio.Semaphore(server.in_flight_max)
            self._conn = conn
            self._ever_connected = True
            return conn

    async def _call(self, operation: str, body: bytes) -> bytes:
        code = p.OPERATIONS[operation]
        deadline = time.monotonic() + self.deadline_s
        delay = self.retry_delay_first_s
        attempt = 0
        while True:
            if attempt:
                self.retries += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeadlineExceeded(operation)
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, self.retry_delay_max_s)
            attempt += 1
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(operation)
            try:
                conn = await self._connected(deadline)
            except ssl.SSLCertVerificationError:
                raise
            except ConnectionRefusedError:
                if not self._ever_connected:
                    raise ConnectionRefused('connection refused by %s:%d: no server listens there' % (self.host, self.port))
                continue
            except (OSError, ConnectionError, asyncio.TimeoutError):
                continue
            slots = self._slots
            assert slots is not None, 'set by the handshake'
            try:
                await asyncio.wait_for(slots.acquire(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise DeadlineExceeded(operation) from None
            try:
                request_id = self._next_id
                self._next_id = self._next_id + 1 if self._next_id < (1 << 64) - 1 else 2
                try:
                    future = conn.send(code, request_id, body)
                except (OSError, ConnectionError):
                    conn.close()
                    continue
                try:
                    reply = await asyncio.wait_for(future, max(0.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    conn.waiting.pop(request_id, None)
                    raise DeadlineExceeded(operation) from None
            finally:
                slots.release()
            if reply is None:
                continue    # the connection dropped: reconnect, send again
            try:
                name, closes = judge_reply(code, reply)
            except p.ProtocolError:
                conn.close()
                raise
            if closes:
                conn.close()
            if name == 'ok':
                return reply[2]
            continue   # retried: same bytes, until the deadline
