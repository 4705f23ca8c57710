"""Re-record the OpenWire fixtures in this folder from the real ActiveMQ JMS client.

Run from the repository root after ``scripts/install-java-deps.sh``::

    .venv/bin/python tests/unit/data/openwire/record.py

For every variant it writes ``client-<name>.bin`` (the bytes the ActiveMQ 5.x client sent
to the test server in tests/interop/openwire/java/capture_server.py) and ``server-<name>.bin``
(what ferrymq's codec answered), and ``client-version.txt`` with the client jar version.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "interop" / "openwire" / "java"))

import capture_server as capture  # noqa: E402

VARIANTS = {
    "tight-cache": "-",
    "loose-cache": "wireFormat.tightEncodingEnabled=false",
    "tight-nocache": "wireFormat.cacheEnabled=false",
    "loose-nocache": "wireFormat.tightEncodingEnabled=false&wireFormat.cacheEnabled=false",
    "v9-tight": "wireFormat.version=9",
    "v10-loose": "wireFormat.version=10&wireFormat.tightEncodingEnabled=false",
    "v11-tight": "wireFormat.version=11",
    "compressed": "jms.useCompression=true",
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp)
        capture.compile_capture(classes)
        sessions, out = capture.run_capture(classes, list(VARIANTS.values()))
    print(out)
    for name, session in zip(VARIANTS, sessions, strict=True):
        if session.errors:
            raise SystemExit(f"{name}: {session.errors}")
        (HERE / f"client-{name}.bin").write_bytes(bytes(session.raw))
        (HERE / f"server-{name}.bin").write_bytes(bytes(session.sent))
        print(f"{name}: {len(session.raw)} client bytes, {len(session.commands)} commands")
    with zipfile.ZipFile(capture.JAR_DIR / "activemq-client.jar") as jar:
        manifest = jar.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    version = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in manifest.splitlines()
            if ln.startswith(("Bundle-Version", "Implementation-Version"))
        ),
        "?",
    )
    (HERE / "client-version.txt").write_text(f"activemq-client {version}\n")


if __name__ == "__main__":
    main()
