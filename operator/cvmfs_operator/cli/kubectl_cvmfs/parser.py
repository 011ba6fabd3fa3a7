"""Arguments of ``kubectl cvmfs`` (``kubectl-cvmfs``), with examples in every ``--help``."""

from __future__ import annotations

import argparse

NOT_YET = ("not available yet: the operator has no repository operations (rollback, tag) in "
           "cvmfs.cern.ch/v1alpha1, and this command will not fake them with a Transaction")

EXIT_CODES = """exit codes:
  0 succeeded   1 Transaction Failed   2 usage or local input   3 Cancelled or deleted
  4 --timeout passed (it keeps going)   5 Kubernetes API (kubeconfig, RBAC, network)
  6 not found   7 staging upload failed   130 Ctrl-C: detached (it keeps going)"""

EXAMPLES = {
    "publish": """examples:
  kubectl cvmfs publish ./build --repository sw.example.org --path /releases/1.2 --wait
  kubectl cvmfs publish release.tar.gz -r sw.example.org -p /releases/1.2 -t v1.2 -d "release 1.2"
  kubectl cvmfs publish ./build -r sw.example.org -p /nightly --exclude '*.o' --exclude .git -w""",
    "status": "examples:\n  kubectl cvmfs status release-1-2-0\n  kubectl cvmfs status release-1-2-0 -o yaml",
    "list": ("examples:\n  kubectl cvmfs list\n  kubectl cvmfs list -A -o wide\n"
             "  kubectl cvmfs list -l team=physics -o json"),
    "logs": "examples:\n  kubectl cvmfs logs release-1-2-0\n  kubectl cvmfs logs release-1-2-0 -f",
    "wait": "examples:\n  kubectl cvmfs wait release-1-2-0 --timeout 600",
    "cancel": "examples:\n  kubectl cvmfs cancel release-1-2-0",
    "history": "examples:\n  kubectl cvmfs history sw.example.org",
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: the current context)")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's namespace)")
    parser.add_argument("--operator-namespace", default=None,
                        help="namespace of the operator and its publisher pods "
                             "(default: $KUBECTL_CVMFS_OPERATOR_NAMESPACE or cvmfs-release-operator)")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                        help="colour output (auto: only on a terminal, and not with NO_COLOR)")


def _follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop waiting after this long (exit 4; the Transaction keeps going)")
    parser.add_argument("--cancel-on-interrupt", action="store_true",
                        help="Ctrl-C cancels (deletes) the Transaction instead of only detaching")
    parser.add_argument("--no-logs", dest="logs", action="store_false",
                        help="do not stream the publisher pod's log")


def build() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="kubectl cvmfs", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Publish to CernVM-FS repositories through the cvmfs-release-operator.",
        epilog=f"{EXAMPLES['publish']}\n\n{EXIT_CODES}\n\nDocumentation: docs/cli.md")
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help,
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog=f"{EXAMPLES.get(name, '')}\n\n{EXIT_CODES}".strip())
        _common(sub)
        return sub

    publish = command("publish", "pack, stage and publish a directory or tarball as a new Transaction")
    publish.add_argument("source", metavar="DIR|TARBALL", help="directory to pack, or an existing tarball")
    publish.add_argument("-r", "--repository", required=True, help="Repository (FQRN)")
    publish.add_argument("-p", "--path", required=True, help="path in the repository, e.g. /releases/1.2")
    publish.add_argument("-t", "--tag", help="tag name (default: derived from namespace and name)")
    publish.add_argument("-d", "--description",
                         help="tag description (letters, digits, space, . , : _ + = @ / %% -)")
    publish.add_argument("--name", help="Transaction name (default: publish-<first 12 of the SHA-256>)")
    publish.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                         help="leave out paths matching this shell pattern (repeatable)")
    publish.add_argument("--no-compress", dest="compress", action="store_false", help="do not gzip")
    publish.add_argument("--profile", help="AWS profile for the staging upload (default: $AWS_PROFILE)")
    publish.add_argument("-w", "--wait", action="store_true", help="follow it live until it finishes")
    _follow_options(publish)

    status = command("status", "show a Transaction")
    status.add_argument("transaction", metavar="TXN")
    status.add_argument("-o", "--output", choices=["json", "yaml"])

    listing = command("list", "list Transactions, like kubectl get")
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    listing.add_argument("-l", "--selector", default="", help="label selector, e.g. team=physics")
    listing.add_argument("-o", "--output", choices=["json", "yaml", "wide"])

    logs = command("logs", "print the publisher log of a Transaction")
    logs.add_argument("transaction", metavar="TXN")
    logs.add_argument("-f", "--follow", action="store_true", help="stream until the pod ends")

    wait = command("wait", "follow a Transaction until it finishes; the exit code tells how")
    wait.add_argument("transaction", metavar="TXN")
    _follow_options(wait)

    cancel = command("cancel", "cancel a Transaction (deletes it; its pod is stopped and aborts)")
    cancel.add_argument("transaction", metavar="TXN")

    history = command("history", "tags and revisions of a repository, read from its Stratum 0")
    history.add_argument("repository", metavar="REPOSITORY")
    history.add_argument("-o", "--output", choices=["json", "yaml"])

    for name in ("rollback", "tag"):
        sub = command(name, f"{name}: {NOT_YET}")
        sub.add_argument("args", nargs="*", help=argparse.SUPPRESS)

    completion = commands.add_parser("completion", help="print a shell completion script (bash, zsh)",
                                     description="source <(kubectl-cvmfs completion bash)")
    completion.add_argument("shell", choices=["bash", "zsh"])
    return root


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """A static completion script: sub-commands, then that command's options."""
    sub_action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cases = []
    for name, sub in sub_action.choices.items():
        flags = " ".join(sorted(o for a in sub._actions for o in a.option_strings))
        cases.append(f"    {name}) opts=\"{flags}\" ;;")
    body = "\n".join(cases)
    script = f"""_kubectl_cvmfs() {{
  local cur cmd opts
  cur="${{COMP_WORDS[COMP_CWORD]}}"
  cmd="${{COMP_WORDS[1]}}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "{' '.join(sub_action.choices)}" -- "$cur")); return
  fi
  case "$cmd" in
{body}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else COMPREPLY=($(compgen -f -- "$cur")); fi
}}
complete -F _kubectl_cvmfs kubectl-cvmfs"""
    return ("autoload -U +X bashcompinit && bashcompinit\n" + script) if shell == "zsh" else script
