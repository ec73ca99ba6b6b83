import { describe, expect, it } from 'vitest';
import { loadSchemaCatalog } from '../../../schemas/catalog.ts';
import { allTopics, buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey } from '../../../schemas/topics.ts';

describe('topic registry', () => {
  it("has the brief's default topic names, each with a key and the latest value schema", async () => {
    const topics = buildTopics(DEFAULT_TOPIC_NAMES, await loadSchemaCatalog());
    expect(allTopics(topics).map((t) => t.name)).toEqual([
      'segstream.events.v1',
      'segstream.segment-changes.v1',
      'segstream.triggers.v1',
      'segstream.lifecycle.v1',
      'segstream.dlq.v1',
      'segstream.member-events.v1',
      'segstream.identity-changes.v1',
    ]);
    expect(topics.events.valueSchemaVersion).toBe(2);
    for (const topic of allTopics(topics)) expect(topic.key.meaning.length).toBeGreaterThan(0);
  });

  it('is immutable', async () => {
    const topics = buildTopics(DEFAULT_TOPIC_NAMES, await loadSchemaCatalog());
    expect(Object.isFrozen(topics)).toBe(true);
    expect(Object.isFrozen(topics.events)).toBe(true);
    expect(() => {
      (topics.events as { name: string }).name = 'other';
    }).toThrow(TypeError);
  });

  it('takes configured names and refuses two topics with one name', async () => {
    const catalog = await loadSchemaCatalog();
    expect(buildTopics({ ...DEFAULT_TOPIC_NAMES, events: 'shop.events' }, catalog).events.name).toBe('shop.events');
    expect(() => buildTopics({ ...DEFAULT_TOPIC_NAMES, triggers: 'segstream.events.v1' }, catalog)).toThrow(
      /topics events and triggers are both named segstream.events.v1/,
    );
  });

  it('keys events by anonymousId, else userId, else previousId', () => {
    expect(eventsTopicKey({ anonymousId: 'a', userId: 'u', previousId: 'p' })).toBe('u');
    expect(eventsTopicKey({ anonymousId: 'a', userId: null })).toBe('a');
    expect(eventsTopicKey({ previousId: 'p' })).toBe('p');
  });
});
