#!/usr/bin/env python3
"""Host-side helpers of script/arm-host that are awkward in bash.

    client.py free-ports N          print N TCP ports free on 127.0.0.1, one a line
    client.py exec PORT -- CMD...   run CMD (argv, shell-quoted) in the emulated host through
                                    its exec server (see arm-host.d/exec-handler); prints its
                                    stdout and stderr and exits with its status
"""
import base64
import re
import shlex
import socket
import sys


def free_ports(count):
    # Bound all at once so the N ports differ; the kernel does not hand them out again
    # at once, and QEMU binds them within seconds.
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        for s in socks:
            print(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()


def read_exactly(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def run_remote(port, argv):
    script = argv[0] if len(argv) == 1 else shlex.join(argv)
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    except OSError as e:
        sys.exit(f"script/arm-host: cannot reach the exec server on 127.0.0.1:{port}: {e}")
    conn.settimeout(None)
    conn.sendall(base64.b64encode(script.encode()) + b"\n")
    stream = conn.makefile("rb")
    header = stream.readline().decode(errors="replace")
    m = re.fullmatch(r"arm-host-exec rc=(\d+) out=(\d+) err=(\d+)\n", header)
    if not m:
        sys.exit(f"script/arm-host: the exec server gave no answer (got {header!r}); is the host up?")
    rc, out_len, err_len = (int(g) for g in m.groups())
    try:
        out = read_exactly(stream, out_len)
        err = read_exactly(stream, err_len)
    except EOFError:
        sys.exit("script/arm-host: the exec server's answer was cut short")
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.flush()
    sys.exit(rc)


def main(argv):
    if len(argv) == 3 and argv[1] == "free-ports":
        free_ports(int(argv[2]))
    elif len(argv) >= 5 and argv[1] == "exec" and argv[3] == "--":
        run_remote(int(argv[2]), argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
