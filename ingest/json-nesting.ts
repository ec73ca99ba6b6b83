/** Deepest nesting of objects and arrays ingest accepts in a request body (SDK payloads use fewer than 10 levels). */
export const MAX_JSON_NESTING = 64;

/**
 * Whether JSON text nests objects and arrays deeper than `max`, by a scan of its brackets
 * outside strings, before it is parsed: deeper documents overflow the call stack of the
 * recursive code that serialises them (a request answered 500, which SDKs retry for ever).
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}
