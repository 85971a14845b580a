#!/usr/bin/env bash
# Installs the one system library pertbench needs (HDF5, for h5ad) if absent.
set -euo pipefail
if ! pkg-config --exists hdf5 2>/dev/null && ! [ -e /usr/include/hdf5/serial/hdf5.h ] && ! [ -e /usr/include/hdf5.h ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libhdf5-dev pkg-config >/dev/null
fi
