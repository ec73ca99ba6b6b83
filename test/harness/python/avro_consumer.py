"""Reads Kafka topics from the start to their current end and decodes every value through a
Schema Registry, as any Schema Registry-aware consumer outside Node would: Confluent's
Python client (librdkafka) with its AvroDeserializer. Prints one JSON line per record:
topic, partition, offset, key, schema id (from the wire header) and the decoded value,
with timestamps as epoch milliseconds and bytes as base64; or, for a value that does not
decode, the error instead of the value.

    python avro_consumer.py --brokers HOST:PORT --registry URL TOPIC [TOPIC ...]
"""

import argparse
import base64
import datetime
import json
import struct
import sys

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(value):
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("topics", nargs="+")
    args = parser.parse_args()

    deserialize = AvroDeserializer(SchemaRegistryClient({"url": args.registry}))
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": "segstream-python-avro-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    # Every partition from its first record to the end it has now.
    assignment = []
    ends = {}
    for topic in args.topics:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        if metadata.topics[topic].error is not None or not partitions:
            raise SystemExit(f"topic {topic}: {metadata.topics[topic].error or 'no partitions'}")
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                assignment.append(TopicPartition(topic, p, low))
                ends[(topic, p)] = high
    consumer.assign(assignment)
    deadline = datetime.datetime.now().timestamp() + args.timeout
    done = set()
    while len(done) < len(ends):
        if datetime.datetime.now().timestamp() > deadline:
            raise SystemExit(f"read {len(done)} of {len(ends)} partitions to their end within {args.timeout} s")
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise SystemExit(f"consume error: {message.error()}")
        where = (message.topic(), message.partition())
        raw = message.value()
        schema_id = struct.unpack(">bI", raw[:5])[1] if raw is not None and len(raw) >= 5 else None
        key = message.key()
        record = {
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "key": key.decode("utf-8") if key is not None else None,
            "schemaId": schema_id,
        }
        try:
            record["value"] = plain(deserialize(raw, SerializationContext(message.topic(), MessageField.VALUE)))
        except Exception as error:  # a record that is not Avro in the wire format
            record["error"] = str(error)
        print(json.dumps(record, sort_keys=True))
        if message.offset() + 1 >= ends[where]:
            done.add(where)
    consumer.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
