#!/usr/bin/env python3
"""Runs one ftapi worker without its master, for profilers: does what the
master does for a worker (a listening unix socket on fd 3, the shared-memory
rate-limit region on fd 4 with its process-shared robust mutexes, the
FTAPI_MASTER_PID it checks), then starts COMMAND (e.g. `valgrind … ftapi
serve --worker …`) as its child and waits for it; SIGTERM is passed on.

    worker_launcher.py SOCKET COMMAND...
"""
import ctypes
import mmap
import os
import signal
import socket
import sys
import tempfile

SHARDS, MUTEX_STRIDE, HEADER, SLOTS, SLOT_BYTES = 64, 64, 64, 512, 24
REGION = HEADER + SHARDS * MUTEX_STRIDE + SHARDS * SLOTS * SLOT_BYTES
MAGIC = 0x667461706972_6C31  # "ftapirl1", as SharedRateLimitTable writes it


def shared_region():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    descriptor, path = tempfile.mkstemp(prefix="ftapi-shared-", dir="/dev/shm")
    os.unlink(path)
    os.ftruncate(descriptor, REGION)
    region = mmap.mmap(descriptor, REGION)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    attributes = ctypes.create_string_buffer(16)
    libc.pthread_mutexattr_init(attributes)
    libc.pthread_mutexattr_setpshared(attributes, 1)  # PTHREAD_PROCESS_SHARED
    libc.pthread_mutexattr_setrobust(attributes, 1)  # PTHREAD_MUTEX_ROBUST
    for shard in range(SHARDS):
        libc.pthread_mutex_init(ctypes.c_void_p(base + HEADER + shard * MUTEX_STRIDE), attributes)
    region[0:8] = MAGIC.to_bytes(8, "little")
    return descriptor, region


# Scoreboard.regionSize: a 64-word header, 512 worker slots of 16 words, requests by 256 routes x 8 methods
# x 32 statuses, 256 duration histograms and one database histogram of 16 words, 256 route labels of 128 bytes.
SCOREBOARD = 64 * 8 + 512 * 16 * 8 + 256 * 8 * 32 * 8 + 256 * 16 * 8 + 16 * 8 + 256 * 128
SCOREBOARD_MAGIC = 0x6674_6170_7362_6431  # as Scoreboard.initialize writes it


def scoreboard_region():
    descriptor, path = tempfile.mkstemp(prefix="ftapi-scoreboard-", dir="/dev/shm")
    os.unlink(path)
    os.ftruncate(descriptor, SCOREBOARD)
    region = mmap.mmap(descriptor, SCOREBOARD)
    region[0:8] = SCOREBOARD_MAGIC.to_bytes(8, "little")
    region[16:24] = (1).to_bytes(8, "little")  # generation
    return descriptor, region


def main():
    path, command = sys.argv[1], sys.argv[2:]
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    shared, region = shared_region()
    board, board_region = scoreboard_region()
    child = os.fork()
    if child == 0:
        os.dup2(listener.fileno(), 3)
        os.dup2(shared, 4)
        os.dup2(board, 5)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)
        os.environ["FTAPI_MASTER_PID"] = str(os.getppid())
        os.environ["FTAPI_LISTENER_CLOSES_ON_STOP"] = "0"
        # The malloc tunable a master's workers start with (ServeCommand sets it unless one is set already).
        os.environ.setdefault("GLIBC_TUNABLES", "glibc.malloc.tcache_count=64")
        os.execvp(command[0], command)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGTERM))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os.unlink(path)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
