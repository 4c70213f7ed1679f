FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# Workers load the workflows bundled here instead of running webpack at every start.
RUN npm run bundle
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
USER node
