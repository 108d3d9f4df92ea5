"""A real Git-over-SSH server for tests: OpenSSH ``sshd`` on a free 127.0.0.1 port.

Serves every bare repository under ``root`` at ``ssh://USER@127.0.0.1:PORT/<abs path>``
to one client key, through ``git-shell`` (the key can run git and nothing else). The
test gets the client's private key and the ``known_hosts`` line of the server's host key,
exactly what a syncer source's ``sshKeyFrom`` / ``knownHostsFrom`` hold.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

from tests.servers import git_repo, lifecycle


class GitSSHServer:
    """A running sshd; ``stop()`` (or the fixture) shuts it down."""

    def __init__(self, *, root: Path, work: Path, sshd: str) -> None:
        self.root = root
        self.work = work
        self.user = getpass.getuser()
        self.log_path = work / "sshd.log"
        self.host_key = _keygen(work / "host_key")
        self.client_key_path = work / "client_key"
        client_pub = _keygen(self.client_key_path)
        self.client_key = self.client_key_path.read_text()
        (work / "authorized_keys").write_text(
            f'command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",restrict {client_pub}\n'
        )
        if os.geteuid() == 0:
            # sshd started by root insists on its privilege-separation directory.
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        port = lifecycle.start_on_free_port(lambda port: self._start(sshd=sshd, port=port))
        if port is None:
            raise RuntimeError(f"sshd did not start:\n{self.logs()}")
        self.port = port
        self.known_hosts = f"[127.0.0.1]:{self.port} {self.host_key}\n"

    def create_repo(
        self, name: str, files: dict[str, git_repo.FileValue] | None = None, *, branch: str = "main"
    ) -> git_repo.BareRepo:
        return git_repo.create_served(
            root=self.root, name=name, files=files, branch=branch, url_for=self.url_for
        )

    def url_for(self, repo: git_repo.BareRepo) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repo.path}"

    def logs(self) -> str:
        return lifecycle.read_log(self.log_path)

    def stop(self) -> None:
        if self._proc is None:
            return
        lifecycle.stop_group(self._proc)
        self._proc = None

    def _start(self, *, sshd: str, port: int) -> bool:
        config = self.work / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {self.work / 'host_key'}\n"
            f"AuthorizedKeysFile {self.work / 'authorized_keys'}\n"
            f"PidFile {self.work / 'sshd.pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            "StrictModes no\nUsePAM no\nLogLevel VERBOSE\n"
        )
        proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not lifecycle.wait_listening(proc, port=port):
            return False
        self._proc = proc
        return True


def _keygen(path: Path) -> str:
    """Make an ed25519 key pair at ``path``; return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    os.chmod(path, 0o600)
    return Path(f"{path}.pub").read_text().strip()
