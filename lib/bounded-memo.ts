/**
 * Remembers `compute(group, value)` for up to `size` pairs. When full it starts over
 * (a miss only costs one more computation), so memory stays bounded without the
 * bookkeeping of an LRU. Two levels, so a hit builds no combined key string.
 */
export function boundedMemo<T>(compute: (group: string, value: string) => T, size: number): (group: string, value: string) => T {
  const groups = new Map<string, Map<string, T>>();
  let held = 0;
  return (group, value) => {
    let byValue = groups.get(group);
    if (byValue === undefined) {
      byValue = new Map();
      groups.set(group, byValue);
    }
    let result = byValue.get(value);
    if (result === undefined) {
      result = compute(group, value);
      if (held >= size) {
        for (const values of groups.values()) values.clear();
        held = 0;
      }
      byValue.set(value, result);
      held++;
    }
    return result;
  };
}
