"""Repository operations in a pod: create, rollback, tag, resign, gc, check (docs/publisher-contract.md).

The second mode of ``cvmfs-publisher``, selected by :data:`OPERATION_CONFIG_ENV`. Steps:

1. **configure** — validate (nothing runs for a refused value); install only the keys the kind
   needs (:data:`KEYS_NEEDED`; the master key from its own mount); for every kind but ``create`` the
   attachment files of a publisher pod (:func:`attach.write_configuration`);
2. **inspect** (create) — HEAD ``<prefix>/.cvmfspublished`` in the bucket: present means
   ``AlreadyExists`` and ``mkfs`` never runs (mkfs itself would overwrite the repository);
3. **mount** (rollback, tag, gc, check) — ``cvmfs_server mount`` and ``revisionBefore``;
   ``resign`` does not mount (it must work with an expired whitelist, which the rdonly mount refuses);
4. **operate** — the one ``cvmfs_server`` command (operation_commands);
5. **read** — revision, root hash, reflog checksum, whitelist expiry, gc's deletion count.

The scripts open and close their own transactions (``trap close_transaction``). If the command
fails or is cancelled and the spool shows a transaction that was not there before it ran, the
program runs ``cvmfs_server abort -f``; it never aborts one it did not open.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from cvmfs_operator.api import contract
from cvmfs_operator.api.contract import Outcome, PublisherConfig
from cvmfs_operator.api.operation_contract import (
    KEYS_NEEDED,
    MASTER_KEY_DIR,
    OPERATION_CONFIG_ENV,
    OPERATION_CONTRACT_VERSION,
    OPERATION_EXIT_CODES,
    CheckFigures,
    GcFigures,
    OperationConfig,
    OperationErrorClass,
    OperationExitCode,
    OperationResult,
    OperationStep,
    decode_operation_config,
    encode_operation_result,
)
from cvmfs_operator.publisher import attach, cvmfs, manifest, operation_commands
from cvmfs_operator.publisher.attach import PRIVATE_MODE, PUBLIC_MODE
from cvmfs_operator.publisher.cancel import CancelSwitch
from cvmfs_operator.publisher.conffiles import S3Credentials
from cvmfs_operator.publisher.errors import Cancelled, PublisherError
from cvmfs_operator.publisher.log import Log
from cvmfs_operator.publisher.operation_errors import OperationError
from cvmfs_operator.publisher.operation_validate import validate
from cvmfs_operator.publisher.paths import RESULT_PATH_ENV, Layout
from cvmfs_operator.publisher.process import run
from cvmfs_operator.stratum0.errors import CorruptObject
from cvmfs_operator.stratum0.manifest import parse_manifest
from cvmfs_operator.stratum0.tags import list_tags
from cvmfs_operator.stratum0.whitelist import parse_whitelist

E = OperationErrorClass


class Operation:
    def __init__(self, config: OperationConfig, layout: Layout, log: Log) -> None:
        self.config, self.layout, self.log = config, layout, log
        self.kind = config["operation"]
        self.step: OperationStep = "configure"
        self.durations: dict[str, float] = {}
        self._credentials: S3Credentials | None = None
        self.fields: dict[str, Any] = {"revisionBefore": config.get("revisionBefore"), "revisionAfter": None,
                                       "rootHash": None, "reflogChecksum": None, "whitelistExpiry": None,
                                       "gc": None, "check": None}

    @contextmanager
    def timing(self, step: OperationStep) -> Iterator[None]:
        self.step = step
        self.log.step(f"{step} started")
        started, ended = time.monotonic(), "failed after"
        try:
            yield
            ended = "finished in"
        except Cancelled:
            ended = "cancelled after"
            raise
        finally:
            seconds = time.monotonic() - started
            self.durations[step] = round(self.durations.get(step, 0.0) + seconds, 3)
            self.log.step(f"{step} {ended} {seconds:.3f} s")

    # --- the steps ------------------------------------------------------------------------------
    def steps(self) -> str:
        with self.timing("configure"):
            validate(self.config)
            self._configure()
        if self.kind == "create":
            with self.timing("inspect"):
                self._refuse_existing()
        elif self.kind != "resign":
            with self.timing("mount"):
                cvmfs.mount(self.config["fqrn"], self.log)
                self._read_revision("revisionBefore")
        else:
            self._read_revision("revisionBefore")
        with self.timing("operate"):
            self._operate()
        with self.timing("read"):
            self._read_results()
        return self._summary()

    def _key_sources(self) -> list[tuple[Path, int]]:
        fqrn, sources = self.config["fqrn"], []
        for suffix in KEYS_NEEDED[self.kind]:
            base = self.layout.host(MASTER_KEY_DIR) if suffix == ".masterkey" else self.layout.mounted_keys
            private = suffix in (".key", ".masterkey")
            sources.append((base / f"{fqrn}{suffix}", PRIVATE_MODE if private else PUBLIC_MODE))
        return sources

    def _configure(self) -> None:
        view = publisher_view(self.config)
        if self.kind != "create":
            attach.write_configuration(view, self.layout, self.log, key_sources=self._key_sources())
            self.log.info(f"keys installed: {', '.join(KEYS_NEEDED[self.kind])}")
            return
        credentials = attach.read_s3_credentials(self.layout, self.log)
        attach.install_key_files(self._key_sources(), self.layout, self.log)
        attach.write_s3_config(self.config["s3"], self.layout, credentials)
        self.layout.host(contract.SPOOL_DIR).mkdir(parents=True, exist_ok=True)
        self._credentials = credentials

    def _refuse_existing(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from cvmfs_operator.publisher.fetch import _s3_client

        s3 = self.config["s3"]
        key = f"{s3['prefix']}/.cvmfspublished"
        try:
            _s3_client(s3, self._credentials).head_object(Bucket=s3["bucket"], Key=key)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                self.log.info(f"s3://{s3['bucket']}/{key} does not exist: creating the repository")
                return
            raise OperationError(E.ATTACH_FAILED, "inspect",
                                 f"cannot look for s3://{s3['bucket']}/{key}: HTTP {status}") from None
        except BotoCoreError as error:
            raise OperationError(E.ATTACH_FAILED, "inspect", f"cannot reach the bucket: {error}") from None
        raise OperationError(E.ALREADY_EXISTS, "inspect",
                             f"s3://{s3['bucket']}/{key} exists: a repository is there already; "
                             "mkfs would overwrite it and was not run")

    def _operate(self) -> None:
        root_hash = self._tag_root_hash() if self.kind == "tag" else None
        if self.kind == "gc":
            self.layout.host(operation_commands.deletion_log(self.layout)).unlink(missing_ok=True)
        for args in operation_commands.commands(self.config, self.layout, root_hash):
            self._run(args)

    def _tag_root_hash(self) -> str | None:
        """``tag -h``: the root catalog of ``tag.revision`` (a tag naming it), or the head's for a move."""
        tag = self.config["tag"]
        if tag["action"] == "remove" or ("revision" not in tag and tag["action"] == "add"):
            return None
        base = self.config["stratum0Url"].rstrip("/")
        try:
            current = parse_manifest(_http_get(f"{base}/.cvmfspublished"))
            if "revision" not in tag or tag["revision"] == current.revision:
                return current.root_hash
            digest = current.tag_db_hash
            named = list_tags(_http_get(f"{base}/data/{digest[:2]}/{digest[2:]}H")) if digest else ()
        except (OSError, CorruptObject) as error:
            raise OperationError(E.OPERATION_FAILED, "operate",
                                 f"cannot read the tag database: {error}") from None
        matching = [t for t in named if t.revision == tag["revision"] and not t.branch]
        if not matching:
            raise OperationError(E.NOT_FOUND, "operate",
                                 f"no tag names revision {tag['revision']}: cvmfs tags a root catalog by its "
                                 "hash, and only tags record which hash a past revision had")
        return matching[0].root_hash

    def _run(self, args: list[str]) -> None:
        lock = self.layout.spool_dir / "in_transaction.lock"
        opened_before = lock.exists()
        self.log.info(f"running {cvmfs.CVMFS_SERVER} {' '.join(args)}")
        try:
            completed = run([cvmfs.CVMFS_SERVER, *args], self.log, cvmfs.CVMFS_SERVER)
        except OSError as error:
            raise OperationError(E.INTERNAL, "operate",
                                 f"cannot run {cvmfs.CVMFS_SERVER}: {error.strerror}") from None
        except Cancelled:
            self._abort_if_opened(opened_before)
            raise
        if self.kind == "check":
            problems = operation_commands.findings(completed.output)
            self.fields["check"] = CheckFigures(passed=completed.returncode == 0, findings=problems)
        if completed.returncode != 0:
            failure = operation_commands.classify(self.kind, completed)
            failure.message = self.log.redact(failure.message) + self._abort_if_opened(opened_before)
            raise failure

    def _abort_if_opened(self, opened_before: bool) -> str:
        if opened_before or not (self.layout.spool_dir / "in_transaction.lock").exists():
            return ""
        try:
            cvmfs.abort(self.config["fqrn"], self.log)
        except PublisherError as error:
            return f"; abort -f failed as well: {error.message}"
        return "; the transaction it left open was aborted"

    # --- what the result reports -------------------------------------------------------------------
    def _read_revision(self, field: str) -> None:
        try:
            info = manifest.fetch(self.config["stratum0Url"])
        except (OSError, ValueError) as error:
            self.log.info(f"could not read the manifest: {error}")
            return
        self.fields[field] = info.revision
        if field == "revisionAfter":
            self.fields["rootHash"] = info.root_hash
            checksum_file = self.layout.spool_dir / "reflog.chksum"
            if checksum_file.exists():
                self.fields["reflogChecksum"] = checksum_file.read_text().strip() or None
            else:
                self.fields["reflogChecksum"] = info.reflog_hash

    def _read_results(self) -> None:
        self._read_revision("revisionAfter")
        if self.kind in ("create", "resign"):
            self.fields["whitelistExpiry"] = self._whitelist_expiry()
        if self.kind == "gc":
            log_file = self.layout.host(operation_commands.deletion_log(self.layout))
            lines = log_file.read_text().splitlines() if log_file.exists() else []
            deleted = sum(1 for line in lines if line.strip() and not line.startswith("#"))
            dry_run = bool(self.config.get("gc", {}).get("dryRun", False))
            self.fields["gc"] = GcFigures(dryRun=dry_run, objectsDeleted=deleted)

    def _whitelist_expiry(self) -> str | None:
        try:
            listed = parse_whitelist(_http_get(self.config["stratum0Url"].rstrip("/") + "/.cvmfswhitelist"))
        except (OSError, CorruptObject) as error:
            self.log.info(f"could not read the new whitelist: {error}")
            return None
        return listed.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _summary(self) -> str:
        fields = self.fields
        if self.kind == "gc":
            verb = "would delete" if fields["gc"]["dryRun"] else "deleted"
            return f"gc {verb} {fields['gc']['objectsDeleted']} objects"
        if self.kind == "check":
            return "check found no problems"
        if self.kind == "resign":
            return f"whitelist re-signed, valid until {fields['whitelistExpiry']}"
        if self.kind == "tag":
            tag = self.config["tag"]
            return f"tag {tag['name']} {'added' if tag['action'] == 'add' else 'removed'}"
        return f"{self.kind} done: revision {fields['revisionAfter']}, root {fields['rootHash']}"

    def result(self, outcome: Outcome, error_class: OperationErrorClass | None,
               message: str) -> OperationResult:
        result: dict[str, Any] = {
            "contractVersion": OPERATION_CONTRACT_VERSION, "operation": self.kind, "outcome": outcome.value,
            "errorClass": error_class.value if error_class else None,
            "step": self.step if outcome != Outcome.SUCCEEDED else None, "message": message,
            **self.fields, "durations": dict(self.durations), "logTail": self.log.tail()}
        return cast(OperationResult, result)


