/** An error a user or operator caused and can fix; its message is meant to be shown as is. */
export class UserFacingError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Configuration is missing or invalid. One entry per offending variable. */
export class ConfigError extends UserFacingError {
  readonly problems: readonly ConfigProblem[];

  constructor(service: string, problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.variable}: expected ${p.expected}, received ${p.received}`);
    super('config_invalid', `Invalid configuration for ${service}:\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

export interface ConfigProblem {
  readonly variable: string;
  readonly expected: string;
  readonly received: string;
}

/** A required external service (Redis, Kafka, ClickHouse) could not be reached or started. */
export class ServiceUnavailableError extends UserFacingError {
  constructor(service: string, message: string, options?: ErrorOptions) {
    super('service_unavailable', `${service}: ${message}`, options);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
