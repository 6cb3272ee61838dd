"""Starts a real LedgerServer for the tests (LEDGER_SERVER, or the debug build)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
VECTORS = os.path.join(ROOT, 'Specs', 'vectors')


def read_vector(name):
    with open(os.path.join(VECTORS, name)) as f:
        return bytes.fromhex(''.join(line for line in f if not line.startswith('#')))


def read_vector_text(name):
    with open(os.path.join(VECTORS, name)) as f:
        return f.read().strip()


class Server:
    def __init__(self, directory=None, port=0, arguments=()):
        self.path = os.environ.get('LEDGER_SERVER', os.path.join(ROOT, '.build', 'debug', 'LedgerServer'))
        self.owns_directory = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix='ledger-py-')
        data = os.path.join(self.directory, 'data')
        self.process = subprocess.Popen([self.path, '--data-dir', data, '--port', str(port), '--no-metrics', '--create-dev-key', *arguments],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = None
        self.secret = None
        for line in self.process.stdout:
            m = re.search(r'secret ([0-9a-f]+)', line)
            if m:
                self.secret = bytes.fromhex(m.group(1))
            m = re.match(r'listening on [^:]*:(\d+)', line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise RuntimeError('LedgerServer did not start')

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.process.stdout.close()
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        return code


class AsyncAdapter:
    """An AsyncClient behind the threaded Client's interface: each call runs
    as a coroutine on one event loop thread, so calls from many threads are
    concurrent tasks on the asyncio client (the same tests run on both)."""

    _loop = None

    @classmethod
    def loop(cls):
        import asyncio
        import threading
        if cls._loop is None:
            cls._loop = asyncio.new_event_loop()
            threading.Thread(target=cls._loop.run_forever, daemon=True).start()
        return cls._loop

    def __init__(self, client):
        self.client = client

    def _run(self, coroutine):
        import asyncio
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop()).result()

    def __getattr__(self, name):
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._run(attribute(*args, **kwargs))
