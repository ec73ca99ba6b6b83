/** The layout of a local Kafka cluster and each node's server.properties: pure, no I/O. */

export interface KafkaNodeLayout {
  readonly id: number;
  /** The client listener (PLAINTEXT) on loopback. */
  readonly port: number;
  /** The port clients are told to reach the node at: its own, or a proxy's in front of it. */
  readonly advertisedPort: number;
  /** The KRaft controller listener; null on a broker-only node. */
  readonly controllerPort: number | null;
  readonly dataDir: string;
}

export interface KafkaClusterLayout {
  readonly nodes: readonly KafkaNodeLayout[];
  /** Replicas of every topic: 3 once there are 3 nodes, else one per node. */
  readonly replicationFactor: number;
  /** In-sync replicas an acks=all write needs: 2 with 3 replicas, so one node may be down. */
  readonly minInsyncReplicas: number;
}

/** At most this many nodes are controllers (the KRaft quorum); the others are brokers only. */
const MAX_CONTROLLERS = 3;

/**
 * Node ids 1..n on the given ports; the first (up to) three nodes are combined
 * broker/controllers, the rest brokers only.
 */
export function clusterLayout(
  ports: readonly { readonly port: number; readonly controllerPort: number; readonly advertisedPort?: number }[],
  dataDirOf: (id: number) => string,
): KafkaClusterLayout {
  if (ports.length < 1) throw new Error('a Kafka cluster needs at least one node');
  const nodes = ports.map(({ port, controllerPort, advertisedPort }, index) => {
    const id = index + 1;
    return { id, port, advertisedPort: advertisedPort ?? port, controllerPort: id <= MAX_CONTROLLERS ? controllerPort : null, dataDir: dataDirOf(id) };
  });
  const replicationFactor = Math.min(3, nodes.length);
  return { nodes, replicationFactor, minInsyncReplicas: replicationFactor >= 3 ? 2 : 1 };
}

export function bootstrapServers(layout: KafkaClusterLayout): string[] {
  return layout.nodes.map((n) => `127.0.0.1:${n.port}`);
}

/** server.properties of one node: KRaft, loopback only, sized for a small machine. */
export function serverProperties(layout: KafkaClusterLayout, node: KafkaNodeLayout): string {
  const voters = layout.nodes
    .filter((n) => n.controllerPort !== null)
    .map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`)
    .join(',');
  const isController = node.controllerPort !== null;
  const rf = layout.replicationFactor;
  const minIsr = layout.minInsyncReplicas;
  const settings: [string, string | number][] = [
    ['process.roles', isController ? 'broker,controller' : 'broker'],
    ['node.id', node.id],
    ['controller.quorum.voters', voters],
    ['controller.listener.names', 'CONTROLLER'],
    ['listeners', isController ? `PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}` : `PLAINTEXT://127.0.0.1:${node.port}`],
    ['advertised.listeners', `PLAINTEXT://127.0.0.1:${node.advertisedPort}`],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'],
    ['log.dirs', node.dataDir],
    // Topics are created by the stack with their partitions and replication, never by a client.
    ['auto.create.topics.enable', 'false'],
    ['default.replication.factor', rf],
    ['min.insync.replicas', minIsr],
    ['offsets.topic.replication.factor', rf],
    ['transaction.state.log.replication.factor', rf],
    ['transaction.state.log.min.isr', minIsr],
    ['share.coordinator.state.topic.replication.factor', rf],
    ['share.coordinator.state.topic.min.isr', minIsr],
    // Small machine: few threads, a small cleaner buffer (128 MB by default), fewer
    // partitions for the internal topics (50 by default, created on first use).
    ['num.network.threads', 2],
    ['num.io.threads', 2],
    ['background.threads', 2],
    ['log.cleaner.dedupe.buffer.size', 8 * 1024 * 1024],
    ['offsets.topic.num.partitions', 8],
    ['transaction.state.log.num.partitions', 4],
    ['share.coordinator.state.topic.num.partitions', 4],
    // A new consumer group starts at once instead of waiting 3 s for more members.
    ['group.initial.rebalance.delay.ms', 0],
  ];
  return `# Written by the segstream local stack (scripts/stack/kafka-properties.ts).\n${settings.map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}
