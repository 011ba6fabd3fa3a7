"""Entry point of ``kubectl-cvmfs`` (``kubectl cvmfs …`` as a kubectl plugin)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from cvmfs_operator.cli.kubectl_cvmfs import commands, parser
from cvmfs_operator.cli.kubectl_cvmfs.commands import Context, Failure
from cvmfs_operator.cli.kubectl_cvmfs.exitcodes import Exit
from cvmfs_operator.cli.kubectl_cvmfs.follow import Console
from cvmfs_operator.cli.kubectl_cvmfs.publish import publish
from cvmfs_operator.clients import release
from cvmfs_operator.clients.errors import Forbidden, KubeError

COMMANDS: dict[str, Callable[[Context], Exit]] = {
    "publish": publish, "status": commands.status, "list": commands.listing, "logs": commands.logs,
    "wait": commands.wait, "cancel": commands.cancel, "history": commands.history,
}


def use_colour(choice: str, stream: object) -> bool:
    if choice != "auto":
        return choice == "always"
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser.build()
    args = arguments.parse_args(argv)
    if args.command == "completion":
        print(parser.completion_script(arguments, args.shell))
        return Exit.SUCCEEDED
    err = Console(sys.stderr, use_colour(args.color, sys.stderr))
    if args.command in ("rollback", "tag"):
        err.line(f"kubectl cvmfs {args.command}: {parser.NOT_YET}. See docs/cli.md.")
        return Exit.USAGE
    console = Console(sys.stdout, use_colour(args.color, sys.stdout))
    try:
        kube, namespace = release.connect(args.kubeconfig, args.context)
        ctx = Context(kube, args.namespace or namespace, commands.operator_namespace(args), console, args)
        return int(COMMANDS[args.command](ctx))
    except Failure as failure:
        err.line(f"error: {failure.message}")
        return int(failure.code)
    except Forbidden as error:
        err.line(f"error: {error}. Your account may not do this here: check the namespace "
                 "(-n) and your RBAC (kubectl auth can-i)")
        return Exit.CLUSTER
    except KubeError as error:
        err.line(f"error: {error}. Is the cluster reachable (kubectl cluster-info)?")
        return Exit.CLUSTER
    except KeyboardInterrupt:
        err.line("\nInterrupted.")
        return Exit.DETACHED


if __name__ == "__main__":
    sys.exit(main())
