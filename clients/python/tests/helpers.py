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
