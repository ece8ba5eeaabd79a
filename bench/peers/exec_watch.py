#!/usr/bin/env python3
"""Prints every exec of a program whose argv holds MARKER, as it happens, from the kernel's process
events connector (netlink, PROC_EVENT_EXEC; needs root): no /proc scan, so how soon an exec is seen
does not depend on how many processes run. Used by peers.py (ExecEvents) to see a restarted workload
from user space at once.

usage: exec_watch.py MARKER
Prints "ready <scheduling>" once subscribed (it runs at real-time priority, SCHED_FIFO, when allowed,
so that a busy machine does not delay what it sees), then per matching exec one line
  <time.monotonic() when seen, its argv read from /proc> <the kernel's timestamp of the exec, CLOCK_MONOTONIC> <pid>
Exit 2 when the connector cannot be opened (not root, or a kernel without CONFIG_PROC_EVENTS).
"""
import os
import socket
import struct
import sys
import time

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_EXEC = 0x00000002
NLMSG_DONE = 3
NLMSG_HDR = 16         # struct nlmsghdr
CN_MSG_HDR = 20        # struct cn_msg without its data
EVENT = NLMSG_HDR + CN_MSG_HDR   # struct proc_event: what u32, cpu u32, timestamp_ns u64, then the union


def subscribe():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((os.getpid(), CN_IDX_PROC))
    op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
    cn = struct.pack("=IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
    s.send(struct.pack("=IHHII", NLMSG_HDR + len(cn), NLMSG_DONE, 0, 0, os.getpid()) + cn)
    return s


def main(marker):
    try:
        s = subscribe()
    except OSError as e:
        print(f"exec_watch: cannot open the process events connector: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        # An observer that the observed load cannot delay: it sleeps until an exec, then runs ~50 us.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        priority = "SCHED_FIFO"
    except (AttributeError, OSError):
        priority = "normal priority"
    print("ready", priority, flush=True)
    while True:
        data = s.recv(65536)
        off = 0
        while off + EVENT + 24 <= len(data):
            length = struct.unpack_from("=I", data, off)[0]
            what, _cpu, ts = struct.unpack_from("=IIQ", data, off + EVENT)
            if what == PROC_EVENT_EXEC:
                _pid, tgid = struct.unpack_from("=II", data, off + EVENT + 16)
                try:
                    with open(f"/proc/{tgid}/cmdline", "rb") as f:
                        argv = f.read()
                except OSError:
                    argv = b""
                if marker in argv:
                    print("%.6f %.6f %d" % (time.monotonic(), ts / 1e9, tgid), flush=True)
            if length <= 0:
                break
            off += (length + 3) & ~3


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1].encode())
