"""What the suites' comparison scripts share (crates/cli/tests/*/compare*.py):
one JSON line per comparison, and the convention column read as a dict."""

import json


def line(check, tolerance, diff, **what):
    print(json.dumps(dict(check=check, tolerance=tolerance, diff=float(diff), **what)))


def convention_of(text):
    out = {}
    for part in text.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out
