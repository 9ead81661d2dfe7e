# The dayi image: one image for the collector and the agent (`dayi collector …` / `dayi agent …`).
# Three stages: dependencies are installed in the first, the web dashboard built in the second; the
# third holds only what runs, as the unprivileged user `node`.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY protocols/package.json protocols/
# agent/build.js too: `npm ci` runs it (the `prepare` script); without dev dependencies it has no
# bundler, says so and builds nothing, and the agent runs its sources.
COPY agent/package.json agent/build.js agent/
COPY collector/package.json collector/
# collector/web/build.js: the `prepare` script runs it too; without a bundler it builds nothing (the
# web stage below does).
COPY collector/web/build.js collector/web/
COPY demo/package.json demo/
# The image's Node is 24 already: the `node` npm package (a dev dependency for older hosts) is skipped.
RUN npm ci --omit=dev --no-audit --no-fund

# The web dashboard's assets (collector/web/dist), built with the dev dependencies (the bundler) that
# the runtime stage leaves out; only the built files are copied on.
FROM node:24-bookworm-slim AS web
WORKDIR /app
COPY package.json package-lock.json ./
COPY protocols/package.json protocols/
COPY agent/package.json agent/
COPY collector/package.json collector/
COPY demo/package.json demo/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY collector/web collector/web
RUN node collector/web/build.js

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# node_modules keeps the workspace links (@dayi/* -> ../../protocols, …) to the sources below.
COPY --from=deps /app/node_modules node_modules
COPY package.json package-lock.json ./
COPY bin bin
COPY protocols protocols
COPY agent agent
COPY collector collector
COPY --from=web /app/collector/web/dist collector/web/dist
COPY demo demo
COPY firmware-configs firmware-configs
# The folders the collector (store) and the agent (outbox) write, owned by the user they run as:
# a fresh named volume starts as a copy of its mount point in the image, owner included, so
# without this it is root's and the first write fails.
RUN mkdir -p /app/data /app/outbox && chown node:node /app/data /app/outbox
USER node
ENTRYPOINT ["node", "bin/dayi.js"]
CMD ["--help"]
