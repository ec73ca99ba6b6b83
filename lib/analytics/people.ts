/**
 * History rows keep the member id an event had when it was processed; a member later merged
 * into another (an anonymous visitor who logged in) keeps its own id there. Analyses count
 * people, so they read rows through `byPerson`: each member id merged into another, directly
 * or through a chain of merges (identity_changes, action "merged"), becomes the id of the
 * member it finally belongs to.
 */
const MERGED_INTO = `(
    WITH RECURSIVE
      merges AS (SELECT other_member_id AS merged, member_id AS person FROM identity_changes FINAL WHERE action = 'merged'),
      chain AS (
        SELECT merged, person, 1 AS depth FROM merges
        UNION ALL
        SELECT chain.merged, merges.person, chain.depth + 1 FROM chain INNER JOIN merges ON merges.merged = chain.person WHERE chain.depth < 100
      )
    SELECT merged, argMax(person, depth) AS person FROM chain GROUP BY merged
  )`;

/** The join of the merges to rows aliased `rows`, and the person each row belongs to. */
function joinPeople(rows: string, people: string): { person: string; join: string } {
  return {
    person: `if(${people}.person != '', ${people}.person, ${rows}.member_id)`,
    join: `ANY LEFT JOIN ${MERGED_INTO} AS ${people} ON ${people}.merged = ${rows}.member_id`,
  };
}

/**
 * A table's rows (deduplicated with FINAL unless told otherwise) with member_id mapped to
 * the person's member id. A hash join on the (small) merge table; filters on the result
 * are pushed down to the table.
 */
export function byPerson(table: string, { final = true }: { final?: boolean } = {}): string {
  // Aliases named after the table: a subquery nested in another's scope (a CTE used in an
  // IN) must not resolve to the outer one's.
  const rows = `${table}_rows`;
  const { person, join } = joinPeople(rows, `${table}_people`);
  return `(SELECT ${rows}.* REPLACE (${person} AS member_id) FROM ${table} AS ${rows}${final ? ' FINAL' : ''} ${join})`;
}

/**
 * Rows aggregated per member id (`inner`, with a member_id column), each given `person`: the
 * member it finally belongs to. Heavy analyses aggregate per member id first and map the
 * far fewer aggregated rows, then combine per person.
 */
export function withPerson(inner: string): string {
  const { person, join } = joinPeople('per_member', 'merged_people');
  return `(SELECT ${person} AS person, per_member.* FROM (${inner}) AS per_member ${join})`;
}
