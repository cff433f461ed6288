# One image for every process of the engine: the API, the pump, the dispatchers, the reconciler
# and the one-shot migrate step differ only in their command (see docker-compose.yml).
FROM node:20-slim

ENV TZ=UTC
WORKDIR /app

# Dependencies first, so editing the source does not reinstall them. `npm ci` runs the postinstall
# `prisma generate`, which needs the schema and prisma.config.ts.
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund

COPY . .
# The `tcpa` CLI as plain JavaScript (bin/tcpa.mjs runs it while it matches the sources).
RUN npm run -s build:cli

USER node
CMD ["npm", "run", "start:api"]
