"""emolive runs offline: an analysis sends nothing to any address but this machine's (checked under strace)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# connect()/sendto() to an IPv4 or IPv6 address, as strace prints them
ADDRESS = re.compile(r'(?:sin_addr=inet_addr\("(?P<v4>[^"]+)"\)|inet_pton\(AF_INET6, "(?P<v6>[^"]+)")')


def outside_addresses(trace: str) -> list[str]:
    """The addresses in an strace log of connect/sendto calls that are not on this machine."""
    found = []
    for line in trace.splitlines():
        if "connect(" not in line and "sendto(" not in line:
            continue
        for match in ADDRESS.finditer(line):
            address = match.group("v4") or match.group("v6")
            if not (address.startswith("127.") or address in ("::1", "0.0.0.0", "::")):
                found.append(address)
    return found


def test_outside_addresses_are_found() -> None:
    trace = ('12 connect(11, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0\n'
             '12 connect(3, {sa_family=AF_INET, sin_port=htons(8765), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
             '12 connect(4, {sa_family=AF_INET6, sin6_port=htons(53), inet_pton(AF_INET6, "2001:db8::1", ...)}) = 0\n'
             '12 connect(5, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0\n')
    assert outside_addresses(trace) == ["10.255.255.53", "2001:db8::1"]


@pytest.mark.slow
def test_analyze_sends_nothing_off_this_machine(tmp_path: Path, demo_clip: Path) -> None:
    strace = shutil.which("strace")
    assert strace, "strace is installed by packaging/setup.sh"
    log = tmp_path / "trace.txt"
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}  # what a user's shell has
    command = [strace, "-f", "-e", "trace=connect,sendto", "-o", str(log), sys.executable, "-m", "emolive",
               "analyze", str(demo_clip), "-o", str(tmp_path / "demo.csv"), "--no-asr"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert outside_addresses(log.read_text()) == []
