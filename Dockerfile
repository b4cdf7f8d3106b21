# syntax=docker/dockerfile:1
# The same steps as CI: npm ci, build; the runtime stage keeps production dependencies only.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json codegen.ts ./
COPY schema ./schema
COPY src ./src
RUN npm run build
# Each domain's SDL sits beside its code (src/schema.ts reads schema/ and src/modules/**/*.graphql): keep those files only.
RUN node -e "const fs = require('node:fs'); fs.cpSync('src/modules', 'sdl/src/modules', { recursive: true, filter: (p) => fs.statSync(p).isDirectory() || p.endsWith('.graphql') })"

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schema ./schema
COPY --from=build /app/sdl/src ./src
COPY .node-options ./
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `npm start` without the build step (the image is built already); exec keeps node as PID 1, to receive SIGTERM.
CMD ["sh", "-c", "exec node $(cat .node-options) dist/main.js"]
