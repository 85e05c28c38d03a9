"""Reads deploy/compose/compose.yaml the way `docker compose` would for what the tests need:
services merged with their `<<:` anchors (PyYAML does that), `${VAR}`, `${VAR:-default}` and
`${VAR:?error}` interpolated from a given environment, bind mounts split into (host, container)
with host paths made absolute."""
import os
import re

import yaml

SRC = os.environ.get("MXCENSUS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../../.."))
COMPOSE_DIR = os.path.join(SRC, "deploy", "compose")
COMPOSE_FILE = os.path.join(COMPOSE_DIR, "compose.yaml")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value, env):
    def sub(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        have = env.get(name)
        if op in (":-", "-"):
            return have if have not in (None, "") else arg
        if op in (":?", "?"):
            if have in (None, ""):
                raise ValueError(f"compose: {name} is required: {arg}")
            return have
        return have or ""
    if isinstance(value, str):
        return _VAR.sub(sub, value.replace("$$", "\0")).replace("\0", "$")
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def load(env=None):
    with open(COMPOSE_FILE) as f:
        doc = yaml.safe_load(f)
    return interpolate(doc, env if env is not None else {})


def bind_mounts(service):
    """[(absolute host path, container path)] of a service's bind mounts (named volumes skipped)."""
    out = []
    for v in service.get("volumes", []) or []:
        src, dst = v.split(":")[:2]
        if src.startswith(".") or src.startswith("/"):
            out.append((os.path.normpath(os.path.join(COMPOSE_DIR, src)), dst))
    return out
