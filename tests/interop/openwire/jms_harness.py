"""Compile and run the Java JMS scenarios (java/Jms.java) against a ferrymq broker.

The jars come from Debian's libactivemq-java (``scripts/install-java-deps.sh``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

JAVA_DIR = Path(__file__).resolve().parent / "java"
JARS = [
    "activemq-client.jar",
    "geronimo-jms_1.1_spec.jar",
    "hawtbuf.jar",
    "slf4j-api.jar",
    "slf4j-nop.jar",
    "geronimo-j2ee-management-1.1-spec.jar",
]
JAR_DIR = Path(os.environ.get("FERRYMQ_JAVA_LIB", "/usr/share/java"))
JVM_FLAGS = ["-Xshare:auto", "-XX:TieredStopAtLevel=1", "-Xss512k"]


def classpath(classes: Path) -> str:
    return os.pathsep.join([*(str(JAR_DIR / j) for j in JARS), str(classes)])


def compile_jms(out_dir: Path) -> Path:
    assert shutil.which("javac") and shutil.which("java"), "no JDK: run scripts/install-java-deps.sh"
    missing = [j for j in JARS if not (JAR_DIR / j).exists()]
    assert not missing, f"missing jars {missing}: run scripts/install-java-deps.sh"
    subprocess.run(
        ["javac", "-nowarn", "-d", str(out_dir), "-cp", classpath(out_dir), str(JAVA_DIR / "Jms.java")],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out_dir


def command(classes: Path, url: str, options: str, tag: str, scenarios: list[str]) -> list[str]:
    return ["java", *JVM_FLAGS, "-cp", classpath(classes), "Jms", url, options or "-", tag, *scenarios]


def parse(stdout: str) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for line in stdout.splitlines():
        if line.startswith('{"s":'):
            d = json.loads(line)
            out[(d["s"], d["k"])] = d["v"]
    return out


def run(
    classes: Path, url: str, options: str, tag: str, scenarios: list[str], timeout: float = 120
) -> tuple[dict[tuple[str, str], Any], str]:
    proc = subprocess.run(
        command(classes, url, options, tag, scenarios), capture_output=True, text=True, timeout=timeout
    )
    return parse(proc.stdout), proc.stdout + proc.stderr
