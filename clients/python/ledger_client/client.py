"""A blocking, thread-safe LedgerServer client (Python 3, standard library).

- One TCP connection, opened with the handshake on first use and re-opened
  after it drops.
- Pipelining: any number of threads may call at once; up to the server's
  in_flight_max requests are on the wire together and replies are matched
  by request id (they may arrive in any order).
- Deadlines: every call ends within `deadline_s`, with an answer or
  DeadlineExceeded.
- Retries: busy, rateLimited, tooManyInFlight, shuttingDown, engineStopped
  and a dropped connection are retried with the same bytes (the same ids)
  until the deadline. Idempotency makes that safe: an event an earlier
  attempt applied answers 'exists', so treat 'ok' and 'exists' alike.
- Read-your-writes (protocol version 2, offered in hello): each write reply
  carries its commit LSN; reads carry the highest one seen (read_min_lsn)
  and a server that has not applied it waits up to read_wait_ms, then
  answers 'behind' (LedgerError).
"""
import socket
import ssl
import threading
import time
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import protocol as p

RETRIED = {'busy', 'rateLimited', 'tooManyInFlight', 'shuttingDown', 'engineStopped'}


class LedgerError(Exception):
    """The server refused a request; nothing it carried was applied."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__('%s: %s' % (status, message))
        self.status = status
        self.message = message


def judge_reply(code: int, reply: Tuple[int, int, bytes]) -> Tuple[str, bool]:
    """What a reply to operation `code` means, shared by Client and
    AsyncClient: ('ok', False), or a retried status and whether the
    connection must be closed; raises LedgerError (refused) or ProtocolError
    (the caller's connection is then unusable: it is closed first)."""
    reply_op, status, body = reply
    if reply_op != code or status >= len(p.STATUSES):
        raise p.ProtocolError('reply with operation %d, status %d' % (reply_op, status))
    name = p.STATUSES[status]
    if name == 'ok' or name in RETRIED:
        return name, name in ('shuttingDown', 'engineStopped')
    raise LedgerError(name, body.decode('utf-8', 'replace'))


class DeadlineExceeded(Exception):
    """No definitive answer in time; a submission may or may not be applied:
    retry it with the same ids."""


class ConnectionRefused(ConnectionRefusedError):
    """Nothing listens at the address and this client never reached a server
    there: raised at once instead of retrying until the deadline. (Once a
    client has connected, a refused reconnect is a restarting server and is
    retried.)"""


Result = Union[str, int]   # a result name (Specs/data-model.md), or the code if this client does not know it


class _Slot:
    """A request waiting for its reply (None: the connection dropped)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: Optional[Tuple[int, int, bytes]] = None
        self.version = p.VERSION


class _Connection:
    """A socket, a reader thread, and the requests waiting for replies."""

    def __init__(self, host: str, port: int, timeout_s: float, tls: Optional[ssl.SSLContext] = None, server_name: Optional[str] = None) -> None:
        self.sock: socket.socket = socket.create_connection((host, port), timeout=timeout_s)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_name or host)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()
        # One frame at a time on the socket: sendall may write a large frame
        # in several pieces, and an SSL socket must not be written from two
        # threads at once.
        self.send_lock = threading.Lock()
        self.waiting: Dict[int, _Slot] = {}
        self.closed = False
        self.version = p.VERSION   # set once hello agrees on one
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def _read_exact(self, n: int) -> bytes:
        chunks: List[bytes] = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise ConnectionError('closed by the server')
            chunks.append(chunk)
            n -= len(chunk)
        return b''.join(chunks)

    def _read_loop(self) -> None:
        try:
            while True:
                head = self._read_exact(p.HEADER_BYTES)
                operation, request_id, n, crc, status = p.decode_header(head)
                body = self._read_exact(n)
                if p.masked_crc(body) != crc:
                    raise p.ProtocolError('reply body checksum mismatch')
                with self.lock:
                    slot = self.waiting.pop(request_id, None)
                if slot is not None:
                    slot.version = p.header_version(head)
                    slot.reply = (operation, status, body)
                    slot.done.set()
        except (OSError, ConnectionError, p.ProtocolError):
            pass
        finally:
            self.close()

    def send(self, operation: int, request_id: int, body: bytes) -> '_Slot':
        slot = _Slot()
        with self.lock:
            if self.closed:
                raise ConnectionError('connection closed')
            self.waiting[request_id] = slot
        frame = p.encode_frame(operation, request_id, body, version=self.version)
        with self.send_lock:
            self.sock.sendall(frame)
        return slot

    def abandon(self, request_id: int) -> None:
        with self.lock:
            self.waiting.pop(request_id, None)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            waiting, self.waiting = self.waiting, {}
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for slot in waiting.values():
            slot.done.set()   # reply None: the connection dropped


class Client:
    def __init__(self, key_id: str, secret: bytes, host: str = '127.0.0.1', port: int = p.DEFAULT_PORT, deadline_s: float = 10.0,
                 retry_delay_first_s: float = 0.002, retry_delay_max_s: float = 0.2, tls_ca_file: Optional[str] = None, tls: bool = False,
                 tls_server_name: Optional[str] = None, protocol_versions: Tuple[int, int] = p.VERSIONS, read_wait_ms: int = 5_000) -> None:
        """tls / tls_ca_file: speak TLS 1.2+ (the server runs with --tls-certificate),
        trusting the system roots or the PEM roots in tls_ca_file.
        protocol_versions: offered in hello; read_wait_ms: how long a server may
        wait for read_min_lsn before answering 'behind' (version 2)."""
        self.key_id = key_id
        self.secret = bytes(secret)
        self.host = host
        self.port = port
        self.deadline_s = deadline_s
        self.retry_delay_first_s = retry_delay_first_s
        self.retry_delay_max_s = retry_delay_max_s
        self.server: Optional[p.HelloReply] = None   # the hello reply: the server's limits
        self.retries = 0
        self.protocol_versions = protocol_versions
        self.read_wait_ms = min(read_wait_ms, p.READ_WAIT_MS_MAX)
        self.last_write_lsn = 0   # the highest LSN a write through this client committed at
        self.read_min_lsn = 0     # reads are served only where this LSN is applied
        self._lock = threading.Lock()
        self._conn: Optional[_Connection] = None
        self._ever_connected = False   # a refusal before the first handshake is final
        self._next_id = 2           # 1 is each connection's hello
        self._slots: Optional[threading.BoundedSemaphore] = None
        self._tls: Optional[ssl.SSLContext] = None
        self._tls_server_name = tls_server_name
        if tls or tls_ca_file:
            self._tls = ssl.create_default_context(cafile=tls_ca_file)
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2

    # --- operations ------------------------------------------------------

    def create_accounts(self, accounts: Iterable[Mapping[str, int]]) -> List[Result]:
        """accounts: dicts with id, ledger, code and optional flags, user_data."""
        events = [p.account_event(**a) for a in accounts]
        return self._write('createAccounts', events)

    def close_accounts(self, ids: Iterable[int]) -> List[Result]:
        events = [p.close_account_event(i) for i in ids]
        return self._write('createAccounts', events)

    def submit(self, entries: Iterable[Mapping[str, object]]) -> List[Result]:
        """entries: dicts for protocol.entry_event; one result name per entry."""
        events = [p.entry_event(**e) for e in entries]  # type: ignore[arg-type]  # fields are checked by entry_event
        return self._write('submitEntries', events)

    def read_your_writes(self, lsn: int) -> None:
        """Later reads wait until their server has `lsn` (a write's commit LSN)."""
        with self._lock:
            self.read_min_lsn = max(self.read_min_lsn, lsn)

    def lookup_accounts(self, ids: Iterable[int]) -> List[Optional[p.Account]]:
        id_list = list(ids)
        return p.decode_accounts(self._read('lookupAccounts', p.encode_ids(id_list)), len(id_list))

    def lookup_entries(self, ids: Iterable[int]) -> List[Optional[p.Entry]]:
        id_list = list(ids)
        return p.decode_entries(self._read('lookupEntries', p.encode_ids(id_list)), len(id_list))

    def history(self, account: int, from_ns: int = 0, to_ns: int = p.NO_END, after: int = 0, limit: int = 100) -> p.HistoryPage:
        return p.decode_history_page(self._read('accountHistory', p.encode_history_query(account, from_ns, to_ns, after, limit)))

    def balance_as_of(self, account: int, as_of_ns: int) -> p.Balances:
        return p.decode_balances(self._read('balanceAsOf', p.encode_balance_query(account, as_of_ns)))

    def status(self) -> p.Status:
        return p.decode_status(self._call('status', b''))

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn:
            conn.close()

    # --- requests, retries, deadlines ------------------------------------

    def _write(self, operation: str, events: List[bytes]) -> List[Result]:
        version, reply = self._call_versioned(operation, lambda _version: p.encode_batch(events))
        if version < p.READ_YOUR_WRITES_VERSION:
            return p.decode_results(reply, len(events))
        results, lsn = p.decode_committed_results(reply, len(events))
        with self._lock:
            self.last_write_lsn = max(self.last_write_lsn, lsn)
            self.read_min_lsn = max(self.read_min_lsn, lsn)
        return results

    def _read(self, operation: str, body: bytes) -> bytes:
        prefix = p.encode_read_prefix(self.read_min_lsn, self.read_wait_ms)
        return self._call_versioned(operation, lambda version: prefix + body if version >= p.READ_YOUR_WRITES_VERSION else body)[1]

    def _connected(self, deadline: float) -> _Connection:
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            conn = _Connection(self.host, self.port, max(0.05, deadline - time.monotonic()), self._tls, self._tls_server_name)
            slot = conn.send(p.OPERATIONS['hello'], 1, p.encode_hello(self.key_id, self.secret, self.protocol_versions))
            if not slot.done.wait(max(0.0, deadline - time.monotonic())) or slot.reply is None:
                conn.close()
                raise ConnectionError('no hello reply')
            _op, status, body = slot.reply
            if status != 0:
                conn.close()
                raise LedgerError(p.STATUSES[status], body.decode('utf-8', 'replace'))
            server = p.decode_hello_reply(body)
            if not self.protocol_versions[0] <= server.version <= self.protocol_versions[1] or slot.version != server.version:
                conn.close()
                raise p.ProtocolError('hello answered with version %d in a version %d frame' % (server.version, slot.version))
            conn.version = server.version
            self.server = server
            self._slots = threading.BoundedSemaphore(server.in_flight_max)
            self._conn = conn
            self._ever_connected = True
            return conn

    def _call(self, operation: str, body: bytes) -> bytes:
        return self._call_versioned(operation, lambda _version: body)[1]

    def _call_versioned(self, operation: str, encode: Callable[[int], bytes]) -> Tuple[int, bytes]:
        """Sends the body `encode` makes for the connection's version until a
        definitive reply or the deadline: (version, body of the 'ok' reply)."""
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
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, self.retry_delay_max_s)
            attempt += 1
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(operation)
            try:
                conn = self._connected(deadline)
            except ssl.SSLCertVerificationError:
                raise
            except ConnectionRefusedError:
                if not self._ever_connected:
                    raise ConnectionRefused('connection refused by %s:%d: no server listens there' % (self.host, self.port))
                continue
            except (OSError, ConnectionError):
                continue
            slots = self._slots
            assert slots is not None, 'set by the handshake'
            if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise DeadlineExceeded(operation)
            try:
                with self._lock:
                    request_id = self._next_id
                    self._next_id = self._next_id + 1 if self._next_id < (1 << 64) - 1 else 2
                try:
                    slot = conn.send(code, request_id, encode(conn.version))
                except (OSError, ConnectionError):
                    conn.close()
                    continue
                if not slot.done.wait(max(0.0, deadline - time.monotonic())):
                    conn.abandon(request_id)
                    raise DeadlineExceeded(operation)
            finally:
                slots.release()
            if slot.reply is None:
                continue    # the connection dropped: reconnect, send again
            try:
                name, closes = judge_reply(code, slot.reply)
            except p.ProtocolError:
                conn.close()
                raise
            if closes:
                conn.close()
            if name == 'ok':
                return slot.version, slot.reply[2]
            continue   # retried: same bytes, until the deadline
