"""A primary and its standbys behind one handle (Specs/replication.md).

Writes go to the primary; a `notPrimary` refusal, whose message is the
primary's `host:port`, is followed at once (nothing was applied where it
was refused). Reads go to the standbys, round robin, or to the primary.
One `Client` per address.

Read-your-writes (protocol version 2): the cluster remembers the highest
LSN its writes committed at and sends it with every read; a standby that
has not applied it within read_wait_ms answers 'behind' and the read goes
to the primary."""
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from . import protocol as p
from .client import Client, LedgerError, Result

T = TypeVar('T')


def split_address(address: str) -> Optional[Tuple[str, int]]:
    host, _, port = address.rpartition(':')
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


class Cluster:
    REDIRECTS_MAX = 4   # a loop of standbys naming each other is a misconfiguration

    def __init__(self, addresses: Sequence[str], key_id: str, secret: bytes, **options: Any) -> None:
        """addresses: `host:port`, the presumed primary first; options go to every Client."""
        if not addresses or any(split_address(a) is None for a in addresses):
            raise ValueError('addresses must be host:port')
        self.addresses = list(addresses)
        self.primary = self.addresses[0]
        self._key = (key_id, bytes(secret))
        self._options = options
        self._clients: Dict[str, Client] = {}
        self._next_standby = 0
        self.last_write_lsn = 0
        self.standby_reads_behind = 0   # reads sent on to the primary after 'behind'

    def _client(self, address: str) -> Client:
        if address not in self._clients:
            host, port = split_address(address) or ('', 0)
            self._clients[address] = Client(self._key[0], self._key[1], host=host, port=port, **self._options)
        return self._clients[address]

    def write(self, call: Callable[[Client], T]) -> T:
        address = self.primary
        for _ in range(self.REDIRECTS_MAX + 1):
            try:
                writer = self._client(address)
                result = call(writer)
                self.last_write_lsn = max(self.last_write_lsn, writer.last_write_lsn)
                return result
            except LedgerError as error:
                if error.status != 'notPrimary' or split_address(error.message) is None or error.message == address:
                    raise
                address = self.primary = error.message
        raise LedgerError('notPrimary', '%d servers in a row said they are not the primary' % self.REDIRECTS_MAX)

    def read(self, call: Callable[[Client], T], target: str = 'standby') -> T:
        standbys = [a for a in self.addresses if a != self.primary]
        if target != 'standby' or not standbys:
            return self._read_on(self.primary, call)
        address = standbys[self._next_standby % len(standbys)]
        self._next_standby += 1
        try:
            result = self._read_on(address, call)
        except LedgerError as error:
            if error.status != 'behind':
                raise
            self.standby_reads_behind += 1
            return self._read_on(self.primary, call)
        server = self._client(address).server
        if self.last_write_lsn and (server is None or server.version < p.READ_YOUR_WRITES_VERSION):
            return self._read_on(self.primary, call)   # a version 1 standby could not wait for our writes
        return result

    def _read_on(self, address: str, call: Callable[[Client], T]) -> T:
        reader = self._client(address)
        reader.read_your_writes(self.last_write_lsn)
        return call(reader)

    def create_accounts(self, accounts: Iterable[Mapping[str, int]]) -> List[Result]:
        batch = list(accounts)
        return self.write(lambda c: c.create_accounts(batch))

    def submit(self, entries: Iterable[Mapping[str, object]]) -> List[Result]:
        batch = list(entries)
        return self.write(lambda c: c.submit(batch))

    def lookup_accounts(self, ids: Iterable[int], target: str = 'standby') -> List[Optional[p.Account]]:
        wanted = list(ids)
        return self.read(lambda c: c.lookup_accounts(wanted), target)

    def status(self, target: str = 'primary') -> p.Status:
        return self.read(lambda c: c.status(), target)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients = {}
