"""Certificates, keys and web configs made for a test (trustme), and TLS clients that use them."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import trustme

PASSWORD = "s3cret-scrape-pass"
USER = "prometheus"
# Cost 4 keeps the tests fast; production hashes use 10-12.
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@dataclass
class TLSFiles:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, written under `root`."""

    root: Path
    ca: trustme.CA
    cert: Path
    key: Path
    ca_file: Path
    client: trustme.LeafCert

    def client_context(self, *, client_cert: bool = True) -> ssl.SSLContext:
        """A client context trusting this CA, presenting the client certificate if asked."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        if client_cert:
            self.client.configure_cert(context)
        return context

    def issue_server(self, ca: trustme.CA, name: str = "server") -> None:
        """Replace the server certificate and key with ones from `ca` (a rotation)."""
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        leaf.cert_chain_pems[0].write_to_path(str(self.root / f"{name}.pem.new"))
        leaf.private_key_pem.write_to_path(str(self.root / f"{name}-key.pem.new"))
        os.replace(self.root / f"{name}.pem.new", self.cert)
        os.replace(self.root / f"{name}-key.pem.new", self.key)


def make_tls_files(root: Path) -> TLSFiles:
    """Fresh CA, server and client certificates in `root`."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = root / "server.pem", root / "server-key.pem", root / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("prometheus.example.com", "127.0.0.2")
    return TLSFiles(root=root, ca=ca, cert=cert, key=key, ca_file=ca_file, client=client)


def web_config_text(
    files: TLSFiles | None,
    *,
    users: dict[str, str] | None = None,
    client_auth: str | None = None,
    extra: str = "",
) -> str:
    """A web-config.yml: TLS with `files` (if given), basic auth users, anything extra."""
    lines = []
    if files is not None:
        lines += ["tls_server_config:", f"  cert_file: {files.cert}", f"  key_file: {files.key}"]
        if client_auth:
            lines += [f"  client_auth_type: {client_auth}", f"  client_ca_file: {files.ca_file}"]
    users = {USER: PASSWORD_HASH} if users is None else users
    if users:
        lines.append("basic_auth_users:")
        lines += [f"  {name}: {hashed}" for name, hashed in users.items()]
    return "\n".join(lines) + "\n" + extra


def write_changed(path: Path, text: str) -> None:
    """Rewrite a file so that its stat surely differs (mtime moved on by a second)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
    os.utime(path, ns=(later, later))
