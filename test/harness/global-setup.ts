import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { acquireServices, type ServiceEndpoints } from './services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await acquireServices(process.env);
  console.log(
    `[integration] services from ${services.endpoints.origin}: redis ${services.endpoints.redisUrl}, kafka ${services.endpoints.kafkaBrokers.join(',')}`,
  );
  project.provide('services', services.endpoints);
  return () => services.release();
}
