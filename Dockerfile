# syntax=docker/dockerfile:1
# The mcp-gateway image: the ext_proc sidecar and the CLI (sidecar, envoy-config,
# validate). Envoy is not in it: run the official envoyproxy/envoy image next to
# it (see docker-compose.yml and deploy/kubernetes/).
#
#   docker build -t mcp-gateway:0.1.0 .
#   docker run --rm -v "$PWD/deploy/compose/gateway.yaml:/etc/mcp-gateway/gateway.yaml:ro" \
#     mcp-gateway:0.1.0 validate --config /etc/mcp-gateway/gateway.yaml

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile the TypeScript (needs the dev dependencies) ---------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Manifests first, so editing the source does not invalidate the npm layer.
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script to build; do not run
# third-party code at build time.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
# Only what the shipped code is made of; tsconfig's test/ and bench/ globs then
# match nothing and those are not compiled. (src/cli.ts imports examples/ for
# the `example` command, so that has to be here for the type-check.)
COPY src ./src
COPY examples ./examples
RUN npx tsc -p tsconfig.json

# --- prod-deps: production dependencies only, installed from the lockfile -----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mcp-gateway" \
      org.opencontainers.image.description="ext_proc sidecar for Envoy that authenticates, curates, governs and audits MCP traffic" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the runtime user: the process cannot modify
# its own code or dependencies.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
# The ext_proc protos are loaded at run time; found next to package.json.
COPY proto ./proto
COPY --from=build /src/dist ./dist
# Mount point for the generated Envoy bootstrap in docker-compose.yml. Docker
# gives an empty named volume the ownership of the directory it is first
# mounted over, so the one-shot `envoy-config` service (non-root) can write
# there.
RUN mkdir /shared && chown 1000:1000 /shared
# The image's `node` user, by number: Kubernetes' runAsNonRoot can only verify
# a numeric USER.
USER 1000:1000
# The sidecar stops on SIGTERM (Docker's and Kubernetes' default stop signal):
# it drains open ext_proc streams, then flushes the audit trail.
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["help"]
