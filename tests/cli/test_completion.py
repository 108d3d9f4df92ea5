"""``syncer completion bash|zsh|fish``, loaded into the real shell as its user would, in a
terminal (tmux): TAB completes subcommands, flags, choices, and the app, cluster and stage
names of the config file given with ``-c``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import binaries
from tests.waiting import eventually

pytestmark = pytest.mark.integration

PROMPT = "READY> "

RC = {
    # Lists the choices on the first TAB, as zsh and fish do (bash waits for a second).
    "bash": f"PS1='{PROMPT}'\nbind 'set show-all-if-ambiguous on'\n"
    'eval "$(syncer completion bash)"\n',
    "zsh": f"PS1='{PROMPT}'\nautoload -U compinit && compinit -u\n"
    'eval "$(syncer completion zsh)"\n',
    "fish": f"function fish_prompt; echo -n '{PROMPT}'; end\n"
    "set -g fish_greeting ''\nsyncer completion fish | source\n",
}


def _command(shell: str, rc: Path) -> list[str]:
    if shell == "bash":
        return ["bash", "--noprofile", "--rcfile", str(rc), "-i"]
    if shell == "zsh":
        return ["env", f"ZDOTDIR={rc.parent}", "zsh", "-i"]
    return ["fish", "--no-config", "-i", "-C", f"source {rc}"]


class Terminal:
    """One shell in a tmux pane: type keys, read the screen."""

    def __init__(self, socket: Path, name: str) -> None:
        self.base = [binaries.require("tmux"), "-S", str(socket), "-f", "/dev/null"]
        self.name = name

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, check=True, timeout=30
        )
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def type(self, text: str, *, then: str = "Tab") -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.tmux("send-keys", "-t", self.name, then)

    def clear_line(self) -> None:
        """Leave a completion menu and empty the command line, and wait for the prompt.
        The keys are sent again every few seconds: a shell still drawing the completion
        it just made (fish, on a busy machine) can drop a Ctrl-C that arrives meanwhile."""
        deadline = time.monotonic() + 240
        while True:
            self.tmux("send-keys", "-t", self.name, "C-c")
            self.tmux("send-keys", "-t", self.name, "C-l")
            if eventually(lambda: self.screen().strip() == PROMPT.strip(), timeout=5):
                return
            assert time.monotonic() < deadline, self.screen()


@pytest.fixture(params=["bash", "zsh", "fish"])
def terminal(
    request: pytest.FixtureRequest, tmp_path: Path, cli_env: dict[str, str], names_config: Path
) -> Iterator[Callable[..., str]]:
    shell = request.param
    binaries.require(shell)
    rc = tmp_path / "rc" / (".zshrc" if shell == "zsh" else "rc")
    rc.parent.mkdir()
    rc.write_text(RC[shell])
    term = Terminal(tmp_path / "tmux.sock", shell)
    term.tmux(
        "new-session", "-d", "-s", shell, "-x", "200", "-y", "50", "-c", str(tmp_path),
        *(f"-e{k}={v}" for k, v in cli_env.items() if k in ("PATH", "HOME", "LANG")),
        "-eTERM=xterm", *_command(shell, rc),
    )  # fmt: skip
    try:
        assert eventually(lambda: PROMPT.strip() in term.screen()), term.screen()

        def complete(line: str, *expected: str) -> str:
            """Type ``line`` and TAB, and wait for every ``expected`` text on the screen
            (each TAB runs syncer once)."""
            term.clear_line()
            term.type(line)
            found = eventually(lambda: all(e in term.screen() for e in expected), timeout=240)
            screen = term.screen()
            assert found, f"{shell}: {line!r}<TAB> shows no {expected}:\n{screen}"
            return screen

        yield complete
    finally:
        subprocess.run([*term.base, "kill-server"], check=False, capture_output=True)


# Each TAB starts syncer (about a second on an idle machine, far more on a loaded one).
@pytest.mark.timeout(1200)
def test_tab_completes_commands_flags_choices_and_names_from_the_config(
    terminal: Callable[..., str], names_config: Path
) -> None:
    config = names_config.name
    terminal("syncer histo", "syncer history")  # the only match: completed in place
    terminal("syncer status --wa", "syncer status --watch")
    terminal("syncer status -o ", "wide", "json", "yaml")
    terminal(f"syncer history -c {config} ", "web", "worker")
    terminal(f"syncer suspend -c {config} web --stage ", "dev", "canary")
    terminal(f"syncer render -c {config} web --cluster prod", "--cluster prod-west")
    terminal("syncer completion ", "bash", "zsh", "fish")


def test_the_scripts_name_syncer_and_nothing_else(syncer_exe: str) -> None:
    for shell in ("bash", "zsh", "fish"):
        done = subprocess.run(
            [syncer_exe, "completion", shell], capture_output=True, text=True, check=True
        )
        assert "syncer" in done.stdout and done.stderr == ""
    done = subprocess.run(
        [syncer_exe, "completion", "tcsh"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "invalid choice: 'tcsh'" in done.stderr
