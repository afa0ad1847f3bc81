#!/usr/bin/env python3
"""A ZooKeeper ensemble on loopback from Debian's zookeeper package, for benchmarks and demos.

The same setup as the tests' tests/support/zookeeper_ensemble.h: QuorumPeerMain on the Debian
jars, one zoo.cfg and myid per member, the admin server off, a small heap.

As a module:  e = Ensemble(directory, members=3); e.start(); e.wait_serving(); e.connect_string();
              e.kill(i); e.stop()
As a program: zk_ensemble.py start DIR [MEMBERS]   starts the members (detached) and prints the
                                                  connect string once a quorum serves
              zk_ensemble.py stop DIR              kills them
"""

import os
import signal
import socket
import subprocess
import sys
import time

JAVA = "/usr/bin/java"
JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"]


def missing():
    """Why an ensemble cannot start here, or None."""
    for path in [JAVA] + JARS:
        if not os.path.exists(path):
            return "%s is missing (make deps installs default-jre-headless, zookeeper and libslf4j-java)" % path
    return None


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mode(port, timeout=0.5):
    """The member's mode ("leader", "follower", "standalone") from the srvr command, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"srvr")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


class Ensemble:
    def __init__(self, directory, members=3, tick_ms=200):
        self.dir = directory
        self.members = members
        self.tick_ms = tick_ms
        self.ports = []  # (client, peer, election) per member
        self.procs = {}

    def _member_dir(self, i):
        return os.path.join(self.dir, "member-%d" % (i + 1))

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.ports = [(_free_port(), _free_port(), _free_port()) for _ in range(self.members)]
        with open(os.path.join(self.dir, "ports"), "w") as f:
            f.write("\n".join("%d %d %d" % p for p in self.ports) + "\n")
        for i in range(self.members):
            d = self._member_dir(i)
            os.makedirs(os.path.join(d, "data"), exist_ok=True)
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write("%d\n" % (i + 1))
            lines = ["tickTime=%d" % self.tick_ms, "initLimit=20", "syncLimit=10", "dataDir=%s/data" % d,
                     "clientPort=%d" % self.ports[i][0], "clientPortAddress=127.0.0.1", "minSessionTimeout=400",
                     "maxSessionTimeout=60000", "admin.enableServer=false", "4lw.commands.whitelist=srvr,ruok",
                     "cnxTimeout=1000"]
            if self.members > 1:
                for j, (_, peer, election) in enumerate(self.ports):
                    lines.append("server.%d=127.0.0.1:%d:%d" % (j + 1, peer, election))
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write("\n".join(lines) + "\n")
        for i in range(self.members):
            self.spawn(i)

    def spawn(self, i):
        d = self._member_dir(i)
        log = open(os.path.join(d, "zookeeper.log"), "a")
        p = subprocess.Popen([JAVA, "-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", ":".join(JARS),
                              "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dzookeeper.admin.enableServer=false",
                              "-Dzookeeper.jmx.log4j.disable=true", "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                              os.path.join(d, "zoo.cfg")], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[i] = p
        with open(os.path.join(d, "pid"), "w") as f:
            f.write("%d\n" % p.pid)

    def connect_string(self):
        return ",".join("127.0.0.1:%d" % p[0] for p in self.ports)

    def wait_serving(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            modes = [mode(p[0]) for p in self.ports]
            if modes.count("leader") + modes.count("standalone") == 1 and sum(m is not None for m in modes) > self.members // 2:
                return True
            time.sleep(0.1)
        return False

    def kill(self, i):
        p = self.procs.pop(i, None)
        if p:
            p.kill()
            p.wait()

    def stop(self):
        for i in list(self.procs):
            self.kill(i)


def _stop_dir(directory):
    for name in sorted(os.listdir(directory)):
        pid_file = os.path.join(directory, name, "pid")
        if name.startswith("member-") and os.path.exists(pid_file):
            try:
                os.kill(int(open(pid_file).read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def main(argv):
    if len(argv) >= 2 and argv[0] == "start":
        why = missing()
        if why:
            sys.exit("zk_ensemble: " + why)
        e = Ensemble(argv[1], int(argv[2]) if len(argv) > 2 else 3)
        e.start()
        if not e.wait_serving():
            _stop_dir(argv[1])
            sys.exit("zk_ensemble: no quorum served within 60 s; logs under %s" % argv[1])
        print(e.connect_string())
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        _stop_dir(argv[1])
        return 0
    sys.exit("usage: zk_ensemble.py start DIR [MEMBERS] | stop DIR")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
