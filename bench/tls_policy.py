"""The daemon's TLS policy as scanners see it, next to Python's ssl defaults on the same key.

  python bench/tls_policy.py [--skip-testssl]

Starts `stproxy-monitor run` with a web config (a fresh RSA certificate from trustme) and, side by
side, a peer: a TLS server with the SSLContext the daemon had before (Python's
PROTOCOL_TLS_SERVER defaults, nothing restricted). Then, against both:

- testssl.sh (Debian `testssl`: `-p -E -f --jsonfile`): protocols, TLS 1.2/1.3 ciphers, the
  forward-secrecy curves; CBC suites counted from the IANA names;
- `openssl s_client -groups G` for each key-exchange group, TLS 1.3 and 1.2: which are accepted.

Prints one table per check; exits 1 if the daemon offers a CBC suite or a finite-field group.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import trustme

REPO = Path(__file__).resolve().parents[1]
GROUPS = (
    "X25519",
    "P-256",
    "P-384",
    "P-521",
    "X448",
    "ffdhe2048",
    "ffdhe3072",
    "ffdhe4096",
    "ffdhe6144",
    "ffdhe8192",
)
FINITE_FIELD = {g for g in GROUPS if g.startswith("ffdhe")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peer_server(cert: Path, key: Path) -> tuple[int, threading.Event]:
    """The previous policy: Python's server defaults, answering one line of HTTP."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
            except OSError:
                conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(listener.getsockname()[1]), stop


def accepts(port: int, version: str, group: str) -> bool:
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", version, "-groups", group],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode == 0


def testssl(port: int, out: Path) -> dict[str, str]:
    subprocess.run(
        [
            "testssl",
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            "-p",
            "-E",
            "-f",
            "--jsonfile",
            str(out),
            f"127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return {f["id"]: f["finding"] for f in json.loads(out.read_text())}


def summary(findings: dict[str, str]) -> dict[str, object]:
    ciphers = {k: v for k, v in findings.items() if k.startswith("cipher-tls1_2_")}
    iana = [v.split()[-1] for v in ciphers.values()]
    return {
        "TLS 1.0/1.1": f"{findings.get('TLS1')} / {findings.get('TLS1_1')}",
        "TLS 1.2 suites": len(iana),
        "CBC suites": [name for name in iana if "_CBC_" in name],
        "non-FS suites": [name for name in iana if not name.startswith(("TLS_ECDHE", "TLS_DHE"))],
        "curves (testssl)": findings.get("PFS_ECDHE_curves", ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-testssl", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stproxy-tls-"))
    leaf = trustme.CA().issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
    cert, key = root / "server.pem", root / "server-key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    (root / "web.yml").write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    port = free_port()
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stproxy_monitor",
            "run",
            "--cert",
            str(cert),
            "--listen",
            f"127.0.0.1:{port}",
            "--web.config.file",
            str(root / "web.yml"),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peer, stop = peer_server(cert, key)
    try:
        time.sleep(3)
        servers = {"daemon": port, "peer (Python defaults)": peer}
        print("key-exchange groups accepted (openssl s_client -groups G):")
        print(f"{'group':<10} {'TLS':<5} " + " ".join(f"{name:>24}" for name in servers))
        bad = []
        for version in ("-tls1_3", "-tls1_2"):
            for group in GROUPS:
                row = {name: accepts(p, version, group) for name, p in servers.items()}
                if row["daemon"] and group in FINITE_FIELD | {"X448"}:
                    bad.append(f"{group} {version}")
                cells = " ".join(f"{'yes' if ok else '-':>24}" for ok in row.values())
                print(f"{group:<10} {version[-3:]:<5} {cells}")
        if not args.skip_testssl and shutil.which("testssl"):
            for name, p in servers.items():
                found = summary(testssl(p, root / f"{p}.json"))
                print(f"\ntestssl {name}:")
                for item, value in found.items():
                    print(f"  {item:<18} {value}")
                if name == "daemon" and found["CBC suites"]:
                    bad.append(f"CBC: {found['CBC suites']}")
        print("\nFAIL: " + "; ".join(bad) if bad else "\nOK: no CBC suite, no finite-field group")
        return 1 if bad else 0
    finally:
        stop.set()
        daemon.terminate()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
