import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { partitionVars } from '../../lib/config/common.ts';
import { knownVariables } from '../../scripts/config-reference.ts';
import { pinnedKafkaVersion } from '../../scripts/stack/kafka-install.ts';

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, unknown>;
  healthcheck?: { test: unknown };
  depends_on?: Record<string, { condition: string }>;
}

// docker-compose.yml cannot run here (no Docker engine); these checks keep it consistent with the code.
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const services = Object.entries(compose.services);
const segstreamServices = services.filter(([, s]) => s.build !== undefined);

describe('docker-compose.yml', () => {
  it('runs Kafka in KRaft mode, Redis and a ClickHouse server, each with a health check', () => {
    expect(compose.services.kafka?.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    for (const name of ['kafka', 'redis', 'clickhouse']) expect(compose.services[name]?.healthcheck, name).toBeDefined();
  });

  it('sets on segstream containers only variables the config loader knows', () => {
    const known = knownVariables();
    expect(segstreamServices.length).toBeGreaterThan(0);
    for (const [name, service] of segstreamServices) {
      const unknown = Object.keys(service.environment ?? {}).filter((v) => !known.has(v));
      expect(unknown, `${name} sets variables no config schema reads`).toEqual([]);
    }
  });

  it('points segstream containers at the compose services and waits for them to be healthy', () => {
    for (const [name, service] of segstreamServices) {
      expect(service.environment?.KAFKA_BROKERS, name).toBe('kafka:9092');
      expect(String(service.environment?.CLICKHOUSE_URL), name).toBe('http://clickhouse:8123');
      // The processors never touch ClickHouse (the history service writes it): they start without it.
      if (name !== 'processors') expect(service.depends_on?.clickhouse?.condition, name).toBe('service_healthy');
      expect(service.depends_on?.['kafka-topics']?.condition, name).toBe('service_completed_successfully');
    }
  });

  it('runs ingest with a readiness health check, and the demo sends through it', () => {
    expect(compose.services.ingest?.healthcheck).toBeDefined();
    expect(compose.services.demo?.environment?.DEMO_INGEST_URL).toBe('http://ingest:8080');
    const key = String(compose.services.demo?.environment?.DEMO_WRITE_KEY);
    expect(String(compose.services.ingest?.environment?.INGEST_WRITE_KEYS)).toContain(`${key}=`);
    expect(compose.services.demo?.depends_on?.ingest?.condition).toBe('service_healthy');
  });

  it('runs the processors with Redis and a readiness health check', () => {
    expect(compose.services.processors?.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(compose.services.processors?.healthcheck).toBeDefined();
    expect(compose.services.processors?.depends_on?.redis?.condition).toBe('service_healthy');
  });

  it('creates every topic the registry defaults to', () => {
    const command = JSON.stringify(compose.services['kafka-topics']);
    for (const topic of ['segstream.events.v1', 'segstream.segment-changes.v1', 'segstream.triggers.v1', 'segstream.lifecycle.v1', 'segstream.dlq.v1']) {
      expect(command).toContain(topic);
    }
  });

  it('runs the Apache Kafka version the local stack pins, with the partitions the local stack creates', () => {
    for (const name of ['kafka', 'kafka-topics']) expect(compose.services[name]?.image, name).toBe(`apache/kafka:${pinnedKafkaVersion()}`);
    expect(JSON.stringify(compose.services['kafka-topics'])).toContain(`--partitions ${partitionVars.KAFKA_PARTITIONS.defaultValue} `);
  });
});
