"""Every script in Examples/ runs against a real server and ends with its
balance checks passing (exit status 0)."""
import glob
import os
import subprocess
import sys
import unittest

from helpers import ROOT, Server

EXAMPLES = sorted(p for p in glob.glob(os.path.join(ROOT, 'Examples', '*.py')) if not p.endswith('common.py'))


class ExampleTests(unittest.TestCase):
    def test_every_example_runs_and_checks_its_balances(self):
        self.assertEqual(len(EXAMPLES), 5)
        server = Server()
        try:
            env = dict(os.environ, LEDGER_PORT=str(server.port), LEDGER_SECRET=server.secret.hex())
            for path in EXAMPLES:
                with self.subTest(example=os.path.basename(path)):
                    run = subprocess.run([sys.executable, path], env=env, capture_output=True, text=True, timeout=120)
                    self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
                    self.assertIn(': OK', run.stdout)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == '__main__':
    unittest.main()
