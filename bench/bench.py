#!/usr/bin/env python3
"""Benchmarks of ca against the tools administrators use today (run by bench/run).

Every comparison runs side by side in one run on this machine: medians of several runs,
ratios per pair. Loads go to 127.0.0.1 only and are bounded in time. Writes BENCHMARKS.md
with the figures, the machine and the exact commands, and prints the same table.
Pass --quick for shorter loads and fewer runs (to try the script, not to report), and
--only SECTION... (issue, server, crl, list, acme, ocsp, nodes, growth) to run some sections alone.
"""

import base64
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where bench/run built it: in $CARGO_TARGET_DIR when set (a relative one is taken from the
# repository, where bench/run runs cargo), else in target/.
CA = os.path.join(REPO, os.environ.get("CARGO_TARGET_DIR") or "target", "release", "ca")
QUICK = "--quick" in sys.argv
RUNS = 8 if QUICK else 30
LOAD_SECONDS = 3 if QUICK else 10
# Loads run in alternation, ca then its peer, where a ratio is close to its target.
PAIRS = 1 if QUICK else 3
WORK = tempfile.mkdtemp(prefix="ca-bench-")
# nginx's workers run as nobody: they must reach the files it serves from here (mkdtemp makes
# the folder 0700, and nginx then answered every request with 403, which wrk counted as rates).
os.chmod(WORK, 0o711)
COMMANDS = []  # (label, command) for the report
ROWS = []

# Why a target is missed, as `valgrind --tool=callgrind` showed it on this machine. Keyed by
# a phrase of the row; printed under a missed row and written into BENCHMARKS.md.
CAUSES = {
    "`GET /ocsp/{request}`": (
        "on two cores shared with wrk and, here, with other builds and benchmarks, the rate of both servers "
        "swings from run to run, and the ratio with it. An answer is prepared once when it is first given "
        "from a response signed ahead (its bytes and every header but the max-age) and found again by the "
        "path exactly as the client sent it, while the log has not changed: a look at SQLite's wal-index "
        "header, one pread, no lock and no read transaction. In a callgrind profile an OCSP GET now costs "
        "~20,100 instructions in ca (~38,500 before these steps, ~67,000 before the GET was answered ahead "
        "of the router): the responder's own work ~3,900 (the prepared headers copied with the max-age "
        "~2,400, the look for changes ~640, the path's lookup ~570, the security headers' check ~520), and "
        "hyper with tokio the rest (reading and parsing the request ~5,800, of which checking the URI ~1,350; "
        "writing the head ~2,100; hyper's header-read timer, armed and dropped for every request, ~1,400). "
        "The server's CPU time per answer, read from /proc in the same window, is now below nginx's (10.6 us "
        "against 13.2 us; 14.7 us before), and over five alternating 5-second rounds (load average 5 to 7.5) "
        "the median rate was 0.85x nginx's (0.65x before). Eleven single runs of this section within the same "
        "hour gave 0.55x to 1.26x, median 0.66x (eight before: 0.44x to 0.74x, median 0.65x): ca's own rate "
        "rose from a median 50,900/s to 61,700/s, while nginx's read 65,800/s to 104,000/s in the same runs, "
        "so the ratio of one 10-second run says more about what else ran then than about either server. Fixed on the way: the SQLite query of every answer, the "
        "request's DER parsing and the ETag's SHA-256 on every hit, the time-crate date formatting, a copy of "
        "the headers and of the body, four header layers, axum's router and layers for these GETs, then the "
        "per-request header block, base64 and percent decoding, the PRAGMA data_version look (three system "
        "calls and ~3,800 instructions), and a wake-up of the connection's task at every request by its "
        "watchdog. Tried and measured, not kept: tokio with 1, 3 or 4 workers instead of one per core (no "
        "difference beyond the noise); turning off hyper's header-read timer (~1,400 instructions less) "
        "would let idle kept-alive connections live 20 s (the watchdog) instead of 15 s. What remains is "
        "hyper and tokio, and the kernel's share of each exchange, which nginx pays too."
    ),
    "the same GET vs `openssl ocsp -port`": (
        "with a connection per request both sides pay for a TCP connection (handshake, accept, close) each "
        "time, and on two cores shared with the load tool that cost, not the answer, sets ca's rate: the same "
        "server answers about twice as many requests on kept-alive connections (in brackets). Ten times "
        "openssl's rate would be a connection opened, answered and closed in under 50 microseconds of the "
        "two cores, load tool included: nginx serving the same response bytes as a static file, under the "
        "same h2load (in brackets), is the ceiling of any server here with a connection per request, and it "
        "stays far below ten times openssl's rate too; with keep-alive, nginx's own rate (the row above) is "
        "below ten times openssl's as well. "
        "openssl ocsp signs every answer (ECDSA P-256) in one process and takes one connection at a time; it "
        "cannot be measured with keep-alive (it answers HTTP/1.0 and closes), nor with wrk, whose probe "
        "connection at start (connected and closed without a request) holds it in a loop for good."
    ),
    "vs `cfssl serve`": (
        "cfssl signs and stores nothing; ca also makes every issuance durable (one fsync per group of "
        "issuances) and answers with a page. Per issuance under this load (per-thread CPU read from /proc, "
        "`perf` with DWARF call graphs): the two runtime workers spend ~190 us, a quarter of it in the "
        "request's P-256 signature check (proof of possession, DESIGN §3) and 8% in the CA's signature, the "
        "rest in hyper, tokio, form decoding, the page and the kernel's network; the log's writer thread "
        "~90-110 us, three quarters of it in the kernel: a group of issuances writes ~22 pages to the WAL "
        "whatever its size (the rows of requests, certificates and audit, their indexes, the tallies), "
        "each frame with two pwrites, then one fsync, and again at the checkpoint. Serials were random "
        "throughout, so each issuance also wrote a page of the serial's unique index of its own, anywhere in "
        "it (13-21 of the 40-46 frames of a group under load); they now begin with the millisecond they were "
        "drawn in (80 random bits after it), and a group's serials share the index's last page: 28 frames a "
        "group, 7,000-7,400/s became 8,000-8,600/s in alternating runs. Also fixed: every request cloned "
        "its route's eight layers, each in a box inside the other's (13% of the allocations; the layers now "
        "wrap the router once); SQLite kept what `RETURNING id` returned in a temporary table made and "
        "dropped for every issuance (the row id is read after the insert instead); a name's check for an "
        "internal suffix formatted a string per suffix. Fixed before: the "
        "settings and the user's state, read again after every commit, went through sqlx's worker thread "
        "(two thread switches each, 17% of the samples), now on the caller's thread; the writer's savepoint "
        "journals were files made, written and removed in /var/tmp for every group (105 KB written per "
        "issuance, then 38 KB); the fingerprint's unique index, a second random page per issuance and a "
        "fifth of the frames, is gone (the serial's already refuses a second certificate with the same DER; "
        "writer 141-157 us per issuance before, 121-131 us after, alternating runs). 0.56x became 0.83x-0.98x, "
        "then 0.97x-1.14x over single ten-second loads, and with three alternating loads of each server "
        "0.94x to 1.04x between two runs of the same code an hour apart (single pairs of loads the same "
        "afternoon: 0.97x-1.12x): the two sit at parity, inside this machine's noise. Then the bundled "
        "SQLite's build (.cargo/config.toml): with memory statistics on, every allocation and free of every "
        "connection took one process-wide mutex, and with SQLITE_ENABLE_MEMORY_MANAGEMENT every page fetched "
        "a second: the writer and both runtime threads queued on them (89,627 futex calls in 4 s under "
        "load, 45,192 after); alternating runs 7,305/s (7,109-7,817) before, 8,059/s (7,678-8,089) after, "
        "fdatasync instead of fsync a little more (8,166/s against 8,038/s). "
        "What bounds the rate now is not the CPU alone: under ca's load the machine is 80-83% busy "
        "(/proc/stat), under cfssl's 1.95 of 2 cores; `perf sched` over 2 s: a runtime worker, once woken, "
        "waits 131 us on average for a core, the writer 59 us, wrk 81 us (five busy threads, two cores, "
        "each issuance two wake-ups across threads: worker to writer, writer to worker). Per issuance the "
        "writer spends ~120-135 us of wall time whatever the group's size: held open 200 us, groups grew "
        "from 3.8 to 11.4 issuances and fdatasyncs fell to a third, at the same rate. Tried and not kept, "
        "each against the same build in alternating runs: holding groups open 50-500 us (no gain, 500 us "
        "-8%); the write-ahead log made durable by a second thread while the writer wrote the next group "
        "(commits visible before they are durable, answers still after; 7,353-7,730/s against "
        "7,513-7,910/s); the writer spinning 20-150 us before it sleeps (no gain); the writer's thread at "
        "nice -20 (+3%, a privilege the service does not have); mimalloc as the allocator (+4%, but "
        "resident memory 17 MiB to 31 MiB idle); synchronous=NORMAL; no checkpoints on the writer's "
        "connection (6,000-6,190/s against 6,138-6,473/s); a larger page cache for the writer; 64 or 128 "
        "clients. Earlier: each issuance was its own fsync'd transaction (1,058/s) until group commit, and "
        "argon2 checks are cached and serialised."
    ),
    "`ca issue mail.example.com --key ecdsa-p256`": (
        "the command waits on the disk seven times while the OpenSSL pipeline flushes nothing: SQLite's three "
        "to put the issuance in ca.db (the checkpoint that follows its commit: the write-ahead log, its "
        "folder, ca.db), and ours (the key before the commit, the certificate and the chain after it, then "
        "their folder). On this machine each flush is a round trip "
        "to a virtio disk that serves one request at a time (~60 us for a flush with nothing to write, "
        "~200-280 us with a small file's data), and the root file system is mounted with `discard` and no "
        "journal, so every block freed is a discard the command waits for too: removing the write-ahead log "
        "at close 150-370 us, each file replaced with --force 65-140 us (the OpenSSL pipeline truncates its "
        "four files and pays the same). CPU: ~3.3 ms (`perf stat`) in ~4.8-5.3 ms of wall time; `ca --version` "
        "alone takes 1.4 ms and /bin/true 0.7 ms, most of it glibc's CPU-feature probes at start, whose cpuid "
        "instructions trap to the hypervisor (~10% of the command's samples); SQLite ~12% (the schema's "
        "parse ~4%). Fixed on the way: each command left its write-ahead log (up to ~4 MB) for the next to "
        "recover (CPU 13.3 ms to 10.3 ms); the log opened on one connection of the caller's thread instead of "
        "four, the issuance and the key made there (16.0 ms to 13.0 ms); SQLite built without its "
        "process-wide allocation locks (6.1 ms to 5.6 ms); one SQLite connection per command instead of two "
        "(5.84-6.13 ms to 5.39-5.55 ms, alternating rounds); the files flushed on the command's thread "
        "instead of three threads of their own (6.6-6.9 ms of CPU to 3.9-4.1 ms); their writeback started "
        "before the log closes and their flushes after (5.73 to 5.35 ms, interleaved runs). This round: "
        "SQLite built without the extensions the log never uses (full-text search, R*Tree, dbstat, soundex), "
        "whose modules and functions its one connection registered as it opened (~0.35 ms of CPU and 30 "
        "page faults less; 5.06 to 4.80 ms, 300 interleaved runs). Then: GCC's unwinder linked into the "
        "binary instead of loading libgcc_s.so.1 at every start (its loading and its constructor's "
        "CPU-feature probe, whose cpuid instructions trap to the hypervisor here at ~6.4 us each: 5.44 to "
        "5.14 ms, 300 interleaved runs; `ca --version` 1.5 to 1.3 ms; GCC 12's unwinder uses glibc 2.35's "
        "_dl_find_object, so the binary needs 2.35 where it needed 2.34, a symbol version the package's "
        "dependency on libc6 follows), and each command's arguments built "
        "only when it runs (clap's defer: the argument parsing 0.25 to 0.18 ms). Where the rest goes "
        "(phase timers, 240 runs): the process's start before `main` ~1.3 ms, arguments 0.18 ms, the log "
        "opened 0.47 ms (its schema's parse most of it), the root key read and checked 0.13 ms, the "
        "holders note 0.16 ms, key, certificate and rows 0.3 ms, the commit's three flushes 0.77 ms, the "
        "files and the log's close 1.4 ms (six flushes, four discards). Tried, not kept: putting the files in "
        "place on a second thread while the log closes (5.25 ms either way: the disk serves one request at a "
        "time); the binary's 23,000 relative relocations packed (DT_RELR: ~0.3 ms of CPU in `perf stat`, "
        "0.1-0.17 ms of wall time in two sets of 400 interleaved runs, none on `ca --version` alone; "
        "tried again later, a linker probe in build.rs: `ca --version` 1.231 against 1.237 ms in 500 "
        "interleaved runs, no gain beyond the noise; the binary then needs GLIBC_ABI_DT_RELR, a symbol "
        "version Debian's libc6 maps to 2.36): its pages of pointers are written, so faulted and copied, "
        "either way, and those faults, not the table's reading, are what the relocations cost. "
        "Also tried, not kept: the key made first and written and flushed on a thread of its own while the "
        "log opens (its flush to overlap the schema's parse): 0.38-0.40 ms slower over 300 and 200 "
        "interleaved runs, 4.53 to 5.35 ms of CPU (`perf stat`): the thread's start, its own malloc arena and "
        "aws-lc's per-thread random state cost more than the flush it hides; SQLite reading the log through "
        "mmap instead of pread (no difference in 240 interleaved runs, and an I/O error would then be a "
        "SIGBUS instead of an error message). Fixed: the note on the certificates that already hold the "
        "name read each one's row of the log (a page per three or four of them; the benchmark's own runs "
        "add one each, so the row measured ~40-80 of them): the names' table now keeps each certificate's "
        "end of validity and the note reads only keys (0.11 ms less with 0-120 holders, 0.18 ms with "
        "120-240, interleaved); and each row now starts from its own copy of the new CA, so that none "
        "measures the certificates the rows before it issued. "
        "Left: the seven flushes (SQLite's three are the write-ahead log's life in each command: made, "
        "synced, checkpointed, removed) and the process's start. Leaving the write-ahead log for the next command "
        "(tried again: SQLite's checkpoint at close turned off and the store's last connection skipped) saves "
        "three flushes and the discard but costs more than it saves: the next process, finding no other "
        "connection, recovers the log from it (every frame read and its checksum checked) before its first "
        "read, 9.8, 18.0 and 21.4 ms in three rounds of 150 runs as the write-ahead log grew, against 8.0, "
        "8.9 and 8.7 ms for the same command as it is, on a busy minute of one machine; and a copy of ca.db "
        "alone, made while nothing runs, would then miss the last issuances. "
        "Because ca's share is mostly waits on the disk and the pipeline's is CPU, the ratio follows the "
        "host's disk latency from minute to minute: five `bench/run --only issue` of one binary within "
        "twenty minutes on a fresh machine gave 0.250x, 0.192x, 0.214x, 0.188x and 0.209x (ca 5.1-7.3 ms, "
        "the pipeline 26.9-29.4 ms), so a rerun can print either word."
        " Since b949102 `ca issue` flushes the new key before the commit and the certificate and chain "
        "after it (no key lost to a full disk, no certificate outside the log), each group written before "
        "any is flushed: interleaved runs on one folder gave 7.77 ms before (89c10ed), 7.40 ms with every "
        "file flushed before the commit (99f8594), 6.85 ms with b949102, in an hour when the host was "
        "slow. Since 58c5743 the certificate files are written, and the disk given them, between the commit "
        "and the log's close, and flushed after the close (they had waited for the close since 6dad4de): "
        "0.16 and 0.08 ms less in two sets of 400 interleaved runs. Tried and not kept, in a sketch outside "
        "the product: the command's connection in SQLite's exclusive locking mode (its wal-index in memory, no "
        "-shm file: ~0.14 ms less) with its own flushes (the commit unsynced, then the write-ahead log, the "
        "folder and ca.db flushed by the command around an explicit checkpoint: ~0.11 ms less); it would "
        "lock every other connection, the command's own pool's included, out of the log for the command's "
        "life, and skip SQLite's sync of a restarted write-ahead log's header, for ~4% of the command. "
        "What was kept of it: a command's issuance into a write-ahead log nothing wrote to yet (empty and "
        "unchanged since it was made, checked again once it holds the write lock) is committed without a "
        "sync and checkpointed at "
        "once with every sync back on, so that the new write-ahead log's header and the commit are no longer "
        "flushed on their own (two flushes fewer; nothing else's frames are in a new file, and no checkpoint "
        "runs unsynced); a write-ahead log another process uses is written as before: 0.39, 0.64 and 0.90 "
        "ms less in 200, 300 and 300 interleaved runs over an hour (the slower the disk, the more). "
        "Tried again and not kept: each of ca's files flushed on a thread of its own, the key's while its "
        "rows are written (the commit waiting for it) and the certificate's and the chain's while the log "
        "closes. Interleaved pairs in one hour read 0.45 to 0.63 ms less (400-500 pairs, each run on its "
        "own copy of a new CA); in the next, on the same idle machine, the same binaries read 0.35-0.40 ms "
        "more (the version that waits on a condition variable) and 0.7-1.1 ms more (the one that joins its "
        "threads), over 1,000 rotated triples on long-lived folders and 300 on fresh copies; with the other "
        "core busy, 0.2-0.9 ms more. A thread's start and join cost ~40-45 us here, and one flushing a file "
        "~70 us more than the same fsync on the caller's thread; the flushes the threads hide are "
        "0.1-0.4 ms each. The tests it brought stay (a key whose flush fails or is slow, a certificate "
        "file whose flush fails, picked by name by a preloaded library)."
    ),
    "certificates stored: web issuances": (
        "the rate is measured once `ca serve` has gone idle after its start (it first signs OCSP responses "
        "ahead for every valid certificate without one: ~110,000 in the store of a million filled "
        "straight into SQLite, which before this wait took most of the load's ten seconds and showed as a "
        "rate falling to 0.63x); each load then starts from a copy of its store as it was when it went idle, "
        "so it measures the size it names rather than that and the tens of thousands of issuances of the "
        "loads before it, and the sizes' loads alternate (single loads read 0.80x and 0.78x in one run, "
        "when the smallest store's load happened to read high). An issuance then writes a few index pages "
        "whatever the store's size. The list reads and prints every certificate expiring within 30 days, and the stores' expiries are "
        "spread over ten years, so it prints ~0.8% of the store: 82, 820 and 8,200 rows, each read from "
        "its own page of the certificates table; linear in what it prints, not in what is stored. The "
        "server's peak memory: signing ahead reads the log 512 certificates at a time (it read every "
        "valid certificate at once, 81 MiB at 64,000 of them, about a gigabyte at a million); what "
        "still grows with the store is bounded, SQLite's page caches (512 KiB for each connection of "
        "the pool, 2 MiB for the writer's) filling as more distinct pages are read."
    ),
    "growth: `ca crl` with": (
        "the entries are spooled to a temporary file as the log yields them, the TBSCertList is hashed as "
        "it is read back and its digest signed, and the CRL is kept in the log in parts of 64 KiB and "
        "written out part by part, so memory holds one part and the buffers around it; the time is the "
        "log's rows read (each certificate's DER, for its serial and expiry) and the CRL written twice "
        "(the log's WAL and the output file)."
    ),
    "raw signing rate": (
        "the raw rate counts one signature; an issuance is a signature plus a signature verification "
        "(about 3.5 times the instructions of signing), parsing, a durable commit and an HTTP exchange, so "
        "half the raw rate is out of reach for any CA that verifies requests."
    ),
    "nginx serving the same bytes": (
        "per request, hyper and tokio cost more than nginx's static path, and wrk takes part of the same two "
        "cores, so the ratio swings with what else runs. The root's downloads are answered before the router "
        "(as the responder's GETs are), with the same headers as the router's answer (a test holds them to "
        "it): 0.55x became 1.0x-1.3x in alternating runs. Earlier: five layers (four header layers and "
        "TraceLayer) became one middleware, and the Content-Disposition values are static. On a second "
        "machine of the same kind both answered faster, nginx far more (138,254/s against 64,429/s on the "
        "first; ca 102,282/s against 81,350/s, and 115,675-122,518/s in single loads on a quiet machine, "
        "the same before and after the SQLite build): one pair of loads read 0.74x there, 1.26x on the "
        "first; the row takes the medians of alternating pairs. Then, from a profile under this load: no "
        "header timer of hyper's per request (the connection watchdog already bounds every request's "
        "headers) and each route group's latency histogram looked up once instead of by hashing its label "
        "under a lock: ~120,000/s to ~130,000/s, both servers up at once, eight alternating pairs of loads."
    ),
    "resident memory": (
        "the peak is the idle server (~17 MiB of it the program's code mapped from the file) plus one "
        "sign-in's argon2 check, which holds its whole memory cost while it runs. New hashes use OWASP's "
        "7 MiB, 5-pass choice (equal to 19 MiB, 2 passes) and the release build is one LTO unit (code 28 MB "
        "to 20 MB): 41-44 MiB became 27.4-28.0 MiB."
    ),
    "`ca crl` with": (
        "in callgrind ~600 million instructions: SQLite reading the revocations with each certificate's DER "
        "(the serial and notAfter are read from the DER, never the log's columns) ~27%, reading serial, "
        "notAfter and reason out of each row ~16%, the entries' DER ~7%, SHA-256 of the 4.9 MB TBSCertList "
        "~27% (valgrind's CPU has no SHA instructions; this machine's has); about half the wall time is the "
        "kernel: page faults of ~50 MiB, "
        "the CRL written to the write-ahead log, its fsync, and the checkpoint into the log when the command "
        "closes it. Fixed on the way: the revocations read through a rusqlite connection instead of sqlx, "
        "names matched without copies, the entries written into one buffer of their final size around the "
        "frame rcgen writes, the old CRL's DER not read when a new one is signed anyway."
    ),
    "`ca list --status valid": (
        "in callgrind ~205 million instructions (~271 million before 7ec0fd0): SQLite ~38% (the expiry index, "
        "then per row the certificate, its request, its revocation and two looks for a renewal), reading the "
        "columns out of SQLite's rows ~23%, building the rows ~17%, JSON and the sort by id ~18%, plus ~15-20 ms "
        "in the kernel (two preads of a page a row, page faults). Fixed on the way: a list by id read every "
        "certificate of the log "
        "(`+c.not_after` kept SQLite off the expiry index: 167,000 page reads), rows read through sqlx (a copy "
        "of every value, two thread wake-ups a row), serde's JSON, hex by format calls; then (66.6 ms to "
        "41.7 ms median side by side with the build before, the same bytes out) the rows built on a "
        "blocking thread whose own glibc heap grew a page at a time (1,034 mprotect calls a list), the "
        "rows copied twice to put them in id order, and dates and numbers written through fmt; then (7ec0fd0) "
        "the looks for a renewal made in an index of the renewals alone, where the whole log's NULLs were "
        "compared on SQLite's general path (-38 million instructions; the store here holds no renewal, so that "
        "index is empty: in a log whose every certificate is a renewal it holds them all, and the query in the "
        "sqlite3 shell, with its one look for a renewal a row, read 192 million instructions against 186 with the "
        "old index and 165 with an empty one), "
        "and names already in their certificate "
        "form read in one pass instead of a dozen and UTS #46 (-27 million). Reading SQLite through mmap "
        "(sys time 12.6 to 6.3 ms in the sqlite3 shell) was not taken: an I/O error would then end the "
        "command with SIGBUS instead of an error message. What is "
        "left is SQLite's two random page reads a row (the certificate and its request: ~30 ms of the "
        "whole in the sqlite3 shell alone) and the process's start; this machine's noise moves the "
        "median by 10-20 ms between runs an hour apart, and the host more: where `openssl speed -multi 2 "
        "ecdsap256` read 56,900 signs/s (89,300 on the host of the last full run, which read 39.4 ms), the "
        "list read 57-96 ms before 7ec0fd0 and 79 ms after."
    ),
}


def sh(cmd, cwd=WORK, capture=True, env=None):
    """Runs a shell command and returns its standard output; fails loudly."""
    result = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=capture, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench: `{cmd}` failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout if capture else ""


def ca(data, args):
    return f"{CA} --data {data} {args}"


def hyperfine(label, commands, runs=RUNS, warmup=3, rounds=None):
    """Median wall time in seconds of each command, measured together by hyperfine in
    `rounds` alternating rounds of `runs / rounds` runs each (hyperfine runs one command's
    runs, then the next's: in one round, a drift of the machine over its seconds falls on one
    command only), the runs of every round taken together. One command alone: one round."""
    if rounds is None:
        rounds = 3 if len(commands) > 1 else 1
    out = os.path.join(WORK, "hyperfine.json")
    quoted = " ".join("'" + c.replace("'", "'\\''") + "'" for c in commands)
    times = [[] for _ in commands]
    for _ in range(rounds):
        sh(f"hyperfine --style none --warmup {warmup} --runs {max(2, runs // rounds)} "
           f"--export-json {out} {quoted}")
        with open(out) as f:
            for kept, result in zip(times, json.load(f)["results"]):
                kept.extend(result["times"])
    for command in commands:
        COMMANDS.append((label, command))
    return [statistics.median(t) for t in times]


def peak_rss_kib(command):
    """Peak resident memory of a command, in KiB (getrusage of a fresh child)."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1], shell=True, check=True,"
        " stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    return int(subprocess.run([sys.executable, "-c", probe, command], check=True, capture_output=True,
                              text=True, cwd=WORK).stdout.strip())


def wrk(label, url, script=None):
    """Requests per second under `wrk -t2 -c32` (any answer not 2xx/3xx ends the bench), the
    count of such answers (none), and wrk's socket errors."""
    cmd = f"wrk -t2 -c32 -d{LOAD_SECONDS}s" + (f" -s {script}" if script else "") + f" {url}"
    if (label, cmd) not in COMMANDS:
        COMMANDS.append((label, cmd))
    out = sh(cmd)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    if rps == 0:
        raise SystemExit(f"bench: {label} answered nothing under load:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if bad:
        # A rate of error pages measures nothing this bench compares.
        raise SystemExit(f"bench: {label}: {bad.group(1)} answers were not 2xx/3xx:\n{out}")
    return rps, 0, errors.group(0) if errors else ""


def h2load(label, url, header=None):
    """Requests per second under `h2load --h1 -t2 -c32` (4,000 requests per second of load
    time, about that at openssl ocsp's rate): HTTP/1.1 requests, and a new
    connection whenever the server closes one. Unlike wrk it opens no connection it does not
    send a request on, which `openssl ocsp -port` (3.0) waits on for good."""
    # A count, not a duration: with -D and servers that close connections h2load never ends.
    cmd = (f"timeout 300 h2load --h1 -t2 -c32 -n {4000 * LOAD_SECONDS}"
           + (f" -H '{header}'" if header else "") + f" {url}")
    COMMANDS.append((label, cmd))
    out = sh(cmd)
    rate = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    if rate == 0 or done is None or int(done.group(2)) > 0:
        raise SystemExit(f"bench: {label} did not answer every request under load:\n{out}")
    return rate


def row(what, ours, baseline, ratio, target, met, unit=""):
    ROWS.append({"what": what, "ours": ours, "baseline": baseline, "ratio": ratio,
                 "target": target, "met": met})
    status = "met" if met else "MISSED"
    print(f"{what}\n    ca: {ours}   baseline: {baseline}   ratio: {ratio}   target {target}: {status}", flush=True)
    if not met:
        print(f"    why: {cause(what)}", flush=True)


def cause(what):
    return next((c for k, c in CAUSES.items() if k in what), "not yet profiled")


def start_server(data):
    proc = start_server_now(data)
    wait_idle(proc)
    return proc, proc.http


def wait_idle(proc, limit=300):
    """Waits until `proc` has used under 2% of a core for a second: at start `ca serve` signs
    OCSP responses ahead for every valid certificate that has none (a store filled straight into
    SQLite, or the issuances of an earlier load), which would otherwise share the cores with the
    load measured next."""
    def cpu():
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    deadline = time.time() + limit
    last = cpu()
    while time.time() < deadline:
        time.sleep(1)
        now = cpu()
        if now - last < 0.02:
            return
        last = now
    raise SystemExit(f"bench: ca serve was still busy {limit} s after it started")


def start_server_now(data):
    proc = subprocess.Popen([CA, "--data", data, "serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
                             "--hostname", "localhost"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=dict(os.environ, CA_LOG="warn"))
    http = None
    for line in proc.stdout:
        m = re.match(r"listening on http://([^/]+)/", line)
        if m:
            http = m.group(1)
        m = re.match(r"listening on https://[^:]+:(\d+)/", line)
        if m:
            proc.https_port = int(m.group(1))
            break
    proc.http = http
    return proc


def rss(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    commit = subprocess.run("git rev-parse --short HEAD", shell=True, cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    # The report itself does not count as a change to what is measured.
    changed = subprocess.run("git status --porcelain -- . ':!BENCHMARKS.md'", shell=True, cwd=REPO,
                             capture_output=True, text=True).stdout.strip()
    if changed:
        commit += " with uncommitted changes"
    return {
        "cpu": f"{model}, {os.cpu_count()} cores", "memory": f"{mem} GiB",
        "kernel": platform.release(), "openssl": sh("openssl version").strip(),
        "cfssl": sh("cfssl version | head -1").strip(), "nginx": subprocess.run(
            "nginx -v", shell=True, capture_output=True, text=True).stderr.strip(),
        "ca": f"commit {commit}, release build",
    }


def openssl_ec_ca(path):
    os.makedirs(path, exist_ok=True)
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt"
       " -subj '/CN=Bench OpenSSL Root' -days 3650 2>/dev/null", cwd=path)
    with open(os.path.join(path, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:mail.example.com\nextendedKeyUsage=serverAuth\n"
                "keyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n")


def bench_issue():
    data = os.path.join(WORK, "issue-ca")
    out = os.path.join(WORK, "issue-out")
    os.makedirs(out)
    sh(ca(data, "init --key ecdsa-p256 --name 'Bench Root CA'"))
    ossl = os.path.join(WORK, "openssl-ca")
    openssl_ec_ca(ossl)
    pipeline = (f"cd {ossl} && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem"
                " && openssl req -new -key k.pem -subj /CN=mail.example.com -out r.csr"
                " && openssl x509 -req -in r.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -sha256"
                " -extfile san.ext -out c.crt 2>/dev/null")
    # Each row starts from its own copy of the new CA: the note on the certificates that already
    # hold the name reads each one's key, and every run adds one (a row would otherwise measure
    # the dozens of certificates for mail.example.com that the rows before it issued).
    rows = iter(range(1, 100))

    def new_ca():
        copy = os.path.join(WORK, f"issue-ca-{next(rows)}")
        shutil.copytree(data, copy)
        return copy

    def against(label, baseline, what, limit):
        """A row of `ca issue` against `baseline`: met at or under `limit`, reported without one."""
        issue = ca(new_ca(), f"issue mail.example.com --key ecdsa-p256 --out {out} --force")
        ours, theirs = hyperfine(label, [issue, baseline])
        ratio = ours / theirs
        row(what, f"{ours * 1000:.1f} ms", f"{theirs * 1000:.1f} ms",
            f"{ratio:.3f}x" if limit else f"{ratio:.2f}x",
            f"<= {limit}x" if limit else "reported", ratio <= limit if limit else True)

    against("issue, ECDSA P-256", pipeline,
            "`ca issue mail.example.com --key ecdsa-p256` (whole process, store write included) vs the "
            "OpenSSL CLI pipeline (genpkey + req + x509 -req with a SAN extfile)", 0.25)

    # The leanest OpenSSL pipeline: two processes, the key made by `req -newkey`.
    lean = (f"cd {ossl} && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem"
            " -subj /CN=mail.example.com -out r.csr 2>/dev/null"
            " && openssl x509 -req -in r.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -sha256"
            " -extfile san.ext -out c.crt 2>/dev/null")
    against("issue, ECDSA P-256, two-process pipeline", lean,
            "`ca issue mail.example.com --key ecdsa-p256` vs the leanest OpenSSL pipeline (two processes: "
            "`openssl req -new -newkey ec` then `openssl x509 -req` with a SAN extfile)", 0.2)

    # OpenSSL 3 also signs in the process that makes the key and request (`req -CA`). It writes
    # no log, no chain and flushes nothing; and unlike `x509 -req -CA`, which reads the system's
    # trust bundle (/etc/ssl/certs/ca-certificates.crt) on every run, it reads no trust store.
    one = (f"cd {ossl} && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k1.pem"
           " -subj /CN=mail.example.com -CA ca.crt -CAkey ca.key -days 397 -sha256"
           " -addext subjectAltName=DNS:mail.example.com -addext extendedKeyUsage=serverAuth"
           " -addext keyUsage=critical,digitalSignature -addext basicConstraints=critical,CA:FALSE"
           " -out c1.crt 2>/dev/null")
    against("issue, ECDSA P-256, one openssl process", one,
            "`ca issue mail.example.com --key ecdsa-p256` vs one `openssl req -new -newkey ec -CA ca.crt "
            "-CAkey ca.key -addext ...` (OpenSSL 3 signs in the process that makes the key: no second "
            "process, and no read of the system trust bundle, which `x509 -req -CA` makes on every run; "
            "still no log, no chain file, nothing flushed)", None)

    genrsa = f"cd {ossl} && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem"
    ours, theirs = hyperfine("issue, RSA-2048", [
        ca(new_ca(), f"issue mail.example.com --key rsa2048 --out {out} --force"), genrsa], runs=RUNS + 10)
    ratio = ours / theirs
    row("`ca issue mail.example.com` with RSA-2048 vs RSA-2048 key generation alone (`openssl genpkey`)",
        f"{ours * 1000:.1f} ms", f"{theirs * 1000:.1f} ms", f"{ratio:.2f}x", "<= 1.1x", ratio <= 1.1)


def bench_server():
    data = os.path.join(WORK, "server-ca")
    sh(ca(data, "init --key ecdsa-p256 --policy auto --name 'Bench Root CA'"))
    with open(os.path.join(WORK, "pw"), "w") as f:
        f.write("bench password\n")
    sh(ca(data, f"user add bench --role requester --password-file {WORK}/pw"))
    sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr.key"
       " -subj /CN=mail.example.com -out bench.csr 2>/dev/null")
    with open(os.path.join(WORK, "bench.csr")) as f:
        csr = f.read()
    proc, http = start_server(data)
    try:
        idle_rss = rss(proc.pid, "VmRSS")
        auth = base64.b64encode(b"bench:bench password").decode()
        body = urllib.parse.urlencode({"Mode": "newreq", "CertRequest": csr,
                                       "CertAttrib": "CertificateTemplate:WebServer"})
        script = os.path.join(WORK, "certfnsh.lua")
        with open(script, "w") as f:
            f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                    f'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                    f'wrk.headers["Authorization"] = "Basic {auth}"\n')
        ossl = os.path.join(WORK, "openssl-ca")
        if not os.path.exists(os.path.join(ossl, "ca.key")):
            # Run without the issue section (`--only server`): cfssl's CA is made here.
            openssl_ec_ca(ossl)
        port = free_port()
        cfssl = subprocess.Popen(["cfssl", "serve", "-address", "127.0.0.1", "-port", str(port),
                                  "-ca", f"{ossl}/ca.crt", "-ca-key", f"{ossl}/ca.key"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        COMMANDS.append(("CSR signing, cfssl", f"cfssl serve -address 127.0.0.1 -port {port} -ca ca.crt -ca-key ca.key"))
        wait_port(port)
        cscript = os.path.join(WORK, "cfssl.lua")
        with open(cscript, "w") as f:
            f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps({"certificate_request": csr}))}\n'
                    'wrk.headers["Content-Type"] = "application/json"\n')
        # Side by side: the two servers' loads alternate, three of each, and each rate is the
        # median of its three (one ten-second load on this machine ranges by a fifth or more,
        # with whatever else the machine does at that moment).
        before = count_certificates(data)
        rates, their_rates, cbad = [], [], 0
        try:
            for _ in range(PAIRS):
                ours, bad, errors = wrk("CSR signing, ca", f"http://{http}/certsrv/certfnsh.asp", script)
                if bad:
                    print(f"    warning: {bad} answers were not 2xx/3xx {errors}")
                rates.append(ours)
                theirs, failed, _ = wrk("CSR signing, cfssl", f"http://127.0.0.1:{port}/api/v1/cfssl/sign", cscript)
                their_rates.append(theirs)
                cbad += failed
        finally:
            cfssl.terminate()
            cfssl.wait()
        issued = count_certificates(data) - before
        ours, theirs = statistics.median(rates), statistics.median(their_rates)
        speed = sh("openssl speed -seconds 3 -multi 2 ecdsap256 2>/dev/null")
        COMMANDS.append(("two-core crypto limit", "openssl speed -seconds 3 -multi 2 ecdsap256"))
        line = [l for l in speed.splitlines() if "nistp256" in l][-1]
        signs, verifies = float(line.split()[-2]), float(line.split()[-1])
        # One issuance is one verification (the request's signature) and one signature, on
        # two cores: the most this machine's crypto allows, before any parsing or storing.
        limit = 1 / (1 / signs + 1 / verifies)
        r1, r2 = ours / theirs, ours / limit
        def spread(rs):
            return f" ({min(rs):.0f}-{max(rs):.0f})" if len(rs) > 1 else ""
        row(f"CSR signing through `certfnsh.asp`, 32 concurrent clients, ECDSA P-256 CA ({issued} issuances, "
            f"each committed to the store before its answer) vs `cfssl serve` signing the same CSR; "
            f"medians of {PAIRS} alternating loads each, their range in brackets",
            f"{ours:.0f}/s{spread(rates)}",
            f"{theirs:.0f}/s{spread(their_rates)}" + (f" ({cbad} errors)" if cbad else ""), f"{r1:.2f}x",
            ">= 1x", r1 >= 1)
        row("... the same vs the two-core crypto limit: one P-256 verification plus one signature per "
            f"issuance (`openssl speed -multi 2 ecdsap256`: {signs:.0f} signs/s, {verifies:.0f} verifies/s)",
            f"{ours:.0f}/s", f"{limit:.0f}/s", f"{r2:.2f}x", "reported", True)

        www = os.path.join(WORK, "www", "certsrv")
        os.makedirs(www)
        sh(ca(data, f"root --format der --out {www}/certnew.cer"))
        nport = free_port()
        conf = os.path.join(WORK, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"worker_processes auto;\ndaemon off;\npid {WORK}/nginx.pid;\nerror_log stderr error;\n"
                    f"events {{ worker_connections 1024; }}\nhttp {{ access_log off;\n"
                    f"  server {{ listen 127.0.0.1:{nport}; root {WORK}/www;\n"
                    f"    location = /certsrv/certnew.cer {{ default_type application/pkix-cert; }} }} }}\n")
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", WORK], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        COMMANDS.append(("root download, nginx", f"nginx -c nginx.conf (worker_processes auto, access_log off)"))
        wait_port(nport)
        # Alternating, as the issuance's loads: one pair of ten-second loads swung from 0.74x to
        # 1.26x between two machines of the same kind.
        mine, nginxs = [], []
        try:
            for _ in range(PAIRS):
                nginxs.append(wrk("root download, nginx", f"http://127.0.0.1:{nport}/certsrv/certnew.cer")[0])
                mine.append(wrk("root download, ca", f"http://{http}/certsrv/certnew.cer?ReqID=CACert&Enc=bin")[0])
        finally:
            nginx.terminate()
            nginx.wait()
        ours, theirs = statistics.median(mine), statistics.median(nginxs)
        ratio = ours / theirs
        row("`GET /certsrv/certnew.cer?ReqID=CACert&Enc=bin`, `wrk -t2 -c32` vs nginx serving the same bytes "
            f"as a static file; medians of {PAIRS} alternating loads each, their range in brackets",
            f"{ours:.0f}/s{spread(mine)}", f"{theirs:.0f}/s{spread(nginxs)}", f"{ratio:.2f}x", ">= 0.8x",
            ratio >= 0.8)
        peak = rss(proc.pid, "VmHWM")
        row("`ca serve` resident memory, idle and at its peak under the loads above",
            f"idle {idle_rss / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB", "-", "-", "< 30 MiB",
            peak < 30 * 1024)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def wrk_split(label, urls, script):
    """Requests per second of one `wrk -t1 -c16` per URL, run at once and summed (32 clients
    in all, as in the other rows)."""
    procs = []
    for url in urls:
        cmd = f"wrk -t1 -c16 -d{LOAD_SECONDS}s -s {script} {url}"
        COMMANDS.append((label, cmd))
        procs.append(subprocess.Popen(cmd, shell=True, cwd=WORK, stdout=subprocess.PIPE, text=True))
    total = 0.0
    for proc in procs:
        out, _ = proc.communicate()
        total += float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return total


class Postgres:
    """A PostgreSQL server of the benchmark's own (Debian's binaries), on a loopback port, with
    fsync on as a production server runs; as root it runs as the user postgres."""

    def __init__(self):
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql") if os.path.exists(
            f"/usr/lib/postgresql/{d}/bin/initdb"))
        if not bins:
            raise SystemExit("bench: PostgreSQL's server programs are needed (bench/run installs them)")
        self.bin = f"/usr/lib/postgresql/{bins[-1]}/bin"
        self.dir = tempfile.mkdtemp(prefix="ca-bench-pg-")
        self.prefix = ""
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "postgres")
            self.prefix = "runuser -u postgres -- "
        self.port = free_port()
        sh(f"{self.prefix}{self.bin}/initdb -D {self.dir}/data -A trust -U postgres >/dev/null")
        sh(f"{self.prefix}{self.bin}/pg_ctl -D {self.dir}/data -l {self.dir}/log -w start "
           f"-o '-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=100' >/dev/null")
        COMMANDS.append(("PostgreSQL", f"pg_ctl start (PostgreSQL {bins[-1]}, Debian's defaults, fsync on)"))

    def database(self, name):
        sh(f"psql postgres://postgres@127.0.0.1:{self.port}/postgres -qc 'CREATE DATABASE {name}'")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self):
        subprocess.run(f"{self.prefix}{self.bin}/pg_ctl -D {self.dir}/data -m fast stop", shell=True,
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_nodes():
    """Web issuance on the SQLite log, on PostgreSQL with one node, and with two nodes on one
    database, in the same run: `certfnsh.asp` under 32 clients, every issuance committed before
    its answer."""
    with open(os.path.join(WORK, "pw"), "w") as f:
        f.write("bench password\n")
    sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout nodes.key"
       " -subj /CN=mail.example.com -out nodes.csr 2>/dev/null")
    with open(os.path.join(WORK, "nodes.csr")) as f:
        csr = f.read()
    auth = base64.b64encode(b"bench:bench password").decode()
    body = urllib.parse.urlencode({"Mode": "newreq", "CertRequest": csr,
                                   "CertAttrib": "CertificateTemplate:WebServer"})
    script = os.path.join(WORK, "nodes.lua")
    with open(script, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                f'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                f'wrk.headers["Authorization"] = "Basic {auth}"\n')

    def make(data, env):
        sh(ca(data, "init --key ecdsa-p256 --policy auto --name 'Bench Root CA'"), env=env)
        sh(ca(data, f"user add bench --role requester --password-file {WORK}/pw"), env=env)

    def serve(data, env):
        proc = subprocess.Popen([CA, "--data", data, "serve", "--http", "127.0.0.1:0", "--https",
                                 "127.0.0.1:0", "--hostname", "localhost"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=dict(env, CA_LOG="warn"))
        for line in proc.stdout:
            m = re.match(r"listening on http://([^/]+)/", line)
            if m:
                proc.http = m.group(1)
            if line.startswith("listening on https://"):
                break
        return proc

    def stop(*procs):
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait()

    sqlite_env = {k: v for k, v in os.environ.items() if k != "CA_DATABASE"}
    data = os.path.join(WORK, "nodes-sqlite")
    make(data, sqlite_env)
    node = serve(data, sqlite_env)
    try:
        on_sqlite, _, _ = wrk("web issuance, SQLite", f"http://{node.http}/certsrv/certfnsh.asp", script)
    finally:
        stop(node)
    pg = Postgres()
    try:
        env = dict(os.environ, CA_DATABASE=pg.database("one"))
        data = os.path.join(WORK, "nodes-pg-one")
        make(data, env)
        node = serve(data, env)
        try:
            one, _, _ = wrk("web issuance, PostgreSQL, one node",
                            f"http://{node.http}/certsrv/certfnsh.asp", script)
        finally:
            stop(node)
        env = dict(os.environ, CA_DATABASE=pg.database("two"))
        first, second = os.path.join(WORK, "nodes-pg-a"), os.path.join(WORK, "nodes-pg-b")
        make(first, env)
        os.makedirs(second, mode=0o700)
        for name in ("root.crt", "root.key"):
            shutil.copy2(os.path.join(first, name), os.path.join(second, name))
        a, b = serve(first, env), serve(second, env)
        try:
            two = wrk_split("web issuance, PostgreSQL, two nodes (one wrk -t1 -c16 each)",
                            [f"http://{a.http}/certsrv/certfnsh.asp", f"http://{b.http}/certsrv/certfnsh.asp"],
                            script)
        finally:
            stop(a, b)
    finally:
        pg.stop()
    row("web issuance through `certfnsh.asp`, 32 clients: PostgreSQL, one node, vs the SQLite log "
        "(same machine, same run)", f"{one:.0f}/s", f"{on_sqlite:.0f}/s", f"{one / on_sqlite:.2f}x",
        "reported", True)
    row("... PostgreSQL, two nodes on one database, 16 clients each, vs the SQLite log",
        f"{two:.0f}/s", f"{on_sqlite:.0f}/s", f"{two / on_sqlite:.2f}x", "reported", True)


def count_certificates(data):
    db = sqlite3.connect(os.path.join(data, "ca.db"))
    try:
        return db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]
    finally:
        db.close()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    import socket
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on {port}")


def fill(data, count, revoked, spread_days):
    """Adds `count` certificates straight into a store made by `ca init`, as `ca issue` writes
    them (the DER of a real leaf, unique serials and fingerprints); `revoked` are revoked."""
    sh(ca(data, "issue fill.example.com --key ecdsa-p256 --out . --force"))
    db = sqlite3.connect(os.path.join(data, "ca.db"))
    der = db.execute("SELECT der FROM certificates LIMIT 1").fetchone()[0]
    now = int(time.time())
    names = json.dumps(["mail.example.com"])
    base = db.execute("SELECT MAX(id) FROM requests").fetchone()[0] + 1
    batch = 50_000
    with db:
        for start in range(0, count, batch):
            ids = range(base + start, base + min(start + batch, count))
            requests, certs, revocations = [], [], []
            for i in ids:
                issued = now - (i * 7919 % (spread_days * 86400))
                requests.append((i, issued, "bench", "cli", names, "issued", "Issued"))
                certs.append((i, f"{0x4000 + i:032x}", names, issued - 3600, issued - 3600 + 397 * 86400,
                              "ecdsa-p256", f"{i:064x}", der))
                if i - base < revoked:
                    revocations.append((i, now - 60, "keyCompromise"))
            db.executemany("INSERT INTO requests (id, created_at, requester, source, names, status, disposition)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)", requests)
            db.executemany("INSERT INTO certificates (request_id, serial, names, not_before, not_after,"
                           " key_algorithm, sha256, der) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", certs)
            db.executemany("INSERT INTO revocations (request_id, revoked_at, reason) VALUES (?, ?, ?)",
                           revocations)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    # The fill's gigabyte written back to disk now, not under the timed runs that follow.
    os.sync()


def bench_crl():
    count = 10_000 if QUICK else 100_000
    data = os.path.join(WORK, "crl-ca")
    sh(ca(data, "init --key ecdsa-p256 --name 'Bench Root CA'"))
    fill(data, count, count, 300)
    ossl = os.path.join(WORK, "openssl-crl")
    openssl_ec_ca(ossl)
    now = time.gmtime()
    revoked_at = time.strftime("%y%m%d%H%M%SZ", now)
    with open(os.path.join(ossl, "index.txt"), "w") as f:
        for i in range(count):
            f.write(f"R\t301231235959Z\t{revoked_at},keyCompromise\t{0x4000 + i:032X}\tunknown\t/CN=host{i}.example.com\n")
    with open(os.path.join(ossl, "index.txt.attr"), "w") as f:
        f.write("unique_subject = no\n")
    with open(os.path.join(ossl, "crlnumber"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(ossl, "openssl.cnf"), "w") as f:
        f.write("[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndir = .\ndatabase = $dir/index.txt\n"
                "crlnumber = $dir/crlnumber\ncertificate = $dir/ca.crt\nprivate_key = $dir/ca.key\n"
                "default_md = sha256\ndefault_crl_days = 7\ncrl_extensions = crl_ext\n"
                "[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n")
    # `--new` signs every time, as `openssl ca -gencrl` does (without it the CRL kept in the log
    # is handed out while it is current).
    ours_cmd = ca(data, f"crl --new --out {WORK}/ca.crl")
    theirs_cmd = f"cd {ossl} && openssl ca -config openssl.cnf -gencrl -out crl.pem 2>/dev/null"
    ours, theirs = hyperfine(f"CRL of {count} entries", [ours_cmd, theirs_cmd], runs=5 if QUICK else 10, warmup=1)
    entries = sh(f"openssl crl -inform DER -in {WORK}/ca.crl -noout -text | grep -c 'Serial Number'").strip()
    ours_mem = peak_rss_kib(ours_cmd)
    theirs_mem = peak_rss_kib(theirs_cmd)
    ratio = ours / theirs
    row(f"`ca crl` with {count} revoked entries ({entries} on the CRL) vs `openssl ca -gencrl` over an "
        f"index.txt with the same entries", f"{ours * 1000:.0f} ms, peak {ours_mem / 1024:.1f} MiB",
        f"{theirs * 1000:.0f} ms, peak {theirs_mem / 1024:.1f} MiB", f"{ratio:.2f}x", "<= 0.5x", ratio <= 0.5)


def bench_list():
    count = 100_000 if QUICK else 1_000_000
    data = os.path.join(WORK, "list-ca")
    sh(ca(data, "init --key ecdsa-p256 --name 'Bench Root CA'"))
    # Issued uniformly over ten years, 397 days each: about a tenth still valid, and 30/3650 of
    # them expiring within 30 days, as in a CA that has run for years.
    fill(data, count, 0, 3650)
    size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("ca.db"))
    cmd = ca(data, "list --status valid --expiring 30 --json")
    rows = len(json.loads(sh(cmd)))
    (ours,) = hyperfine(f"list of {count}", [cmd + " > /dev/null"], runs=RUNS)
    row(f"`ca list --status valid --expiring 30 --json` on a store of {count} certificates ({rows} rows "
        f"printed)", f"{ours * 1000:.1f} ms; {size / count:.0f} bytes of store per certificate", "-", "-",
        "< 50 ms", ours < 0.050)

    bench_inventory()


def bench_inventory():
    """The inventory page's answer time on a store of 100,000 certificates: the first page, a
    filtered page sorted by expiry, and a page deep in the list (keyset paging: the same cost)."""
    import base64
    import http.client
    count = 100_000
    data = os.path.join(WORK, "inventory-ca")
    sh(ca(data, "init --key ecdsa-p256 --name 'Bench Root CA'"))
    fill(data, count, count // 100, 3650)
    with open(os.path.join(WORK, "inventory-pw"), "w") as f:
        f.write("bench admin password\n")
    sh(ca(data, f"user add boss --role admin --password-file {WORK}/inventory-pw"))
    proc, addr = start_server(data)
    try:
        host, port = addr.rsplit(":", 1)
        auth = "Basic " + base64.b64encode(b"boss:bench admin password").decode()
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        pages = ["/certsrv/admin", "/certsrv/admin?status=expiring&days=30&sort=expiry",
                 "/certsrv/admin?name=mail.example&status=valid&after=1000",
                 "/certsrv/admin?sort=expiry", "/certsrv/admin?status=revoked"]
        worst = 0.0
        for path in pages:
            times = []
            for i in range(5 + RUNS):
                start = time.perf_counter()
                conn.request("GET", path, headers={"Authorization": auth})
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    raise SystemExit(f"bench: {path} answered {answer.status}")
                if i >= 5:
                    times.append(time.perf_counter() - start)
            times.sort()
            worst = max(worst, times[len(times) // 2])
        COMMANDS.append(("inventory pages", f"GET {' , '.join(pages)} as an admin"))
        row(f"`/certsrv/admin` inventory page (50 rows) on a store of {count} certificates: median of "
            f"the first page, expiring within 30 days by expiry, and a deep page; the slowest",
            f"{worst * 1000:.1f} ms", "-", "-", "< 50 ms", worst < 0.050)
    finally:
        proc.terminate()
        proc.wait()


def bench_growth():
    """How cost grows with the store: web issuances/s and `ca list` at 10,000, 100,000 and
    1,000,000 stored certificates (flat and nearly flat: an issuance touches a few index pages,
    a list reads the rows it prints), and `ca crl` at 1,000 to 1,000,000 revoked (linear: every
    entry is on the CRL), with its peak memory (flat: entries are written as they are read)."""
    data = os.path.join(WORK, "growth-ca")
    sh(ca(data, "init --key ecdsa-p256 --policy auto --name 'Bench Root CA'"))
    with open(os.path.join(WORK, "pw"), "w") as f:
        f.write("bench password\n")
    sh(ca(data, f"user add bench --role requester --password-file {WORK}/pw"))
    sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr.key"
       " -subj /CN=mail.example.com -out growth.csr 2>/dev/null")
    with open(os.path.join(WORK, "growth.csr")) as f:
        csr = f.read()
    auth = base64.b64encode(b"bench:bench password").decode()
    body = urllib.parse.urlencode({"Mode": "newreq", "CertRequest": csr,
                                   "CertAttrib": "CertificateTemplate:WebServer"})
    script = os.path.join(WORK, "growth.lua")
    with open(script, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                f'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                f'wrk.headers["Authorization"] = "Basic {auth}"\n')
    sizes = [10_000, 100_000] if QUICK else [10_000, 100_000, 1_000_000]
    # Each store is filled, started once (`ca serve` signs ahead the OCSP response of every
    # valid certificate, a page of the log at a time) and listed, then kept as a copy: every
    # load starts from its copy, so each measures the size it names (a ten-second load adds
    # tens of thousands of issuances), and the loads of the sizes alternate, PAIRS rounds, each
    # rate the median of its loads (one ten-second load here ranges by a fifth or more with
    # whatever else the machine does at that moment).
    stored = 0
    kept, listed, peaks = {}, {}, {}
    for size in sizes:
        fill(data, size - stored, 0, 3650)
        stored = size
        proc, _ = start_server(data)
        peaks[size] = rss(proc.pid, "VmHWM")
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        if os.path.exists(os.path.join(data, "ca.db-wal")):
            raise SystemExit(f"bench: ca serve left a write-ahead log in {data}")
        # What the server wrote as it stopped (its write-ahead log put back into ca.db)
        # written back to disk now, not under the list.
        os.sync()
        cmd = ca(data, "list --status valid --expiring 30 --json")
        (listed[size],) = hyperfine(f"growth, list at {size}", [cmd + " > /dev/null"], runs=10, warmup=1)
        kept[size] = os.path.join(WORK, f"growth-{size}")
        shutil.copytree(data, kept[size])
    rates = {size: [] for size in sizes}
    for _ in range(PAIRS):
        for size in sizes:
            run = os.path.join(WORK, "growth-run")
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(kept[size], run)
            # The copy written back to disk now, not under the load.
            os.sync()
            proc, http = start_server(run)
            try:
                rate, _, _ = wrk(f"growth, web issuance at {size}", f"http://{http}/certsrv/certfnsh.asp", script)
                rates[size].append(rate)
                peaks[size] = max(peaks[size], rss(proc.pid, "VmHWM"))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
    shutil.rmtree(os.path.join(WORK, "growth-run"), ignore_errors=True)
    first = statistics.median(rates[sizes[0]])
    for size in sizes:
        rate, peak = statistics.median(rates[size]), peaks[size]
        spread = f" ({min(rates[size]):.0f}-{max(rates[size]):.0f})" if len(rates[size]) > 1 else ""
        # Flat: within a fifth of the rate on the smallest store of the same run.
        row(f"growth: {size} certificates stored: web issuances (`certfnsh.asp`, 32 clients; medians of "
            f"{PAIRS} loads alternating with the other sizes', each from a copy of the store, their range in "
            "brackets), `ca list --status valid --expiring 30 --json`, and the server's peak RSS (its start, "
            "which signs ahead every valid certificate's OCSP response, and the load)",
            f"{rate:.0f}/s{spread}; list {listed[size] * 1000:.1f} ms; peak {peak / 1024:.1f} MiB",
            "-", f"{rate / first:.2f}x of the smallest store's rate",
            "rate >= 0.8x of it; list < 50 ms; peak < 64 MiB",
            rate >= 0.8 * first and listed[size] < 0.050 and peak < 64 * 1024)

    data = os.path.join(WORK, "growth-crl")
    sh(ca(data, "init --key ecdsa-p256 --name 'Bench Root CA'"))
    revoked = 0
    for size in ([1_000, 10_000, 100_000] if QUICK else [1_000, 10_000, 100_000, 1_000_000]):
        fill(data, size - revoked, size - revoked, 300)
        revoked = size
        cmd = ca(data, f"crl --new --out {WORK}/growth.crl")
        (took,) = hyperfine(f"growth, CRL of {size}", [cmd], runs=3 if size >= 1_000_000 else 5, warmup=1)
        peak = peak_rss_kib(cmd)
        row(f"growth: `ca crl` with {size} revoked", f"{took * 1000:.0f} ms, peak {peak / 1024:.1f} MiB",
            "-", "-", "time linear; peak < 64 MiB", peak < 64 * 1024)


ACME_NAMES = [f"host{i}.example.com" for i in range(64)]
ACME_WORKERS = 16


class AcmePeer:
    """dnsmasq answering A records for the benchmark's names, and a static web server that
    answers http-01 from a webroot every lego writes into (so any number of clients share the
    one port the validators dial)."""

    def __init__(self):
        self.dir = os.path.join(WORK, "acme")
        self.webroot = os.path.join(self.dir, "webroot")
        os.makedirs(os.path.join(self.webroot, ".well-known", "acme-challenge"), exist_ok=True)
        self.dns_port, self.http_port = free_port(), free_port()
        conf = os.path.join(self.dir, "dns.conf")
        with open(conf, "w") as f:
            f.write(f"port={self.dns_port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n")
            for name in ACME_NAMES:
                f.write(f"host-record={name},127.0.0.1\n")
        dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        self.dns = subprocess.Popen([dnsmasq, "--keep-in-foreground", f"--conf-file={conf}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.web = subprocess.Popen([sys.executable, "-m", "http.server", str(self.http_port), "--bind",
                                     "127.0.0.1", "--directory", self.webroot],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.http_port)

    def stop(self):
        for p in (self.dns, self.web):
            p.terminate()
            p.wait()


def lego_command(server, root, path, name, peer):
    return (f"LEGO_CA_CERTIFICATES={root} lego --server {server} --accept-tos --email bench@example.com "
            f"--path {path} -d {name} --http --http.webroot {peer.webroot} run")


def orders_per_second(server, root, peer, label):
    """Complete lego http-01 issuances per second with ACME_WORKERS clients at once, each a new
    account, over LOAD_SECONDS (at least one round)."""
    import concurrent.futures
    work = os.path.join(WORK, f"load-{label}")
    counter = iter(range(10**9))
    deadline = time.time() + LOAD_SECONDS

    def worker(w):
        done = 0
        while time.time() < deadline or done == 0:
            n = next(counter)
            cmd = lego_command(server, root, os.path.join(work, str(n)), ACME_NAMES[n % len(ACME_NAMES)], peer)
            subprocess.run(cmd, shell=True, check=True, capture_output=True)
            done += 1
        return done

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(ACME_WORKERS) as pool:
        total = sum(pool.map(worker, range(ACME_WORKERS)))
    COMMANDS.append((f"ACME load, {label} ({ACME_WORKERS} at once)",
                     lego_command(server, root, "$PATH", "hostN.example.com", peer)))
    return total / (time.time() - started)


def start_pebble(peer):
    """Debian's pebble with its random sleeps and nonce rejections off, its validator pointed at
    the same DNS server and web server; returns the process, its directory and root file."""
    d = os.path.join(WORK, "pebble")
    os.makedirs(d, exist_ok=True)
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls-ca.key "
       "-out tls-ca.crt -days 2 -subj /CN=bench-tls-ca 2>/dev/null", cwd=d)
    sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr "
       "-subj /CN=localhost 2>/dev/null", cwd=d)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl x509 -req -in tls.csr -CA tls-ca.crt -CAkey tls-ca.key -CAcreateserial -days 2 "
       "-extfile ext -out tls.crt 2>/dev/null", cwd=d)
    port, mgmt = free_port(), free_port()
    config = {"pebble": {"listenAddress": f"127.0.0.1:{port}", "managementListenAddress": f"127.0.0.1:{mgmt}",
                         "certificate": os.path.join(d, "tls.crt"), "privateKey": os.path.join(d, "tls.key"),
                         "httpPort": peer.http_port, "tlsPort": free_port(), "ocspResponderURL": "",
                         "externalAccountBindingRequired": False}}
    with open(os.path.join(d, "pebble.json"), "w") as f:
        json.dump(config, f)
    env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0")
    proc = subprocess.Popen(["pebble", "-config", os.path.join(d, "pebble.json"), "-dnsserver",
                             f"127.0.0.1:{peer.dns_port}", "-strict=false"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, f"https://localhost:{port}/dir", os.path.join(d, "tls-ca.crt")


def bench_acme():
    if not (shutil.which("lego") and shutil.which("pebble")):
        raise SystemExit("bench: lego and pebble are needed (bench/run installs them)")
    peer = AcmePeer()
    data = os.path.join(WORK, "acme-ca")
    sh(ca(data, "init --key ecdsa-p256 --name 'Bench ACME Root'"))
    # Every lego run makes a new account and order from 127.0.0.1: no rate limits, as pebble
    # has none.
    for key, value in (("acme-http-port", peer.http_port), ("acme-dns", f"127.0.0.1:{peer.dns_port}"),
                       ("acme-accounts-per-hour", 0), ("acme-orders-per-hour", 0)):
        sh(ca(data, f"config set {key} {value}"))
    proc, _ = start_server(data)
    pebble = None
    try:
        ours_dir = f"https://localhost:{proc.https_port}/acme/directory"
        pebble, pebble_dir, pebble_root = start_pebble(peer)
        ours_root = os.path.join(data, "root.crt")
        runs = 3 if QUICK else 10
        commands = [lego_command(ours_dir, ours_root, "$(mktemp -d)",
                                 "host0.example.com", peer),
                    lego_command(pebble_dir, pebble_root, "$(mktemp -d)",
                                 "host0.example.com", peer)]
        ours, theirs = hyperfine("one lego http-01 issuance", commands, runs=runs, warmup=1, rounds=1)
        row("one complete lego http-01 issuance (new account, order, validation, certificate) vs Debian's "
            "pebble (sleeps off)", f"{ours * 1000:.0f} ms", f"{theirs * 1000:.0f} ms", f"{theirs / ours:.1f}x",
            "faster than pebble", ours < theirs)
        ours_rate = orders_per_second(ours_dir, ours_root, peer, "ca")
        theirs_rate = orders_per_second(pebble_dir, pebble_root, peer, "pebble")
        row(f"complete lego http-01 issuances per second, {ACME_WORKERS} clients at once, vs pebble",
            f"{ours_rate:.1f}/s", f"{theirs_rate:.1f}/s", f"{ours_rate / theirs_rate:.2f}x",
            "at least pebble's", ours_rate >= theirs_rate)
    finally:
        proc.terminate()
        proc.wait()
        if pebble:
            pebble.terminate()
            pebble.wait()
        peer.stop()
def bench_ocsp():
    """OCSP answers for a certificate whose response was signed ahead: ca vs nginx serving the
    same bytes, and vs `openssl ocsp -port` answering from an index.txt of the same store."""
    count = 1_000
    data = os.path.join(WORK, "ocsp-ca")
    sh(ca(data, "init --key ecdsa-p256 --name 'Bench Root CA'"))
    fill(data, count, count // 10, 300)
    sh(ca(data, f"root --out {WORK}/ocsp-root.pem"))
    db = sqlite3.connect(os.path.join(data, "ca.db"))
    try:
        rows = db.execute("SELECT c.serial, c.not_after, v.revoked_at, v.reason FROM certificates c"
                          " LEFT JOIN revocations v ON v.request_id = c.request_id").fetchall()
    finally:
        db.close()
    proc, http = start_server(data)
    try:
        # A certificate that is still valid: its response is signed ahead when the server starts.
        serial = next(r[0] for r in rows if r[2] is None)
        sh(f"openssl ocsp -issuer {WORK}/ocsp-root.pem -serial 0x{serial} -no_nonce -reqout {WORK}/ocsp-req.der")
        with open(f"{WORK}/ocsp-req.der", "rb") as f:
            path = urllib.parse.quote(base64.b64encode(f.read()).decode(), safe="")
        url = f"http://{http}/ocsp/{path}"
        deadline = time.time() + 30
        while True:
            fetch(url, f"{WORK}/ocsp-resp.der")
            status = sh(f"openssl ocsp -respin {WORK}/ocsp-resp.der -resp_text -noverify | grep -c 'Cert Status: good' || true").strip()
            if status == "1" or time.time() > deadline:
                break
            time.sleep(0.2)
        if status != "1":
            raise SystemExit("bench: the responder did not answer good")

        www = os.path.join(WORK, "www-ocsp")
        os.makedirs(www)
        shutil.copy(f"{WORK}/ocsp-resp.der", os.path.join(www, "resp.der"))
        nport = free_port()
        conf = os.path.join(WORK, "nginx-ocsp.conf")
        with open(conf, "w") as f:
            f.write(f"worker_processes auto;\ndaemon off;\npid {WORK}/nginx-ocsp.pid;\nerror_log stderr error;\n"
                    f"events {{ worker_connections 1024; }}\nhttp {{ access_log off;\n"
                    f"  server {{ listen 127.0.0.1:{nport}; root {www};\n"
                    f"    location = /resp.der {{ default_type application/ocsp-response; }} }} }}\n")
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", WORK], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        COMMANDS.append(("OCSP, nginx", "nginx -c nginx-ocsp.conf (worker_processes auto, access_log off)"))
        wait_port(nport)
        try:
            static, _, _ = wrk("OCSP, nginx", f"http://127.0.0.1:{nport}/resp.der")
            # The ceiling of any server answering with a connection per request on this
            # machine: nginx's static path, under the same h2load as openssl ocsp below.
            static_close = h2load("OCSP, nginx (h2load, a connection per request)",
                                  f"http://127.0.0.1:{nport}/resp.der", "Connection: close")
        finally:
            nginx.terminate()
            nginx.wait()

        # openssl ocsp answers from an index.txt of the same certificates, signing each answer
        # with the same responder certificate and key.
        index = os.path.join(WORK, "ocsp-index.txt")
        with open(index, "w") as f:
            for serial_hex, not_after, revoked_at, reason in rows:
                expiry = time.strftime("%y%m%d%H%M%SZ", time.gmtime(not_after))
                if revoked_at is None:
                    f.write(f"V\t{expiry}\t\t{serial_hex.upper()}\tunknown\t/CN=fill.example.com\n")
                else:
                    when = time.strftime("%y%m%d%H%M%SZ", time.gmtime(revoked_at))
                    f.write(f"R\t{expiry}\t{when},{reason}\t{serial_hex.upper()}\tunknown\t/CN=fill.example.com\n")
        with open(index + ".attr", "w") as f:
            f.write("unique_subject = no\n")
        oport = free_port()
        # OpenSSL 3.0 takes a bare port here (it cannot be held to 127.0.0.1); it lives seconds.
        # One process, as it is run by default. It serves one connection at a time, answers
        # HTTP/1.0 and closes it; a connection closed before it sent a request (wrk's probe at
        # start) holds it in a loop for good, so the load comes from h2load, which opens none.
        cmd = (f"openssl ocsp -index {index} -port {oport} -CA {WORK}/ocsp-root.pem"
               f" -rsigner {data}/ocsp.crt -rkey {data}/ocsp.key -ndays 4")
        responder = subprocess.Popen(cmd, shell=True, cwd=WORK, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        COMMANDS.append(("OCSP, openssl ocsp -port", cmd))
        try:
            # Not wait_port: a connection that sends nothing holds openssl ocsp for good.
            deadline = time.time() + 20
            while True:
                try:
                    fetch(f"http://127.0.0.1:{oport}/{path}", f"{WORK}/ocsp-openssl.der")
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)
            good = sh(f"openssl ocsp -respin {WORK}/ocsp-openssl.der -resp_text -noverify | grep -c 'Cert Status: good' || true").strip()
            if good != "1":
                raise SystemExit("bench: openssl ocsp did not answer good")
            signed = h2load("OCSP, openssl ocsp -port (h2load)", f"http://127.0.0.1:{oport}/{path}")
        finally:
            os.killpg(responder.pid, signal.SIGTERM)
            responder.wait()

        ours, bad, errors = wrk("OCSP, ca", url)
        ours_close = h2load("OCSP, ca (h2load, a connection per request)", url, "Connection: close")
        if bad:
            print(f"    warning: {bad} answers were not 2xx/3xx {errors}")
        r1, r2 = ours / static, ours_close / signed
        row(f"`GET /ocsp/{{request}}` for a certificate whose response was signed ahead ({count} certificates "
            "in the store), `wrk -t2 -c32` vs nginx serving the same response bytes as a static file",
            f"{ours:.0f}/s", f"{static:.0f}/s", f"{r1:.2f}x", ">= 0.8x", r1 >= 0.8)
        row("the same GET vs `openssl ocsp -port` (one process) answering it from an index.txt of the same "
            "certificates with the same responder certificate and key; both under `h2load --h1 -t2 -c32` with a "
            "connection per request (openssl ocsp answers HTTP/1.0 and closes each; ca is sent `Connection: "
            "close`); in brackets ca with keep-alive (wrk, above), and nginx serving the response as a static "
            "file under the same h2load",
            f"{ours_close:.0f}/s ({ours:.0f}/s, {ours / signed:.1f}x; nginx {static_close:.0f}/s, "
            f"{static_close / signed:.1f}x)", f"{signed:.0f}/s", f"{r2:.1f}x", ">= 10x", r2 >= 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def fetch(url, out):
    """Writes the body `url` answers to the file `out`."""
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as response, open(out, "wb") as f:
        f.write(response.read())


def report(info):
    lines = ["# Benchmarks", "",
             "Made by `bench/run` (see the README): every comparison runs side by side in one run on the machine "
             "below; times are medians (hyperfine), rates are `wrk -t2 -c32` over "
             f"{LOAD_SECONDS} s on 127.0.0.1. Rerun it to check these figures.", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", "## Results", "", "| what | ca | baseline | ratio | target | |", "|---|---|---|---|---|---|"]
    for r in ROWS:
        lines.append(f"| {r['what']} | {r['ours']} | {r['baseline']} | {r['ratio']} | {r['target']} | "
                     f"{'met' if r['met'] else '**missed**'} |")
    missed = [r for r in ROWS if not r["met"]]
    if missed:
        lines += ["", "## Targets missed, and why", ""]
        for r in missed:
            lines.append(f"- {r['what']}: {cause(r['what'])}")
    lines += ["", "## Commands", ""]
    for label, command in COMMANDS:
        lines.append(f"- {label}: `{command.replace(WORK, '$WORK')}`")
    lines.append("")
    with open(os.path.join(REPO, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    if not os.path.exists(CA):
        raise SystemExit("bench: build ca first (bench/run does)")
    info = machine()
    print(f"bench: working in {WORK}", flush=True)
    sections = {"issue": bench_issue, "server": bench_server, "crl": bench_crl, "list": bench_list,
                "acme": bench_acme, "ocsp": bench_ocsp, "nodes": bench_nodes, "growth": bench_growth}
    only = ([a for a in sys.argv[sys.argv.index("--only") + 1:] if not a.startswith("--")]
            if "--only" in sys.argv else list(sections))
    try:
        for name in only:
            sections[name]()
    finally:
        if "--keep" not in sys.argv:
            shutil.rmtree(WORK, ignore_errors=True)
    if QUICK:
        return
    if "--only" in sys.argv:
        report_sections(info, only)
    else:
        report(info)
    print("bench: wrote BENCHMARKS.md")


def report_sections(info, sections):
    """Adds (or replaces) in BENCHMARKS.md the results of sections run on their own with
    `--only`, under a heading naming them and the commit, leaving the other runs' rows as they
    are. Each row still compares ca and its peer in the same run."""
    path = os.path.join(REPO, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    title = f"## Results: {', '.join(sections)} (run on their own with `--only`)"
    lines = [title, "", f"ca: {info.get('ca', '?')}", "",
             "| what | ca | baseline | ratio | target | |", "|---|---|---|---|---|---|"]
    for r in ROWS:
        lines.append(f"| {r['what']} | {r['ours']} | {r['baseline']} | {r['ratio']} | {r['target']} | "
                     f"{'met' if r['met'] else '**missed**'} |")
    for r in ROWS:
        if not r["met"]:
            lines.append(f"\n- missed: {r['what']}: {cause(r['what'])}")
    lines += ["", "Commands:", ""]
    lines += [f"- {label}: `{command.replace(WORK, '$WORK')}`" for label, command in COMMANDS]
    block = "\n".join(lines) + "\n"
    start = text.find(title)
    if start >= 0:
        end = text.find("\n## ", start + len(title))
        text = text[:start] + block + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
