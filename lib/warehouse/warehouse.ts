/**
 * The one interface to ClickHouse, embedded (chdb) or a server. The same SQL runs on
 * both. Values are always bound as ClickHouse query parameters ({name:Type} in the
 * SQL), never spliced into the text.
 */
export type QueryParams = Readonly<Record<string, unknown>>;

export interface Warehouse {
  readonly kind: 'embedded' | 'server';
  readonly database: string;
  /** Runs a SELECT and returns its rows as objects (64-bit integers as numbers). */
  query<Row = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<Row[]>;
  /** Runs a statement that returns no rows (DDL, ALTER, OPTIMIZE, ...). */
  command(sql: string, params?: QueryParams): Promise<void>;
  /** Inserts rows, each an object keyed by column name. */
  insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;
  close(): Promise<void>;
}

/** Settings both implementations apply so that results have the same shape. */
export const COMMON_SETTINGS = Object.freeze({
  output_format_json_quote_64bit_integers: 0,
  date_time_input_format: 'best_effort',
});

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Identifiers cannot be bound as parameters; this is the one check they get before use. */
export function assertIdentifier(kind: string, name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`${kind} name ${JSON.stringify(name)} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  return name;
}

/**
 * SQL reading a number from the events' `properties` JSON as money, Decimal(18, 2): through
 * its text, because converting the float directly truncates (0.29 becomes 0.28); a value
 * that is missing, not a number or out of range reads as 0.
 */
export function propertyMoneySql(key: string): string {
  return `toDecimal64OrZero(toString(round(JSONExtractFloat(properties, '${assertIdentifier('property', key)}'), 2)), 2)`;
}

/**
 * A time (epoch milliseconds) as ClickHouse DateTime64(3) text in UTC. Inserts send
 * rows as JSONEachRow, where a fractional number is not accepted for DateTime64.
 */
export function clickhouseDateTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}
