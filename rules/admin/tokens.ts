/** Roles, each allowed what the one before it is, and more. */
export const ROLES = ['viewer', 'editor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Caller {
  readonly name: string;
  readonly role: Role;
}

/** Parses RULES_API_TOKENS entries (name:role:token, already checked by the config) into a token lookup. */
export function tokenTable(entries: readonly string[]): ReadonlyMap<string, Caller> {
  const table = new Map<string, Caller>();
  for (const entry of entries) {
    const [name, role] = entry.split(':') as [string, Role];
    table.set(entry.slice(name.length + role.length + 2), { name, role });
  }
  return table;
}

export function allows(caller: Caller, needed: Role): boolean {
  return ROLES.indexOf(caller.role) >= ROLES.indexOf(needed);
}
