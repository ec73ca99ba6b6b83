import { describe, expect, it } from 'vitest';
import { bootstrapServers, clusterLayout, serverProperties } from '../../../scripts/stack/kafka-properties.ts';

const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ port: 9000 + 2 * i, controllerPort: 9001 + 2 * i }));
const layoutOf = (n: number) => clusterLayout(ports(n), (id) => `/data/node-${id}`);
const parse = (text: string) =>
  new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split('=', 2) as [string, string]),
  );

describe('local Kafka cluster layout and server.properties', () => {
  it('one node is a combined broker/controller with one replica per topic', () => {
    const layout = layoutOf(1);
    expect(layout).toMatchObject({ replicationFactor: 1, minInsyncReplicas: 1 });
    const props = parse(serverProperties(layout, layout.nodes[0] as (typeof layout.nodes)[number]));
    expect(props.get('process.roles')).toBe('broker,controller');
    expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:9001');
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:9000,CONTROLLER://127.0.0.1:9001');
    expect(props.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:9000');
    expect(props.get('offsets.topic.replication.factor')).toBe('1');
    expect(props.get('min.insync.replicas')).toBe('1');
    expect(props.get('log.dirs')).toBe('/data/node-1');
    expect(props.get('group.initial.rebalance.delay.ms')).toBe('0');
    expect(props.get('auto.create.topics.enable')).toBe('false');
    expect(bootstrapServers(layout)).toEqual(['127.0.0.1:9000']);
  });

  it('three nodes form the controller quorum; topics get 3 replicas and need 2 in sync', () => {
    const layout = layoutOf(3);
    expect(layout).toMatchObject({ replicationFactor: 3, minInsyncReplicas: 2 });
    for (const node of layout.nodes) {
      const props = parse(serverProperties(layout, node));
      expect(props.get('node.id')).toBe(String(node.id));
      expect(props.get('process.roles')).toBe('broker,controller');
      expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:9001,2@127.0.0.1:9003,3@127.0.0.1:9005');
      expect(props.get('default.replication.factor')).toBe('3');
      expect(props.get('transaction.state.log.min.isr')).toBe('2');
    }
  });

  it('nodes past the third are brokers only, with no controller listener', () => {
    const layout = layoutOf(5);
    expect(layout.nodes.map((n) => n.controllerPort)).toEqual([9001, 9003, 9005, null, null]);
    const props = parse(serverProperties(layout, layout.nodes[4] as (typeof layout.nodes)[number]));
    expect(props.get('process.roles')).toBe('broker');
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:9008');
    expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:9001,2@127.0.0.1:9003,3@127.0.0.1:9005');
    expect(layout.replicationFactor).toBe(3);
  });
});
