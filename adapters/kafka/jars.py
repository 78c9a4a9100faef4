"""Resolve the official Apache Kafka broker jars from Maven Central with `mvn`.

Nothing is committed: the jars land in the git-ignored cache, and a second
resolve reuses them.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

from adapters.kafka.errors import BrokerError

logger = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>orderflow</groupId><artifactId>local-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def broker_jar_name() -> str:
    return f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"


def resolve_jars(cache_dir: Path) -> Path:
    """Return the directory holding the broker's jars, downloading them on first use."""
    libs = cache_dir / "kafka" / KAFKA_VERSION / "libs"
    if (libs / broker_jar_name()).exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH; install Maven 3.6+ to fetch the Kafka jars")
    _run_maven(mvn, libs.parent, libs, cache_dir / "m2")
    return libs


def _run_maven(mvn: str, work: Path, libs: Path, repo: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    pom = work / "pom.xml"
    pom.write_text(_POM.format(scala=SCALA_VERSION, kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
    logger.info("resolving Apache Kafka %s from Maven Central into %s", KAFKA_VERSION, libs)
    staging = work / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [mvn, "-B", "-q", "-f", str(pom), f"-Dmaven.repo.local={repo}",
               "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
               "-DincludeScope=runtime"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        raise BrokerError(f"mvn could not resolve the Kafka jars: {tail[0]}")
    staging.rename(libs)  # atomic: a half-finished download is never mistaken for a cache


def java_major_version(java: str) -> int:
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not match:
        raise BrokerError(f"could not read the Java version from `{java} -version`")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major
