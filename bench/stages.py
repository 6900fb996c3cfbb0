#!/usr/bin/env python3
"""Per-stage CPU breakdown of a `perf record` of m2m-connector (bench/profile.sh runs it).

usage: bench/stages.py PERF_DATA MICROS_PER_PACKET

Self samples are grouped by thread first (the SQLite writer thread is named m2m-ledger-writer, so
everything it does, user and kernel, is the durable write: encoding, COMMIT, fsync, projection; its
checkpoints run on m2m-ledger-checkpoint, a stage of its own),
then, on the other threads, by symbol: our ledger code on the caller's thread, the switch and host,
BTP/WebSocket, thread pool and async machinery, the kernel, the runtime (GC, native thread pool),
the JIT compiler, and the rest. Each share is turned into µs per packet with the measured figure.
"""
import re, subprocess, sys
from collections import defaultdict

data, us = sys.argv[1], float(sys.argv[2])
out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm,dso,sym", "--stdio", "-g", "none"],
                     capture_output=True, text=True).stdout
line_re = re.compile(r"^\s*([\d.]+)%\s+(\S.*?)\s{2,}(\S.*?)\s{2,}\[(.)\]\s+(.*)$")
stages = defaultdict(float)
def stage(comm, dso, sym):
    if comm.startswith("m2m-ledger-writ"):
        if "sqlite" in dso: return "ledger writer thread: SQLite library"
        if "kernel" in dso: return "ledger writer thread: kernel (pwrite, fsync, locks, wakeups)"
        return "ledger writer thread: our code, .NET, runtime (encode, project, format)"
    if comm.startswith("m2m-ledger-chec"): return "ledger checkpoint thread (WAL pages copied into the file, its fsync)"
    if "M2M.Ledger" in sym or "M2M.Core.Ledger" in sym: return "ledger on the packet's thread (engine, memory state, batch)"
    if "libe_sqlite3" in dso: return "SQLite on other threads (lookups, reads)"
    if "M2M.Btp" in sym or "WebSocket" in sym: return "BTP / WebSocket code"
    if re.search(r"M2M\.(Core|Server)", sym): return "switch and host code (steps, codec, peers, metrics)"
    if re.search(r"System\.Threading|AsyncTaskMethodBuilder|AsyncValueTask|IValueTaskSource|Task`?1?::|TaskCompletionSource|ExecutionContext", sym):
        return "thread pool and async machinery (.NET)"
    if "kernel" in dso: return "kernel on other threads (sockets, scheduling, futex)"
    if "libcoreclr" in dso: return "runtime (GC, native thread pool, monitors)"
    if "libclrjit" in dso: return "JIT compiler"
    return "other (.NET BCL, libc, crypto)"
total = 0.0
for line in out.splitlines():
    m = line_re.match(line)
    if not m: continue
    pct, comm, dso, _, sym = float(m.group(1)), m.group(2).strip(), m.group(3).strip(), m.group(4), m.group(5)
    stages[stage(comm, dso, sym)] += pct
    total += pct
print(f"| stage | share of samples | µs per packet |")
print(f"|---|---:|---:|")
for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
    print(f"| {k} | {v:.1f} % | {us * v / 100:.1f} |")
print(f"| total ({total:.0f} % of samples attributed) | | {us:.1f} |")
