"""``pumpctl completion bash|zsh|fish``: a shell completion script, generated from the parser.

bash and zsh scripts come from shtab, which writes a static script (no Python runs at TAB);
fish is generated here from the same parser, as ``complete`` lines. Install, e.g.::

    pumpctl completion bash | sudo tee /usr/share/bash-completion/completions/pumpctl
    pumpctl completion zsh > "${fpath[1]}/_pumpctl"
    pumpctl completion fish > ~/.config/fish/completions/pumpctl.fish
"""

from __future__ import annotations

import argparse
import shlex

from pumpctl.cli.args import Subparsers, add_command
from pumpctl.errors import EXIT_OK

SHELLS = ("bash", "zsh", "fish")


def _complete(args: argparse.Namespace) -> int:
    from pumpctl.cli import build_parser  # noqa: PLC0415 - the whole parser, only here

    parser = build_parser()
    if args.shell == "fish":
        print(fish_script(parser))
        return EXIT_OK
    import shtab  # noqa: PLC0415

    print(shtab.complete(parser, shell=args.shell))
    return EXIT_OK


def _subcommands(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, child in action.choices.items():
                found.append((name, helps.get(name, ""), child))
    return found


def _quote(text: str) -> str:
    return shlex.quote(text.replace("\n", " "))


def fish_script(parser: argparse.ArgumentParser) -> str:
    """``complete`` lines for fish: subcommands by position, then each command's options."""
    prog = parser.prog
    lines = [f"# fish completion for {prog} (pumpctl completion fish)", f"complete -c {prog} -f"]
    _fish_level(parser, prog, [], lines)
    return "\n".join(lines)


def _fish_level(
    parser: argparse.ArgumentParser, prog: str, path: list[str], lines: list[str]
) -> None:
    children = _subcommands(parser)
    names = " ".join(name for name, _, _ in children)
    if path:
        seen = " && ".join(f"__fish_seen_subcommand_from {word}" for word in path)
        here = f"{seen}; and not __fish_seen_subcommand_from {names}" if names else seen
    else:
        here = "__fish_use_subcommand"
    for name, help_text, child in children:
        lines.append(f"complete -c {prog} -n {_quote(here)} -a {name} -d {_quote(help_text)}")
        _fish_level(child, prog, [*path, name], lines)
    condition = (
        " && ".join(f"__fish_seen_subcommand_from {word}" for word in path)
        if path
        else "__fish_use_subcommand"
    )
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        parts = [f"complete -c {prog} -n {_quote(condition)}"]
        for option in action.option_strings:
            if option.startswith("--"):
                parts.append(f"-l {option[2:]}")
            elif len(option) == 2:
                parts.append(f"-s {option[1]}")
        if action.choices:
            parts.append("-x -a " + _quote(" ".join(str(c) for c in action.choices)))
        elif (action.nargs != 0 and isinstance(action.type, type)) or action.metavar in (
            "FILE",
            "JOURNAL",
            "PATH",
            "DIR",
        ):
            parts.append("-r -F")
        if action.help:
            parts.append(f"-d {_quote(action.help)}")
        lines.append(" ".join(parts))


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "completion",
        help="print a shell completion script (bash, zsh, fish)",
        description=(
            "Print a completion script for SHELL on standard output. bash and zsh scripts are "
            "static (nothing runs at each TAB); fish gets complete lines."
        ),
        examples=[
            "pumpctl completion bash | sudo tee /usr/share/bash-completion/completions/pumpctl",
            'pumpctl completion zsh > "${fpath[1]}/_pumpctl"',
            "pumpctl completion fish > ~/.config/fish/completions/pumpctl.fish",
        ],
    )
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    parser.set_defaults(func=_complete)
