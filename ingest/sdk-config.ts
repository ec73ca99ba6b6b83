/**
 * The configuration documents browser SDKs fetch before they send anything, served per
 * write key so the SDKs work as shipped (pure builders; server.ts serves them).
 */

/** Where SDKs reach this ingest: a configured public URL, else what the request itself says. */
export function publicBase(configured: string | undefined, request: { protocol: string; host: string }): URL {
  return new URL(configured ?? `${request.protocol}://${request.host}`);
}

/**
 * Segment analytics.js's settings document (`GET <cdnURL>/v1/projects/<writeKey>/settings`).
 * Its Segment.io integration points the SDK at this ingest (`apiHost` without the scheme,
 * `protocol` apart, as analytics-next builds `${protocol}://${apiHost}/<t|p|i|g|a|b>`).
 * Remote metrics are off (sampleRate 0) and no device-mode destination is listed, so the
 * SDK loads nothing else.
 */
export function segmentSettings(writeKey: string, base: URL): Record<string, unknown> {
  const path = base.pathname.replace(/\/+$/, '');
  return {
    integrations: {
      'Segment.io': {
        apiKey: writeKey,
        apiHost: `${base.host}${path}/v1`,
        protocol: base.protocol.replace(/:$/, ''),
        unbundledIntegrations: [],
        addBundledMetadata: true,
        maybeBundledConfigIds: {},
      },
    },
    plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
    edgeFunction: {},
    analyticsNextEnabled: true,
    middlewareSettings: {},
    enabledMiddleware: {},
    metrics: { sampleRate: 0 },
    legacyVideoPluginsEnabled: false,
    remotePlugins: [],
  };
}

/**
 * RudderStack's source configuration (`GET <configUrl>/sourceConfig/?...&writeKey=...`),
 * which its v3 browser SDK needs before it sends anything: an enabled source without
 * device-mode destinations, error and metrics reporting off.
 */
export function rudderSourceConfig(source: string): Record<string, unknown> {
  return {
    isHosted: false,
    source: {
      id: source,
      name: source,
      enabled: true,
      workspaceId: 'segstream',
      config: { statsCollection: { errors: { enabled: false }, metrics: { enabled: false } } },
      destinations: [],
    },
  };
}
