/**
 * The history thread: owns the history service's ClickHouse connection (embedded chdb or
 * a server) and writes history there, so that inserting takes no time from the thread
 * that consumes Kafka and answers reads. Started by HistoryThread with the warehouse
 * and topic settings; answers one message per request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../lib/errors.ts';
import { loadTopicSetup } from '../lib/kafka/codecs.ts';
import { EmbeddedWarehouse } from '../lib/warehouse/embedded.ts';
import { openWarehouse } from '../lib/warehouse/open.ts';
import type { MemberEventRecord } from '../schemas/records.ts';
import { AvroEventWriter } from './events-avro.ts';
import type { HistoryThreadRequest, HistoryThreadResponse, HistoryThreadSettings } from './history-thread.ts';
import { unpackHistoryBatch } from './history-transport.ts';
import { type HistoryBatch, HistoryWriter } from './history-writer.ts';

const port = parentPort;
if (!port) throw new Error('history-thread-worker.ts runs as a worker thread (started by HistoryThread)');
const settings = workerData as HistoryThreadSettings;

async function start() {
  const { topics, codecs } = await loadTopicSetup(settings);
  const codec = codecs.codecFor(topics.memberEvents);
  const warehouse = await openWarehouse(settings);
  const writer = new HistoryWriter(warehouse);
  if (warehouse instanceof EmbeddedWarehouse) {
    // Member events as the Avro they arrived in, read by ClickHouse; no rows built here.
    const events = new AvroEventWriter(warehouse, codec);
    const writeHistory = async (batch: HistoryBatch) => {
      await events.write(batch.events);
      await writer.writeOutcomes(batch);
    };
    return { warehouse, writeHistory };
  }
  const decode = async (bytes: Buffer): Promise<MemberEventRecord> => {
    const decoded = codec.decodeKnown(bytes) ?? (await codec.decode(bytes));
    // The sink read these same bytes already; failing here means the schema registry is unreachable.
    if (!decoded.ok) throw new Error(`an event of the history batch cannot be decoded: ${decoded.error.detail}`);
    return decoded.value;
  };
  const writeHistory = async (batch: HistoryBatch) => writer.write(await unpackHistoryBatch(batch, decode));
  return { warehouse, writeHistory };
}

const started = start();
started.then(
  ({ warehouse }) => port.postMessage({ id: 0, ok: true, value: { kind: warehouse.kind, database: warehouse.database } } satisfies HistoryThreadResponse),
  (error: unknown) => port.postMessage({ id: 0, ok: false, error: errorMessage(error) } satisfies HistoryThreadResponse),
);

port.on('message', async (request: HistoryThreadRequest) => {
  let response: HistoryThreadResponse;
  try {
    const { warehouse, writeHistory } = await started;
    let value: unknown;
    switch (request.op) {
      case 'query':
        value = await warehouse.query(request.sql, request.params);
        break;
      case 'command':
        await warehouse.command(request.sql, request.params);
        break;
      case 'insert':
        await warehouse.insert(request.table, request.rows);
        break;
      case 'history':
        await writeHistory(request.batch);
        break;
      case 'close':
        await warehouse.close();
        break;
    }
    response = { id: request.id, ok: true, value };
  } catch (error) {
    response = { id: request.id, ok: false, error: errorMessage(error) };
  }
  port.postMessage(response);
  if (request.op === 'close') port.close();
});
