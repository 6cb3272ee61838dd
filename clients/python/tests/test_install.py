"""`pip install ./clients/python` works in a fresh virtual environment, and
the installed package (not the source tree) is what imports."""
import os
import subprocess
import sys
import tempfile
import unittest

PACKAGE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))


class InstallTests(unittest.TestCase):
    def test_pip_install_into_a_fresh_venv(self):
        with tempfile.TemporaryDirectory() as d:
            venv = os.path.join(d, 'venv')
            subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
            python = os.path.join(venv, 'bin', 'python')
            subprocess.run([python, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', PACKAGE], check=True, capture_output=True)
            script = ('import ledger_client, os; from ledger_client import Client, LedgerError, DeadlineExceeded, ConnectionRefused, protocol; '
                      'print(os.path.dirname(ledger_client.__file__))')
            out = subprocess.run([python, '-c', script], check=True, capture_output=True, text=True, cwd=d).stdout.strip()
            self.assertTrue(out.startswith(venv), out)


if __name__ == '__main__':
    unittest.main()
