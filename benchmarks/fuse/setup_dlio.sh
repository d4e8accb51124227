#!/usr/bin/env bash
# Installs DLIO (dlio-benchmark, MLPerf Storage's engine) into .tools/front for
# benchmarks/fuse/dlio.py. `pip install dlio-benchmark` fails here: its dependency
# nvidia-dali-cuda110 is a placeholder on PyPI that downloads the real wheel from NVIDIA's own
# index, which cannot be reached. DLIO imports DALI only for its DALI data loader, so the
# package is installed without its dependencies and they are installed one by one, DALI left
# out; MPI comes from PyPI's `mpich`. Needs TensorFlow and PyTorch in .tools/front
# (SHOAL_SETUP_TORCH=1 scripts/setup.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
py="$SHOAL_FRONT_VENV/bin/python"
"$py" -c 'import torch, tensorflow' 2>/dev/null ||
  shoal_die "DLIO needs PyTorch and TensorFlow in ${SHOAL_FRONT_VENV#$SHOAL_ROOT/}: run SHOAL_SETUP_TORCH=1 scripts/setup.sh"
if ! "$py" -c 'import dlio_benchmark.main, mpi4py.MPI' 2>/dev/null; then
  shoal_log "installing dlio-benchmark 2.0.0 without nvidia-dali-cuda110 into ${SHOAL_FRONT_VENV#$SHOAL_ROOT/}"
  "$py" -m pip install -q --no-deps "dlio-benchmark==2.0.0" "pydftracer==1.0.2" hydra-core "omegaconf<2.4" \
    "antlr4-python3-runtime==4.9.3" h5py psutil mpi4py mpich pyyaml packaging torchvision torchaudio
  "$py" -c 'import dlio_benchmark.main, mpi4py.MPI' || shoal_die "DLIO does not import"
fi
