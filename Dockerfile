# seneka stream as a service: push mode on Cloud Run (see docs/deploy.md).
# The same image runs the pull modes elsewhere: override the entrypoint with `node bin/run.js stream --subscription ...`.

# --- build: compile TypeScript with the dev dependencies
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the compiled code only
FROM node:24-slim
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
# Cloud Run sets PORT; `exec` makes node PID 1 so it receives SIGTERM and drains within the 10 s grace.
# The service's arguments (gcloud run deploy --args) replace CMD and are appended to the command.
ENTRYPOINT ["/bin/sh", "-c", "exec node bin/run.js stream --listen \"0.0.0.0:${PORT}\" \"$@\"", "seneka"]
CMD ["--format", "alb", "--table", "alb_logs"]
