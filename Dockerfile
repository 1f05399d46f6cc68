# fixwright in one image: the API (`serve`, the default command) and the BullMQ worker (`worker`).
#
#   docker build -t fixwright .
#   docker run --rm -p 127.0.0.1:8080:8080 -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -e OPENAI_API_KEY -e FIXWRIGHT_MODEL=gpt-4o-mini fixwright
#                                   # API with the in-process queue (no Redis): this one process runs the
#                                   # tasks and the quick fixes, so it needs the host's Docker socket
#                                   # (and its group: the image runs as a non-root user)
#   DOCKER_GID=$(stat -c %g /var/run/docker.sock) docker compose up -d   # API + Redis + workers, the API without the socket: see docker-compose.yml
#
# The sandbox image (fixwright-sandbox:base) is not part of this image: it has to exist on the Docker
# engine that the workers start sandboxes on (docker-compose.yml says how to build it there).
# Only classic Dockerfile syntax is used, so both BuildKit and the legacy builder build it.
# NODE_IMAGE lets a mirror or a pinned digest stand in for the Docker Hub image.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: native addons (tree-sitter, faiss-node), the TypeScript build, then production deps only ----
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 make g++ cmake libfaiss-dev libopenblas-dev patchelf git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# node-gyp (tree-sitter's source build) reads Node's headers from the image instead of downloading
# them; cmake-js (faiss-node) uses the node-api-headers package and needs no download either.
ENV npm_config_nodedir=/usr/local
WORKDIR /app

COPY package.json package-lock.json ./
# As in scripts/setup.sh: no install scripts (faiss-node's downloads a prebuilt binary from GitHub);
# the native addons are built below instead.
RUN npm install --ignore-scripts --no-audit --no-fund --loglevel=error
# tree-sitter's prebuilt binary needs a newer libstdc++ than bookworm has: rebuild it from source
# when it does not load (the same check as scripts/setup.sh).
RUN node -e "require('tree-sitter'); require('tree-sitter-python')" >/dev/null 2>&1 \
 || { npm rebuild tree-sitter tree-sitter-python --loglevel=error \
      && node -e "require('tree-sitter'); require('tree-sitter-python')"; }
# faiss-node against Debian's libfaiss (static) and OpenBLAS; the script checks that it loads and searches.
COPY scripts/build-faiss-node.sh scripts/
RUN scripts/build-faiss-node.sh

COPY . .
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && node -e "require('faiss-node'); require('tree-sitter'); require('tree-sitter-python')"

# ---- runtime: node, git (clones, snapshots), the BLAS/OpenMP libraries faiss-node links against ----
FROM ${NODE_IMAGE} AS runtime
# libopenblas0-pthread provides libblas.so.3 and liblapack.so.3 (and pulls in libgfortran5).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      git ca-certificates libopenblas0-pthread libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 fixwright \
 && useradd --uid 10001 --gid fixwright --home-dir /home/fixwright --create-home --shell /usr/sbin/nologin fixwright \
 && mkdir -p /data /repos \
 && chown fixwright:fixwright /data
ENV NODE_ENV=production \
    FIXWRIGHT_DATA_DIR=/data
WORKDIR /app
# What fixwright reads at run time besides dist/: package.json (its version; it also marks the
# package root), the sandbox's Dockerfile and pytest plugin, the shipped conformal calibration and
# the learned fusion model it was calibrated with.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/sandbox/images/Dockerfile ./sandbox/images/Dockerfile
COPY --from=build /app/sandbox/assets ./sandbox/assets
COPY --from=build /app/uncertainty/calibration.json ./uncertainty/calibration.json
COPY --from=build /app/localisation/fusion-model.json ./localisation/fusion-model.json
COPY --from=build /app/benchmarks/eval ./benchmarks/eval
RUN node -e "require('faiss-node'); require('tree-sitter'); require('tree-sitter-python')" \
 && node dist/cli/main.js --version

USER fixwright
EXPOSE 8080
# The API's liveness route (open even when FIXWRIGHT_API_KEYS is set). It assumes the default
# command's port; a worker (which serves no /healthz) gets its own check in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
