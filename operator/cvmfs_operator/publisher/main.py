"""``cvmfs-publisher``: the publisher pod's entrypoint (see docs/publisher-contract.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cvmfs_operator.api import contract
from cvmfs_operator.api.contract import ErrorClass, ExitCode, Outcome, PublisherResult
from cvmfs_operator.publisher.cancel import CancelSwitch
from cvmfs_operator.publisher.log import Log
from cvmfs_operator.publisher.paths import RESULT_PATH_ENV, Layout
from cvmfs_operator.publisher.result import Record
from cvmfs_operator.publisher.runner import Runner


def _result_path() -> Path:
    return Path(os.environ.get(RESULT_PATH_ENV) or contract.RESULT_PATH)


def write_result(result: PublisherResult, path: Path, log: Log) -> None:
    try:
        path.write_bytes(contract.encode_result(result))
    except OSError as error:
        log.error(f"cannot write the result to {path}: {error.strerror}")


def main() -> int:
    log = Log()
    switch = CancelSwitch()
    switch.install()
    result: PublisherResult | None = None
    code = ExitCode.INTERNAL
    try:
        try:
            config = contract.decode_config(os.environ.get(contract.CONFIG_ENV, ""))
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            record = Record()
            record.step = "configure"
            log.error(f"invalid configuration: {error}")
            result = record.result(Outcome.FAILED, ErrorClass.INVALID_INPUT,
                                   f"invalid configuration: {error}", log.tail())
            code = ExitCode.INVALID_INPUT
        else:
            log.info(f"publishing {config.get('transaction', '?')} to {config.get('fqrn')}")
            layout = Layout.from_env(str(config.get("fqrn", "")))
            result, code = Runner(config, layout, log, switch).run()
    finally:
        if result is None:  # a bug escaped: still leave a result behind
            record = Record()
            result = record.result(Outcome.FAILED, ErrorClass.INTERNAL,
                                   "internal error; see the publisher log", log.tail())
        write_result(result, _result_path(), log)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