def _http_get(url: str) -> bytes:
    """An object of the (publicly readable) Stratum 0, uncached, as cvmfs reads it."""
    headers = {"Cache-Control": "max-age=0", "User-Agent": "cvmfs-operation"}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=manifest.TIMEOUT_SECONDS) as response:
        return bytes(response.read())


def publisher_view(config: OperationConfig) -> PublisherConfig:
    """The attachment fields as attach/conffiles read them (a PublisherConfig without a payload)."""
    view: dict[str, Any] = {
        "contractVersion": contract.CONTRACT_VERSION, "fqrn": config["fqrn"],
        "stratum0Url": config["stratum0Url"],
        "settings": config.get("settings", {}), "reflogChecksum": config.get("reflogChecksum"),
        "revisionBefore": config.get("revisionBefore"), "path": "/", "payload": {}, "tagName": "",
        "tagDescription": "", "transaction": config.get("request", ""), "allowScripts": False}
    for target in ("s3", "gateway"):
        if target in config:
            view[target] = cast(dict[str, Any], config)[target]
    return cast(PublisherConfig, view)


def execute(config: OperationConfig, layout: Layout, log: Log,
            switch: CancelSwitch) -> tuple[OperationResult, int]:
    operation = Operation(config, layout, log)
    error_class: OperationErrorClass | None = None
    outcome, message = Outcome.FAILED, "unexpected failure; see the log"
    try:
        switch.arm()
        message = operation.steps()
        outcome = Outcome.SUCCEEDED
    except OperationError as error:
        error_class, message, operation.step = error.error_class, error.message, error.step
    except PublisherError as error:
        translated = OperationError.of(error)
        error_class, message, operation.step = translated.error_class, translated.message, translated.step
    except Cancelled:
        outcome, error_class = Outcome.CANCELLED, E.CANCELLED
        message = f"cancelled by SIGTERM during {operation.step}"
    except OSError as error:
        error_class, message = E.INTERNAL, f"{type(error).__name__} during {operation.step}: {error.strerror}"
    finally:
        switch.disarm()
    log.error(message) if error_class else log.info(message)
    code = OperationExitCode.SUCCEEDED if error_class is None else OPERATION_EXIT_CODES[error_class]
    return operation.result(outcome, error_class, log.redact(message)), int(code)


