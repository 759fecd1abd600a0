"""Benchmark: a fleet of Docker hosts from one machine, over real SSH with a real round trip.

    python bench/bench_fleet.py --hosts 1000 --rtt-ms 50
    python bench/bench_fleet.py --hosts 200 --rtt-ms 50 --concurrency 64

What is real and what is simulated:
- **Real**: cisaudit's whole client path (inventory, asyncssh handshake and
  authentication with strict host-key checking, the probe and stat scripts sent, the
  output read, parsed, redacted, derived, evaluated against CIS Docker, scored); a real
  OpenSSH ``sshd`` (a lab host's, in its container) serving every connection; TCP.
- **Simulated**: the hosts. Every one of the N inventory entries is a distinct loopback
  address (127.1.x.y) with its own known_hosts line; all reach the same sshd, whose key
  for the bench runs a forced command that *replays* a recorded probe of a real lab host
  (tests/data/bundles/lab-docker.json, profiles in turn) framed with the nonce of the
  script it received, byte for byte what that host answered, and in as many writes as
  the probe's own emit loop makes (so the client handles as many SSH packets, about 100
  a host; a real lab host gave 98 to 101). The round trip comes from
  a user-space TCP relay (a separate process; the kernel here has no ``netem``) that holds
  every chunk for RTT/2 in each direction; its own CPU is printed so that it can be seen
  not to be the bottleneck. The sshd and the replay run on the same 2 cores as the
  client, so wall time includes the server side of every host.

Prints one line per figure: wall seconds, client CPU per host (and where it went: the
SSH loop, the main thread's judging and roll-up, writing, the collection threads), peak
RSS, remote commands per host, relay CPU, the server side's CPU.

``--compare-ssh`` measures the SSH libraries alone on the same simulated fleet (connect,
authenticate, run one script, read the ~105 KB recorded probe): asyncssh, which cisaudit
uses since issue #12 on these figures, and paramiko, which it used before.
``--profile N`` profiles the client path on N hosts: collection in one thread by default,
the whole audit's main thread with ``BENCH_MAIN=1`` (``BENCH_SORT``, ``BENCH_CALLERS``),
every thread with ``BENCH_YAPPI=1`` (``pip install yappi``), the SSH loop's too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cisaudit_lab import start_lab  # noqa: E402
from cisaudit_lab.engine import docker  # noqa: E402

from cisaudit.api import audit  # noqa: E402
from cisaudit.evidence import load_bundle  # noqa: E402
from cisaudit.inventory import load_inventory  # noqa: E402

BUNDLE = ROOT / "tests" / "data" / "bundles" / "lab-docker.json"
PROFILES = ("lab-hardened", "lab-weak", "lab-traps", "lab-bare")

REPLAY = r"""#!/usr/bin/perl
# Replays a recorded probe: the profile this connection's address is given
# (/srv/replay/pN), its sections framed as the real probe frames them, with the nonce
# of the script on standard input. Written as the probe's emit loop writes (a boundary
# line, the output, a boundary line, the errors, a boundary line: one write each, a
# moment apart), so the client receives as many SSH packets as from a real host, about
# 100; one process instead of the ~100 the shell loop forks, since the simulated
# servers share the client's two cores.
use strict;
my $script = do { local $/; <STDIN> };
my ($nonce) = $script =~ /\ACISAUDIT_NONCE=([^\n]*)/;
my ($address) = split / /, $ENV{SSH_CONNECTION};
my ($last) = $address =~ /(\d+)$/;
my $n = $last % PROFILES;
my $part = index($script, "BEGIN host.stat") >= 0 ? 2 : 1;
open(my $fh, "<", "/srv/replay/p$n/$part.framed") or die "no replay: $!";
binmode $fh;
binmode STDOUT;
my $framed = do { local $/; <$fh> };
$framed =~ s/\@\@NONCE\@\@/$nonce/g;
for my $piece (split /\0/, $framed) {
    syswrite(STDOUT, $piece) if length $piece;
    select(undef, undef, undef, 0.0005);
}
"""


def _write_replays(folder: Path) -> None:
    """Each profile's recorded sections, framed once here (``@@NONCE@@`` stands for the
    nonce), as the probe's framing prints them: byte for byte what that host answered."""
    targets = {t.name: t for t in load_bundle(BUNDLE).targets}
    for n, name in enumerate(PROFILES):
        d = folder / f"p{n}"
        d.mkdir(parents=True)
        parts: dict[int, list[str]] = {1: [], 2: []}
        for section, s in sorted(targets[name].sections.items()):
            tag = "@@NONCE@@"
            parts[2 if section == "host.stat" else 1].append(
                "\0".join(  # the pieces the emit loop writes one by one
                    (
                        f"\n{tag} BEGIN {section}\n",
                        s.output,
                        f"\n{tag} STDERR {section}\n",
                        s.stderr,
                        f"\n{tag} END {section} {s.rc}\n",
                    )
                )
            )
        for part, texts in parts.items():
            (d / f"{part}.framed").write_text("\0".join(texts))
    (folder / "replay.sh").write_text(REPLAY.replace("PROFILES", str(len(PROFILES))))


