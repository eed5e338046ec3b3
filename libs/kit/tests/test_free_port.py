import socket
import subprocess
import sys
from pathlib import Path

import pytest
from krafa_kit import embedded
from krafa_kit.embedded import _ephemeral_low, free_port


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(port < _ephemeral_low() for port in ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_another_process_was_handed_is_not_handed_out_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 400 ports to choose from, 200 each: without the shared ledger the two would overlap.
    narrow = (
        "import sys, pathlib, krafa_kit.embedded as e;"
        f"e._LEDGER = pathlib.Path({str(tmp_path / 'ledger')!r}); e._ephemeral_low = lambda: 10401;"
        "print(' '.join(str(e.free_port()) for _ in range(200)))"
    )
    theirs = subprocess.run([sys.executable, "-c", narrow], capture_output=True, text=True, check=True)
    monkeypatch.setattr(embedded, "_LEDGER", tmp_path / "ledger")
    monkeypatch.setattr(embedded, "_ephemeral_low", lambda: 10401)
    ours = [free_port() for _ in range(200)]
    assert not set(ours) & {int(p) for p in theirs.stdout.split()}
