import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Sensors Data projects ingest accepts, each mapped to a source the way a write key is.
 * Sensors SDKs send no authentication header: the project comes from the `project`
 * parameter of the server URL (Sensors' own default is "default"), and an operator can
 * add `token=...` to the SDK's server URL so that knowing the project name is not enough.
 * Tokens are held as SHA-256 digests.
 */
export interface SensorsProjectEntry {
  readonly project: string;
  /** SHA-256 of the token, or null when the project takes requests without one. */
  readonly tokenDigest: Buffer | null;
  readonly source: string;
}

export type SensorsAuth =
  | { readonly ok: true; readonly source: string; readonly project: string }
  | { readonly ok: false; readonly field: 'project' | 'token'; readonly message: string };

const NAME = /^[A-Za-z0-9._-]+$/;
const digest = (text: string) => createHash('sha256').update(text).digest();

export class SensorsProjects {
  readonly #entries: readonly SensorsProjectEntry[];

  constructor(entries: readonly SensorsProjectEntry[]) {
    this.#entries = entries;
  }

  static readonly none = new SensorsProjects([]);

  /**
   * Parses "project=source" and "project:token=source" items, comma-separated
   * (INGEST_SENSORS_PROJECTS), e.g. `default=web_cn,shop_mp:s3cret=miniprogram`.
   */
  static parse(text: string): SensorsProjects | undefined {
    const items = text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
    if (items.length === 0) return undefined;
    const entries: SensorsProjectEntry[] = [];
    for (const item of items) {
      const eq = item.lastIndexOf('=');
      if (eq <= 0) return undefined;
      const left = item.slice(0, eq);
      const source = item.slice(eq + 1);
      const colon = left.indexOf(':');
      const project = colon < 0 ? left : left.slice(0, colon);
      const token = colon < 0 ? null : left.slice(colon + 1);
      if (!NAME.test(project) || !NAME.test(source) || token === '') return undefined;
      entries.push({ project, tokenDigest: token === null ? null : digest(token), source });
    }
    return new SensorsProjects(entries);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The source of a request's project and token; the project defaults to "default", as Sensors' SDKs and servers take it. */
  authenticate(project: string | undefined, token: string | undefined): SensorsAuth {
    const name = project === undefined || project === '' ? 'default' : project;
    const candidates = this.#entries.filter((e) => e.project === name);
    if (candidates.length === 0) {
      return {
        ok: false,
        field: 'project',
        message: `project: expected a Sensors project this server takes (INGEST_SENSORS_PROJECTS), received ${JSON.stringify(name.slice(0, 64))}`,
      };
    }
    if (token !== undefined && token !== '') {
      const given = digest(token);
      const match = candidates.find((e) => e.tokenDigest !== null && timingSafeEqual(e.tokenDigest, given));
      if (match) return { ok: true, source: match.source, project: name };
      return { ok: false, field: 'token', message: `token: expected a token configured for project "${name}", received an unknown one` };
    }
    const open = candidates.find((e) => e.tokenDigest === null);
    if (open) return { ok: true, source: open.source, project: name };
    return {
      ok: false,
      field: 'token',
      message: `token: project "${name}" needs a token (add &token=... to the SDK's server_url), received none`,
    };
  }
}
