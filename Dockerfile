# Image for the segstream services (and the demo). Node runs the TypeScript directly.
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund
COPY . .
ENV NODE_OPTIONS=--disable-warning=TimeoutNegativeWarning
USER node