def main(raw_config: str) -> int:
    """Run the operation ``raw_config`` describes; write the result; return the exit code."""
    log = Log()
    switch = CancelSwitch()
    switch.install()
    result_path = Path(os.environ.get(RESULT_PATH_ENV) or contract.RESULT_PATH)
    code = int(OperationExitCode.INTERNAL)
    result: OperationResult | None = None
    try:
        try:
            config = decode_operation_config(raw_config)
        except ValueError as error:
            log.error(f"invalid configuration: {error}")
            dummy = Operation(cast(OperationConfig, {"operation": "check"}), Layout.from_env(""), log)
            result = dummy.result(Outcome.FAILED, E.INVALID_INPUT, f"invalid configuration: {error}")
            result["operation"] = "unknown"
            code = int(OperationExitCode.INVALID_INPUT)
        else:
            log.info(f"{config['operation']} of {config['fqrn']} ({config.get('request', '?')})")
            result, code = execute(config, Layout.from_env(str(config["fqrn"])), log, switch)
    finally:
        if result is None:
            dummy = Operation(cast(OperationConfig, {"operation": "check"}), Layout.from_env(""), log)
            result = dummy.result(Outcome.FAILED, E.INTERNAL, "internal error; see the log")
        try:
            result_path.write_bytes(encode_operation_result(result))
        except OSError as error:
            log.error(f"cannot write the result to {result_path}: {error.strerror}")
    return code


def entrypoint() -> int:
    """``cvmfs-operation``: the operation pod's command (render/operation_pod.py)."""
    return main(os.environ.get(OPERATION_CONFIG_ENV, ""))


if __name__ == "__main__":
    sys.exit(entrypoint())
