"""Hostile load for the HTTP starvation tests, run as its own process (not a test module).

  python loadgen.py PORT --seconds S [--idle N --addresses K] [--slowloris M] [--storm C]

- idle: N TCP connections that never send a byte, from K loopback source addresses
  (127.0.1.1 ...), each reopened as soon as the server closes it;
- slowloris: M connections (from 127.0.0.3 and 127.0.0.4) that send a request head a few bytes
  a second and never finish it, each reopened when closed;
- storm: C TLS keep-alive clients sending GET /metrics with a made-up user and password each
  time, as fast as the answers come.

Prints "ready" once every idle connection was open at the same time, then at the end one JSON
line of what it did (so that the test can check the load really was there).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import ssl
import sys
import time


class Stats:
    def __init__(self) -> None:
        self.idle_open = 0
        self.idle_samples: list[int] = []
        self.idle_reopened = 0
        self.slow_reopened = 0
        self.slow_open = 0
        self.storm_status: dict[str, int] = {}


async def idle_client(port: int, source: str, stats: Stats, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
        except OSError:
            await asyncio.sleep(0.05)
            continue
        stats.idle_open += 1
        try:
            done = asyncio.ensure_future(stop.wait())
            read = asyncio.ensure_future(reader.read(1))
            await asyncio.wait({done, read}, return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            read.cancel()
        finally:
            stats.idle_open -= 1
            writer.close()
        stats.idle_reopened += 1


async def slow_client(port: int, source: str, stats: Stats, stop: asyncio.Event) -> None:
    head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 10000
    while not stop.is_set():
        try:
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=_insecure(), local_addr=(source, 0)
            )
        except OSError:
            await asyncio.sleep(0.05)
            continue
        stats.slow_open += 1
        try:
            for start in range(0, len(head), 4):
                if stop.is_set():
                    break
                writer.write(head[start : start + 4])
                await writer.drain()
                await asyncio.sleep(0.5)
        except (OSError, ssl.SSLError):
            pass
        finally:
            stats.slow_open -= 1
            writer.close()
        stats.slow_reopened += 1


def _make_insecure() -> ssl.SSLContext:
    """A TLS client context that trusts anything (the load does not care who answers)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_INSECURE = _make_insecure()  # one for all: making one reads the system's CAs (CPU)


def _insecure() -> ssl.SSLContext:
    return _INSECURE


async def storm_client(port: int, n: int, stats: Stats, stop: asyncio.Event) -> None:
    context = _insecure()
    count = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, local_addr=("127.0.0.5", 0)
            )
        except OSError:
            await asyncio.sleep(0.05)
            continue
        try:
            while not stop.is_set():
                count += 1
                secret = base64.b64encode(f"nobody{n}-{count}:{os.urandom(6).hex()}".encode())
                writer.write(
                    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic "
                    + secret
                    + b"\r\n\r\n"
                )
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1].decode()
                stats.storm_status[status] = stats.storm_status.get(status, 0) + 1
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if b"connection: close" in head.lower():
                    break
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def main(args: argparse.Namespace) -> None:
    stats = Stats()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            idle_client(args.port, f"127.0.1.{i % args.addresses + 1}", stats, stop)
        )
        for i in range(args.idle)
    ]
    tasks += [
        asyncio.create_task(slow_client(args.port, f"127.0.0.{3 + i % 2}", stats, stop))
        for i in range(args.slowloris)
    ]
    tasks += [
        asyncio.create_task(storm_client(args.port, n, stats, stop)) for n in range(args.storm)
    ]
    deadline = time.monotonic() + 30
    while stats.idle_open < args.idle and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print("ready" if stats.idle_open >= args.idle else "not-ready", flush=True)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.25)
        stats.idle_samples.append(stats.idle_open)
    stop.set()
    await asyncio.wait(tasks, timeout=5)
    report = {
        "idle_min": min(stats.idle_samples, default=0),
        "idle_mean": sum(stats.idle_samples) / max(1, len(stats.idle_samples)),
        "idle_reopened": stats.idle_reopened,
        "slow_reopened": stats.slow_reopened,
        "storm_status": stats.storm_status,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--addresses", type=int, default=40)
    parser.add_argument("--slowloris", type=int, default=0)
    parser.add_argument("--storm", type=int, default=0)
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = options.idle + options.slowloris + 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    asyncio.run(main(options))
    sys.exit(0)
