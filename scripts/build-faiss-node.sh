#!/usr/bin/env bash
# Builds faiss-node's native addon against Debian's libfaiss when its prebuilt binary could not be
# installed (offline machines: its install script downloads from GitHub). Idempotent; needs root for
# the Debian packages unless they are installed already.
set -euo pipefail
cd "$(dirname "$0")/.."
if node -e "require('faiss-node')" >/dev/null 2>&1; then exit 0; fi
if ! dpkg -s libfaiss-dev libopenblas-dev cmake patchelf >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "build-faiss-node: need libfaiss-dev libopenblas-dev cmake patchelf (run as root)" >&2; exit 1; }
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libfaiss-dev libopenblas-dev cmake patchelf >/dev/null
fi
cd node_modules/faiss-node
mkdir -p deps/faiss
cat > deps/faiss/CMakeLists.txt <<'CMAKE'
find_package(OpenMP REQUIRED GLOBAL)
find_package(BLAS REQUIRED)
find_package(LAPACK REQUIRED)
find_package(faiss CONFIG REQUIRED GLOBAL)
CMAKE
# Debian's faiss 1.7.3 lacks faiss::idx_t (added in 1.7.4, which faiss-node's source expects).
printf '#include <faiss/Index.h>\nnamespace faiss { using idx_t = Index::idx_t; }\n' > faiss-compat.h
grep -q faiss-compat.h CMakeLists.txt || sed -i 's|^set(CMAKE_CXX_STANDARD 17)|&\nadd_compile_options(-include ${CMAKE_SOURCE_DIR}/faiss-compat.h)|' CMakeLists.txt
../.bin/cmake-js compile --log-level error >/tmp/fixwright-faiss-build.log 2>&1 || { tail -20 /tmp/fixwright-faiss-build.log >&2; exit 1; }
cd ../..
node -e "const {IndexFlatIP}=require('faiss-node'); const i=new IndexFlatIP(2); i.add([1,0,0,1]); if (i.search([1,0],1).labels[0] !== 0) process.exit(1)"
echo "build-faiss-node: faiss-node built against the system libfaiss"
