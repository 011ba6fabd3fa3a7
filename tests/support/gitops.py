"""How GitOps controllers judge our objects: Argo CD's Lua health checks and Flux's kstatus.

* :func:`argocd_health` runs a ``health.lua`` the way Argo CD does: a Lua 5.1 interpreter (Argo CD
  embeds gopher-lua, a Lua 5.1), the object as the global ``obj`` (JSON values: strings, numbers,
  booleans, tables), only the base, table, package and a reduced os library, and the returned
  table read as ``{status, message}``.
* :func:`kstatus` is a port of ``status.Compute`` from sigs.k8s.io/cli-utils ``pkg/kstatus/status``
  (generic.go, status.go) for a custom resource (no built-in rules apply to our kinds): what
  Flux's kustomize-controller health checks and ``kubectl wait``-style tools decide.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lupa.lua51

ARGOCD_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
# Argo CD's health VM opens these libraries only (util/lua/lua.go: package, base, table, and an
# os reduced to these functions); string, math, io and debug are absent.
_SAFE_OS = ("clock", "date", "difftime", "time")


def as_json(obj: Any) -> Any:
    """The object as a Kubernetes client hands it over: JSON (YAML timestamps become strings)."""
    def convert(value: Any) -> str:
        if isinstance(value, datetime.datetime | datetime.date):
            return value.isoformat().replace("+00:00", "Z")
        raise TypeError(f"not JSON: {value!r}")
    return json.loads(json.dumps(obj, default=convert))


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def _sandbox() -> Any:
    lua = lupa.lua51.LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute("""
        local safe_os = {}
        for _, name in ipairs({...}) do safe_os[name] = os[name] end
        debug.getmetatable("").__index = nil  -- no ("text"):sub(): the string library is not open
        string, math, io, debug, coroutine, os = nil, nil, nil, nil, nil, safe_os
        package.loaded.os = safe_os
        package.loaded.string, package.loaded.math, package.loaded.io = nil, nil, nil
        package.loaded.debug, package.loaded.coroutine = nil, nil
        dofile, loadfile, load, loadstring, require = nil, nil, nil, nil, nil
    """, *_SAFE_OS)
    return lua


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def argocd_health(script: Path | str, obj: dict[str, Any]) -> Health:
    """What Argo CD shows for ``obj`` with this health check; raises ``lupa.LuaError`` when the
    script fails (Argo CD then shows the error as the health message)."""
    lua = _sandbox()
    lua.globals().obj = _to_lua(lua, as_json(obj))
    source = script.read_text() if isinstance(script, Path) else script
    result = lua.execute(source)
    if result is None:
        return Health("", "")
    status = str(result["status"] or "")
    message = str(result["message"] or "")
    if status not in ARGOCD_STATUSES:  # Argo CD replaces an invalid code by Unknown
        return Health("Unknown", "Lua returned an invalid health status")
    return Health(status, message)


# --- kstatus -------------------------------------------------------------------------------------

IN_PROGRESS = "InProgress"
FAILED = "Failed"
CURRENT = "Current"
TERMINATING = "Terminating"


@dataclass(frozen=True)
class KStatus:
    status: str
    message: str


def kstatus(obj: dict[str, Any]) -> KStatus:
    """``status.Compute`` for a resource kind without built-in rules (all custom resources)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    # checkGenericProperties: deletion first.
    if meta.get("deletionTimestamp"):
        return KStatus(TERMINATING, "Resource scheduled for deletion")
    # checkGeneration: only when both generation and status.observedGeneration are present.
    generation = meta.get("generation")
    observed = status.get("observedGeneration") if isinstance(status, dict) else None
    if generation is not None and observed is not None and observed != generation:
        kind = obj.get("kind", "")
        return KStatus(IN_PROGRESS,
                       f"{kind} generation is {generation}, but latest observed generation is {observed}")
    conditions = status.get("conditions") or [] if isinstance(status, dict) else []
    # The standard conditions, in the order they appear: Reconciling=True or Stalled=True decides.
    for condition in conditions:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return KStatus(IN_PROGRESS, str(condition.get("message", "")))
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return KStatus(FAILED, str(condition.get("message", "")))
    # No legacy rules for custom resources; then checkReadyCondition.
    for condition in conditions:
        if condition.get("type") != "Ready":
            continue
        if condition.get("status") == "True":
            return KStatus(CURRENT, "Resource is Ready")
        if condition.get("status") in ("False", "Unknown"):
            return KStatus(IN_PROGRESS, str(condition.get("message", "")))
    return KStatus(CURRENT, "Resource is current")
