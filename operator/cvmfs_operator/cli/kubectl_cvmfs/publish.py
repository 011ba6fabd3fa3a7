"""``kubectl cvmfs publish``: pack, stage (upload with a checksum), create the Transaction, follow."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from cvmfs_operator.api import inert, validation
from cvmfs_operator.api.types import API_VERSION, Repository
from cvmfs_operator.cli.kubectl_cvmfs import commands, render
from cvmfs_operator.cli.kubectl_cvmfs.commands import Context, Failure
from cvmfs_operator.cli.kubectl_cvmfs.exitcodes import Exit
from cvmfs_operator.cli.kubectl_cvmfs.follow import Console
from cvmfs_operator.cli.kubectl_cvmfs.pack import Packed, PackError, hash_file, pack_directory
from cvmfs_operator.clients import release
from cvmfs_operator.clients.errors import AlreadyExists
from cvmfs_operator.stratum0.errors import Stratum0Error
from cvmfs_operator.stratum0.staging import StagingTarget, Uploader


def transaction_body(name: str, namespace: str, repository: str, path: str, url: str, sha256: str,
                     tag: str | None, description: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION, "kind": "Transaction",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/created-by": "kubectl-cvmfs"}},
        "spec": {"repository": repository, "path": path,
                 "payload": {"tarball": {"url": url, "sha256": sha256}}},
    }
    if tag or description:
        body["spec"]["tag"] = {k: v for k, v in (("name", tag), ("description", description)) if v}
    return body


def _check_input(args: Any, name: str) -> None:
    """Refuse locally, with the API's own rules, what admission would refuse anyway."""
    probe = transaction_body(name, "default", args.repository, args.path, "s3://b/k", "0" * 64,
                             args.tag, args.description)
    errors = validation.transaction_errors(probe)
    if args.description is not None and (problem := inert.description_error(args.description)):
        errors.append(f"--description {problem}")
    if errors:
        raise Failure(Exit.USAGE, "; ".join(dict.fromkeys(errors)).replace("spec.tag.", "--")
                      .replace("spec.path", "--path").replace("spec.repository", "--repository"))


class Progress:
    """An in-place bar on a terminal; otherwise a line at every quarter."""

    def __init__(self, console: Console, tty: bool) -> None:
        self.console, self.tty, self.reported, self.start = console, tty, -1, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            rate = done / max(time.monotonic() - self.start, 1e-3)
            with self.console.lock:
                self.console.out.write(f"\r  {render.progress_bar(done, total)}  {render.size(int(rate))}/s ")
                if done >= total:
                    self.console.out.write("\n")
                self.console.out.flush()
            return
        quarter = 4 if total <= 0 else min(4, done * 4 // total)
        if quarter > self.reported:
            self.reported = quarter
            self.console.line(f"  uploaded {render.size(done)} of {render.size(total)}")


def _staging(ctx: Context, repository: str) -> StagingTarget:
    repo: Repository | None = ctx.kube.get_repository(repository)
    if repo is None:
        raise Failure(Exit.NOT_FOUND, f'Repository "{repository}" not found '
                                      "(kubectl get repositories.cvmfs.cern.ch lists them)")
    staging = repo["spec"].get("staging", {}).get("s3")
    if staging is None:
        raise Failure(Exit.USAGE, f"Repository {repository} declares no staging bucket "
                                  "(spec.staging.s3): ask its SRE to add one, or put the tarball on an "
                                  "HTTP(S) server and apply a Transaction with payload.tarball.url")
    return StagingTarget.from_spec(repository, staging)


def _pack(ctx: Context, source: Path, workdir: Path) -> Packed:
    try:
        if source.is_dir():
            ctx.console.line(f"Packing {source} ...")
            packed = pack_directory(source, workdir / "payload.tar", ctx.args.exclude,
                                    compress=ctx.args.compress)
            ctx.console.line(f"  {packed.entries} entries, {render.size(packed.size)}, "
                             f"sha256 {packed.sha256}")
            return packed
        packed = hash_file(source)
        ctx.console.line(f"Tarball {source}: {render.size(packed.size)}, sha256 {packed.sha256}")
        return packed
    except (PackError, OSError) as error:
        raise Failure(Exit.USAGE, str(error)) from None


def publish(ctx: Context) -> Exit:
    args = ctx.args
    source = Path(args.source)
    if not source.exists():
        raise Failure(Exit.USAGE, f"{source}: no such directory or file")
    _check_input(args, args.name or "publish-000000000000")
    target = _staging(ctx, args.repository)
    with tempfile.TemporaryDirectory(prefix="kubectl-cvmfs-") as workdir:
        packed = _pack(ctx, source, Path(workdir))
        ctx.console.line(f"Staging to {target.url(packed.sha256)} at {target.endpoint} ...")
        try:
            progress = Progress(ctx.console, ctx.console.out.isatty())
            uploader = Uploader(target, profile=args.profile, progress=progress)
            staged = uploader.upload(packed.path, packed.sha256)
        except Stratum0Error as error:
            raise Failure(Exit.STAGING, f"staging failed: {error.message}") from None
    if staged.reused:
        ctx.console.line("  already staged (same SHA-256): nothing uploaded")
    elif staged.resumed_parts:
        ctx.console.line(f"  resumed an interrupted upload: {staged.resumed_parts} parts were already there")
    name = args.name or f"publish-{packed.sha256[:12]}"
    body = transaction_body(name, ctx.namespace, args.repository, args.path, staged.url, packed.sha256,
                            args.tag, args.description)
    try:
        release.create_transaction(ctx.kube, body)
    except AlreadyExists:
        raise Failure(Exit.USAGE, f"Transaction {ctx.namespace}/{name} already exists (same content "
                                  f"staged before?): follow it with kubectl cvmfs wait {name}, or pass "
                                  "--name to publish it again") from None
    ctx.console.line(f"Transaction {ctx.namespace}/{name} created")
    if not args.wait:
        ctx.console.line(f"Follow it with: kubectl cvmfs wait {name} -n {ctx.namespace}")
        return Exit.SUCCEEDED
    return commands.follow(ctx, name)
