"""The publisher's state machine: configure -> mount -> fetch -> transaction -> payload -> publish.

Any failure after ``transaction`` was invoked ends with ``cvmfs_server abort -f``, so no
transaction stays open; SIGTERM does the same and reports ``Cancelled``.
"""

from __future__ import annotations

from pathlib import Path

from cvmfs_operator.api import inert
from cvmfs_operator.api.contract import ErrorClass, ExitCode, Outcome, PublisherConfig, PublisherResult
from cvmfs_operator.publisher import attach, cvmfs, fetch, manifest, payloads, tarsafety, tree
from cvmfs_operator.publisher.cancel import CancelSwitch
from cvmfs_operator.publisher.conffiles import S3Credentials
from cvmfs_operator.publisher.errors import Cancelled, PublisherError
from cvmfs_operator.publisher.log import Log
from cvmfs_operator.publisher.paths import Layout
from cvmfs_operator.publisher.result import Record, exit_code
from cvmfs_operator.publisher.validate import normalise_path, validate


class Runner:
    def __init__(self, config: PublisherConfig, layout: Layout, log: Log, switch: CancelSwitch) -> None:
        self.config = config
        self.layout = layout
        self.log = log
        self.switch = switch
        self.record = Record(revision_before=config.get("revisionBefore"), log=log)
        self.transaction_open = False

    def run(self) -> tuple[PublisherResult, ExitCode]:
        error_class: ErrorClass | None = None
        outcome = Outcome.FAILED
        message = "unexpected failure; see the log"
        try:
            self.switch.arm()
            self._steps()
            outcome = Outcome.SUCCEEDED
            message = f"published revision {self.record.revision_after} with tag {self.record.tag}"
        except PublisherError as error:
            error_class, message = error.error_class, error.message
            self.record.step = error.step
        except Cancelled:
            outcome, error_class = Outcome.CANCELLED, ErrorClass.CANCELLED
            message = f"cancelled by SIGTERM during {self.record.step}"
        except OSError as error:
            error_class = ErrorClass.INTERNAL
            message = f"{type(error).__name__} during {self.record.step}: {error.strerror}"
        finally:
            self.switch.disarm()
            if self.transaction_open:
                message += self._abort()
        self.log.error(message) if error_class else self.log.info(message)
        message = self.log.redact(message)
        return self.record.result(outcome, error_class, message, self.log.tail()), exit_code(error_class)

    def _abort(self) -> str:
        spool = self.layout.spool_dir
        opened = (spool / "in_transaction.lock").exists() or (spool / "session_token").exists()
        if self.record.step == "transaction" and not opened:
            self.log.info("the transaction was never opened; nothing to abort")
            return ""
        try:
            cvmfs.abort(self.config["fqrn"], self.log)
        except PublisherError as error:
            return f"; abort -f failed as well: {error.message}"
        self.transaction_open = False
        return "; the transaction was aborted"

    def _steps(self) -> None:
        config, layout, log, record = self.config, self.layout, self.log, self.record
        fqrn = config["fqrn"]
        with record.timing("configure"):
            kind = validate(config)
            path = normalise_path(config["path"])
            credentials = attach.write_configuration(config, layout, log)
        with record.timing("mount"):
            cvmfs.mount(fqrn, log)
            self._read_revision_before()
        tarball = None
        if kind == "tarball":
            with record.timing("fetch"):
                tarball = self._fetch(credentials)
        with record.timing("transaction"):
            self.transaction_open = True
            lease = path.strip("/") if "gateway" in config else None
            try:
                cvmfs.transaction(fqrn, lease or None, log)
            except PublisherError as error:
                if error.error_class == ErrorClass.BUSY:
                    self.transaction_open = False  # someone else's transaction: not ours to abort
                raise
            self._read_lease_token()
        with record.timing("payload"):
            transaction_dir = tree.enter(layout.union_dir, path, "payload", create=kind != "remove")
            payloads.apply(config, layout, transaction_dir, tarball, log)
        with record.timing("publish"):
            description = config["tagDescription"] or config["tagName"]
            if "gateway" in config:
                description = inert.gateway_sync_argument(description)
            cvmfs.publish(fqrn, config["tagName"], description, log)
            self.transaction_open = False
            record.tag = config["tagName"]
            self._read_published()

    def _fetch(self, credentials: S3Credentials | None) -> Path:
        tarball = self.config["payload"]["tarball"]
        url, sha256 = tarball["url"], tarball.get("sha256")
        target = self.layout.download_dir / "payload.tar"
        size = fetch.download(url, target, self.config.get("s3"), credentials,
                              staging=self.config.get("staging"), sha256=sha256)
        shown = fetch.display_url(url)
        if sha256:
            self.log.info(f"fetched {shown}: SHA-256 {sha256} as expected")
        entries = tarsafety.inspect(target)
        self.log.info(f"fetched {shown}: {size} bytes, {entries} entries, all inside the path")
        return target

    def _read_revision_before(self) -> None:
        try:
            self.record.revision_before = manifest.fetch(self.config["stratum0Url"]).revision
        except (OSError, ValueError) as error:
            self.log.info(f"could not read the manifest before the transaction: {error}")

    def _read_lease_token(self) -> None:
        token_file = self.layout.spool_dir / "session_token"
        if "gateway" in self.config and token_file.exists():
            self.record.lease_token = token_file.read_text().strip() or None
            self.log.info(f"gateway lease acquired: {self.record.lease_token}")

    def _read_published(self) -> None:
        try:
            info = manifest.fetch(self.config["stratum0Url"])
        except (OSError, ValueError) as error:
            self.log.info(f"published, but the new manifest could not be read: {error}")
            info = None
        if info is not None:
            self.record.revision_after, self.record.root_hash = info.revision, info.root_hash
        checksum_file = self.layout.spool_dir / "reflog.chksum"
        if checksum_file.exists():
            self.record.reflog_checksum = checksum_file.read_text().strip() or None
        elif info is not None:
            self.record.reflog_checksum = info.reflog_hash