# -- the latency relay ---------------------------------------------------------------


def _relay(
    port_q: multiprocessing.Queue, upstream: int, delay: float, stop: multiprocessing.Event
) -> None:  # type: ignore[type-arg]
    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((loop.time() + delay, data))
                if not data:
                    break
        except (ConnectionError, OSError):
            await queue.put((0.0, b""))
        await task

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True
        )

    async def main() -> None:
        server = await asyncio.start_server(handle, "0.0.0.0", 0, backlog=4096)
        port_q.put(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.2)
        server.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        port_q.put(usage.ru_utime + usage.ru_stime)

    asyncio.run(main())


def _server_cpu(lab) -> float:  # type: ignore[no-untyped-def]  # noqa: ARG001
    """Busy CPU seconds of the whole machine so far (/proc/stat): the server side is what
    remains after the client's and the relay's own CPU."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _thread_cpu(name: str) -> float:
    """CPU seconds used so far by this process's live threads called ``name``."""
    import threading

    total = 0.0
    for thread in threading.enumerate():
        if thread.name != name or thread.native_id is None:
            continue
        stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _profile(targets: list) -> None:  # type: ignore[type-arg]
    """Where the client's CPU goes, host by host (one thread, so cProfile sees it all)."""
    import cProfile
    import pstats

    from cisaudit.api import collect_target

    if os.environ.get("BENCH_YAPPI"):  # the whole audit, every thread (the SSH loop's too)
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start()
        audit(targets, concurrency=8)
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.sort("ttot").print_all(
            columns={0: ("name", 90), 1: ("ncall", 8), 2: ("tsub", 8), 3: ("ttot", 8)}
        )
        return
    if os.environ.get("BENCH_MAIN"):  # the whole audit; cProfile sees the main thread:
        profile = cProfile.Profile()  # judging, scoring, the roll-up (collection: threads)
        started = time.process_time()
        profile.enable()
        outcome = audit(targets, concurrency=8)
        with tempfile.TemporaryDirectory() as out:
            outcome.write(Path(out))
        profile.disable()
        cpu = time.process_time() - started
        print(f"audited {len(targets)} hosts: {1000 * cpu / len(targets):.1f} ms CPU per host")
        stats = pstats.Stats(profile).sort_stats(os.environ.get("BENCH_SORT", "cumtime"))
        stats.print_stats(40)
        if os.environ.get("BENCH_CALLERS"):
            stats.print_callers(os.environ["BENCH_CALLERS"])
        return
    profile = cProfile.Profile()
    started = time.process_time()
    profile.enable()
    for target in targets:  # collection only, in this thread (evaluation: bench_frameworks)
        collect_target(target)
    profile.disable()
    cpu = time.process_time() - started
    print(f"profiled {len(targets)} hosts: {1000 * cpu / len(targets):.1f} ms CPU per host")
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def _dask_cluster(workers: int):  # type: ignore[no-untyped-def]
    """A Dask scheduler and ``workers`` workers on loopback (one process each): the
    address, the workers' pids and every process."""
    import shutil
    import subprocess

    from cisaudit.scale import ExecutorUnavailable, reachable

    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **quiet,  # type: ignore[call-overload]
        )
    ]
    procs += [
        subprocess.Popen(
            [
                dask,
                "worker",
                f"tcp://{address}",
                "--nthreads",
                "4",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"bench-{i}",
            ],
            **quiet,  # type: ignore[call-overload]
        )
        for i in range(workers)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if reachable(f"tcp://{address}", timeout=5) == workers:
                return address, [p.pid for p in procs[1:]], procs
        except ExecutorUnavailable:
            pass
        time.sleep(0.5)
    raise SystemExit("the Dask cluster did not start")


def _pids_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes (/proc/PID/stat utime + stime)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _compare_ssh(targets: list, concurrency: int) -> None:  # type: ignore[type-arg]
    """The SSH library alone: connect, authenticate, run one script, read the recorded
    probe output, close, for every target, with paramiko (what cisaudit used) and with
    asyncssh (what it uses), at the same concurrency. Prints CPU per connection for each (issue #12:
    measure the alternatives before choosing)."""
    import concurrent.futures as cf

    import paramiko

    script = "CISAUDIT_NONCE=benchcompare\necho\n"

    def one_paramiko(target) -> int:  # type: ignore[no-untyped-def]
        client = paramiko.SSHClient()
        client.load_host_keys(str(target.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            target.address,
            port=target.port,
            username=target.user,
            key_filename=str(target.key),
            look_for_keys=False,
            allow_agent=False,
        )
        stdin, stdout, _ = client.exec_command("sh -s")
        stdin.write(script)
        stdin.channel.shutdown_write()
        size = len(stdout.read())
        client.close()
        return size

    def measure(label: str, run) -> None:  # type: ignore[no-untyped-def]
        before = time.process_time()
        started = time.perf_counter()
        sizes = run()
        cpu, wall = time.process_time() - before, time.perf_counter() - started
        print(
            f"{label}: {1000 * cpu / len(targets):.1f} ms CPU per connection, "
            f"{wall:.1f} s wall, {sum(sizes) // len(sizes)} bytes each"
        )

    def with_paramiko() -> list[int]:
        with cf.ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(one_paramiko, targets))

    def with_asyncssh(ciphers: list[str] | None = None) -> list[int]:
        import asyncssh

        async def one(target, gate) -> int:  # type: ignore[no-untyped-def]
            async with (
                gate,
                asyncssh.connect(
                    target.address,
                    port=target.port,
                    username=target.user,
                    client_keys=[str(target.key)],
                    known_hosts=str(target.known_hosts),
                    agent_path=None,
                    **({"encryption_algs": ciphers} if ciphers else {}),
                ) as conn,
            ):
                result = await conn.run("sh -s", input=script, check=False)
                return len(result.stdout or "")

        async def everything() -> list[int]:
            gate = asyncio.Semaphore(concurrency)
            return list(await asyncio.gather(*(one(t, gate) for t in targets)))

        return asyncio.run(everything())

    if os.environ.get("BENCH_YAPPI"):  # where paramiko's CPU goes, every thread included
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start()
        measure("paramiko", with_paramiko)
        yappi.stop()
        yappi.get_func_stats().sort("tsub").print_all(
            columns={0: ("name", 90), 1: ("ncall", 8), 2: ("tsub", 8), 3: ("ttot", 8)}
        )
        return
    from cisaudit.transport.ssh import _CIPHERS

    measure("paramiko", with_paramiko)
    measure("asyncssh (its default ciphers)", with_asyncssh)
    measure("asyncssh (AES-GCM first, as cisaudit sets it)", lambda: with_asyncssh(_CIPHERS))
    measure("paramiko", with_paramiko)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=96)
    parser.add_argument(
        "--executor",
        default="local",
        help="local, or dask: the bench starts a Dask scheduler and --workers workers on "
        "this machine and audits through them",
    )
    parser.add_argument("--workers", type=int, default=2, help="Dask workers (--executor dask)")
    parser.add_argument(
        "--profile", type=int, default=0, help="profile N hosts audited one after another"
    )
    parser.add_argument(
        "--compare-ssh",
        action="store_true",
        help="measure the SSH libraries alone (paramiko, asyncssh) on the simulated fleet",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        lab = start_lab(["bare"], workdir=tmp / "lab")
        with lab:
            host = lab.host("bare")
            _write_replays(tmp / "replay")
            docker(lab.engine, ["cp", str(tmp / "replay"), f"{host.container_id}:/srv/replay"])
            pub = (lab.workdir / "id_ed25519.pub").read_text().strip()
            setup = (
                "chmod 0755 /srv/replay/replay.sh && "
                f"echo 'command=\"/srv/replay/replay.sh\",no-pty {pub}' > /root/.ssh/authorized_keys && "
                "sed -i '/^MaxStartups/d;/^MaxSessions/d' /etc/ssh/sshd_config && "
                "echo 'MaxStartups 2000' >> /etc/ssh/sshd_config && "
                "kill -HUP $(cat /run/sshd.pid 2>/dev/null || pidof sshd | tr ' ' '\\n' | sort -n | head -1)"
            )
            rc, out = lab.exec("bare", setup)
            assert rc == 0, out
            time.sleep(1)
            port_q: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            stop = multiprocessing.Event()
            relay = multiprocessing.Process(
                target=_relay, args=(port_q, host.port, args.rtt_ms / 2000.0, stop), daemon=True
            )
            relay.start()
            relay_port = port_q.get(timeout=10)
            key_line = next(
                line.split(" ", 1)[1]
                for line in lab.known_hosts_path.read_text().splitlines()
                if line.startswith(f"[127.0.0.1]:{host.port} ")
            )
            known = tmp / "known_hosts"
            addresses = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(args.hosts)]
            known.write_text("".join(f"[{a}]:{relay_port} {key_line}\n" for a in addresses))
            inventory = tmp / "fleet.yaml"
            inventory.write_text(
                json.dumps(
                    {
                        "defaults": {
                            "user": "root",
                            "key": str(host.key_path),
                            "known_hosts": str(known),
                            "port": relay_port,
                        },
                        "hosts": {f"h{i:05d}": {"address": a} for i, a in enumerate(addresses)},
                    }
                )
            )
            targets = load_inventory(inventory).select(None)
            if args.profile:
                _profile(targets[: args.profile])
                return
            if args.compare_ssh:
                _compare_ssh(targets, args.concurrency)
                return
            cluster = _dask_cluster(args.workers) if args.executor == "dask" else None
            server_before = _server_cpu(lab)
            workers_before = _pids_cpu(cluster[1]) if cluster else 0.0
            before = resource.getrusage(resource.RUSAGE_SELF)
            main_before = time.thread_time()
            started = time.perf_counter()
            outcome = audit(
                targets,
                concurrency=args.concurrency,
                executor=f"dask://{cluster[0]}" if cluster else None,
            )
            audited_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            main_audit = time.thread_time() - main_before
            outcome.write(tmp / "out")
            main_write = time.thread_time() - main_before - main_audit
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            server_cpu = _server_cpu(lab) - server_before
            workers_cpu = _pids_cpu(cluster[1]) - workers_before if cluster else 0.0
            if cluster:
                for proc in cluster[2]:
                    proc.terminate()
            stop.set()
            relay_cpu = port_q.get(timeout=10)
            relay.join(5)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            calls = Counter(t.remote_calls for t in outcome.run.targets)
            errors = [t.error for t in outcome.run.targets if t.error]
            print(
                f"hosts: {args.hosts}, rtt: {args.rtt_ms:.0f} ms, concurrency: {args.concurrency}"
            )
            print(f"wall: {wall:.1f} s")
            print(f"client CPU per host: {1000 * cpu / args.hosts:.1f} ms")
            if not cluster:
                ssh = _thread_cpu("cisaudit-ssh")
                print(
                    f"  of which the SSH loop (handshakes, crypto, transfer): "
                    f"{1000 * ssh / args.hosts:.1f} ms"
                )
                print(
                    "  judging, scoring and roll-up (the main thread): "
                    f"{1000 * main_audit / args.hosts:.1f} ms; writing results and evidence:"
                    f" {1000 * main_write / args.hosts:.1f} ms; the rest (collection threads:"
                    " parsing, redaction):"
                    f" {1000 * (cpu - ssh - main_audit - main_write) / args.hosts:.1f} ms"
                )
            print(
                f"peak RSS: {after.ru_maxrss / 1024:.0f} MB (before writing: {audited_rss:.0f} MB)"
            )
            print(f"remote commands per host: {dict(calls)}")
            print(f"relay CPU: {relay_cpu:.1f} s")
            if cluster:
                print(
                    f"Dask workers ({args.workers}) CPU: {workers_cpu:.1f} s "
                    f"({1000 * workers_cpu / args.hosts:.1f} ms per host)"
                )
            print(
                "server CPU (sshd, the replay; machine busy time less client, relay and "
                f"workers): {server_cpu - cpu - relay_cpu - workers_cpu:.1f} s"
            )
            print(f"unreachable: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    socket.setdefaulttimeout(None)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
