# The waypoint as a container image, in place of istiod's proxyv2 image for a waypoint:
# istiod's template runs it as `proxy waypoint --domain … --serviceCluster …` with uid 1337 on a
# read-only root filesystem without /tmp (see test/e2e/production-install.test.ts, which runs the
# same production install that way).
#
#   docker build -t ts-waypoint .
#
# NODE_IMAGE: the current Node LTS; the code has no version-specific behaviour (Node >= 20.10).
ARG NODE_IMAGE=node:26-slim

# Build: every dependency, TypeScript compiled to dist/ and the `waypoint` command bundled into
# dist/bin/ (scripts/bundle.mjs: less memory at run time than the module files).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npx tsc -p tsconfig.json && node scripts/bundle.mjs

# Production dependencies only.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Runtime: node, the bundled command (it imports the lazily loaded dependencies it leaves out,
# gRPC, the Kubernetes client, undici, jose, from node_modules), the CA proto and production
# dependencies; nothing writable.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/bin ./dist/bin
COPY package.json ./
COPY proto ./proto
COPY examples ./examples
# istiod's waypoint pod: uid/gid 1337, runAsNonRoot, readOnlyRootFilesystem, no capabilities.
USER 1337:1337
# HBONE, metrics (/stats/prometheus), readiness (/healthz/ready); admin stays on loopback (15000).
EXPOSE 15008 15020 15021
ENTRYPOINT ["node", "/app/dist/bin/waypoint.js"]
CMD ["proxy", "waypoint"]
