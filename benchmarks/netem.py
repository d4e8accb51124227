"""The emulated link's kernel half: a network namespace of the harness's own, joined to the host by a
veth pair whose both ends are shaped with `tc tbf` (bandwidth cap). The S3 server runs inside the
namespace on an address the harness assigns itself; the delay proxy (delayproxy.py) on 127.0.0.1
forwards to it, adding the round-trip delay that netem would add (this kernel has no netem).

Only addresses made here are ever used: 10.254.N.1 (host end) and 10.254.N.2 (namespace end) on a
/30 that this module checks is not routed elsewhere before taking it.

    link = NetnsLink.create(link_mbit=2000)     # raises NetemUnavailable when it cannot
    ... run the server with link.exec_prefix() ...
    link.destroy()                               # also registered with atexit
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess

PREFIX = "shoalbench"


class NetemUnavailable(RuntimeError):
    pass


def _run(*cmd, check=True, ns=None):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetemUnavailable(f"{' '.join(cmd)}: {e}") from e
    if check and r.returncode != 0:
        raise NetemUnavailable(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cleanup_stale():
    """Removes namespaces (and with them their veths) left by harness runs whose process is gone."""
    if not shutil.which("ip"):
        return []
    r = _run("ip", "netns", "list", check=False)
    removed = []
    for line in r.stdout.splitlines():
        m = re.match(rf"^({PREFIX}-(\d+))\b", line.strip())
        if m and not _pid_alive(int(m.group(2))):
            _run("ip", "netns", "del", m.group(1), check=False)
            _run("ip", "link", "del", f"sbh{m.group(2)}"[:15], check=False)
            removed.append(m.group(1))
    return removed


class NetnsLink:
    def __init__(self, ns, host_if, ns_if, host_ip, ns_ip, link_mbit):
        self.ns, self.host_if, self.ns_if = ns, host_if, ns_if
        self.host_ip, self.ns_ip = host_ip, ns_ip
        self.link_mbit = link_mbit
        self.alive = True

    @classmethod
    def create(cls, link_mbit: float) -> "NetnsLink":
        if os.geteuid() != 0:
            raise NetemUnavailable("not root: cannot create a network namespace")
        for tool in ("ip", "tc"):
            if not shutil.which(tool):
                raise NetemUnavailable(f"`{tool}` is not installed (iproute2)")
        cleanup_stale()
        pid = os.getpid()
        ns = f"{PREFIX}-{pid}"
        host_if, ns_if = f"sbh{pid}"[:15], f"sbn{pid}"[:15]
        subnet = cls._free_subnet(pid)
        host_ip, ns_ip = f"10.254.{subnet}.1", f"10.254.{subnet}.2"
        link = cls(ns, host_if, ns_if, host_ip, ns_ip, link_mbit)
        atexit.register(link.destroy)
        try:
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            _run("ip", "link", "set", ns_if, "netns", ns)
            _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
            _run("ip", "link", "set", host_if, "up")
            _run("ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if, ns=ns)
            _run("ip", "link", "set", ns_if, "up", ns=ns)
            _run("ip", "link", "set", "lo", "up", ns=ns)
            if link_mbit:
                rate_bytes = link_mbit * 1e6 / 8
                burst = max(256 * 1024, int(rate_bytes / 100))  # >= rate / HZ
                for dev, where in ((host_if, None), (ns_if, ns)):
                    _run("tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                         f"{int(link_mbit)}mbit", "burst", str(burst), "latency", "200ms", ns=where)
        except Exception:
            link.destroy()
            raise
        return link

    @staticmethod
    def _free_subnet(pid: int) -> int:
        used = _run("ip", "-4", "addr", check=False).stdout + _run("ip", "-4", "route", check=False).stdout
        for i in range(250):
            n = (pid + i) % 250 + 1
            if f"10.254.{n}." not in used:
                return n
        raise NetemUnavailable("no free 10.254.N.0/30 subnet")

    def exec_prefix(self) -> list:
        return ["ip", "netns", "exec", self.ns]

    def describe(self) -> dict:
        qd = _run("tc", "qdisc", "show", "dev", self.ns_if, ns=self.ns, check=False).stdout.strip()
        return {"namespace": self.ns, "veth": [self.host_if, self.ns_if], "host_ip": self.host_ip,
                "ns_ip": self.ns_ip, "link_mbit": self.link_mbit, "qdisc": qd}

    def destroy(self):
        if not self.alive:
            return
        self.alive = False
        _run("ip", "link", "del", self.host_if, check=False)  # takes its peer with it
        _run("ip", "netns", "del", self.ns, check=False)
        try:
            atexit.unregister(self.destroy)
        except Exception:
            pass
