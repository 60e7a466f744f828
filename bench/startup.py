"""Start-up of the commands cron and Nagios run every few minutes: `--help` and `cert` on one file.

    python bench/startup.py [--rounds 20] [--tree LABEL=PATH ...]

Runs `python -m stproxy_monitor --help` and `... cert --password-file F apns-prod.pkcs12` (a
PKCS#12 made here with cryptography, the legacy 3DES form) in rounds, each tree taking turns,
and prints the best wall time, the best CPU time (user + system of the child: less disturbed by
other jobs than the wall) and `python -X importtime`'s cumulative import time of the command's
modules, with the machine's load average. A tree is a source checkout put first on PYTHONPATH
(default: this one), so that an earlier commit can be measured beside the current one with the
same interpreter; use an interpreter whose environment has the package's dependencies but no
editable install (an editable install's finder adds its own import time to every start).

The children compile to byte code once, in a temporary PYTHONPYCACHEPREFIX (one warm-up round,
not counted), as an installed package has its .pyc files: without it, a PYTHONDONTWRITEBYTECODE
in the environment would add the compilation of every module of the tree to every start.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_pkcs12(directory: Path) -> tuple[Path, Path]:
    """A self-signed APNs-like certificate as apns-prod.pkcs12, and its password file."""
    from cryptography import x509  # noqa: PLC0415 - only this script needs it
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, "com.ibm.lotus.sametime"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Apple Push Services: com.ibm.lotus.sametime"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy form old Java runtimes read
        .build(b"secret")
    )
    p12 = directory / "apns-prod.pkcs12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"apns", key, cert, None, encryption))
    password = directory / "password"
    password.write_text("secret\n")
    return p12, password


def child_env(tree: Path, pycache: Path) -> dict[str, str]:
    """The environment of a measured child: `tree` first, byte code kept in `pycache`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# The children run in the temporary directory: `python -m` puts its working directory first on
# sys.path, so run from a checkout, every tree would measure that checkout's code.
CWD = Path(tempfile.gettempdir())


def check_tree(python: str, env: dict[str, str], tree: Path) -> None:
    """Fail unless the child imports the package from `tree`."""
    done = subprocess.run(
        [python, "-c", "import stproxy_monitor; print(stproxy_monitor.__file__)"],
        capture_output=True, text=True, env=env, cwd=CWD, check=True,
    )  # fmt: skip
    found = Path(done.stdout.strip()).resolve()
    if not found.is_relative_to(tree):
        raise SystemExit(f"startup: the tree {tree} imports stproxy_monitor from {found}")


def run(python: str, env: dict[str, str], argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m stproxy_monitor ARGV`."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-m", "stproxy_monitor", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=CWD,
    )
    _, _status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def import_ms(python: str, env: dict[str, str], argv: list[str]) -> float:
    """Milliseconds `python -X importtime` gives the stproxy_monitor modules at top level."""
    done = subprocess.run(
        [python, "-X", "importtime", "-m", "stproxy_monitor", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=CWD,
        check=False,
    )
    total = 0
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].startswith(" stproxy_monitor"):  # top level only
            total += int(parts[1])
    return total / 1000


def main() -> None:
    """Measure every tree, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--tree", action="append", help="LABEL=PATH of a source checkout")
    args = parser.parse_args()
    trees = {
        label: Path(path).resolve()
        for label, _, path in (t.partition("=") for t in args.tree or [f"this={HERE.parent}"])
    }
    with tempfile.TemporaryDirectory() as tmp:
        p12, password = make_pkcs12(Path(tmp))
        commands = {
            "--help": ["--help"],
            "cert FILE": ["cert", "--password-file", str(password), str(p12)],
        }
        envs = {label: child_env(tree, Path(tmp) / "pycache" / label) for label, tree in trees.items()}
        for label, tree in trees.items():  # the right code, and a warm-up: byte code written
            check_tree(args.python, envs[label], tree)
            for argv in commands.values():
                run(args.python, envs[label], argv)
        best: dict[tuple[str, str], list[float]] = {}
        load_before = Path("/proc/loadavg").read_text().split()[0]
        for _ in range(args.rounds):
            for label in trees:
                for name, argv in commands.items():
                    wall, cpu = run(args.python, envs[label], argv)
                    got = best.setdefault((label, name), [wall, cpu])
                    best[label, name] = [min(got[0], wall), min(got[1], cpu)]
        load_after = Path("/proc/loadavg").read_text().split()[0]
        print(f"{args.rounds} rounds, load {load_before} -> {load_after}, {args.python}")
        print(
            f"{'tree':10s} {'command':10s} {'best wall ms':>12s} {'best cpu ms':>11s} {'imports ms':>10s}"
        )
        for (label, name), (wall, cpu) in best.items():
            imports = import_ms(args.python, envs[label], commands[name])
            print(f"{label:10s} {name:10s} {wall * 1000:12.0f} {cpu * 1000:11.0f} {imports:10.0f}")


if __name__ == "__main__":
    main()
