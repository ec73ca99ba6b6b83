/**
 * In-process claims on members. A person's events may sit in several partitions (one
 * per anonymous id), so two slices applied at once can touch the same member; the
 * compare-and-set then refuses one of them and its whole slice is applied again. Claiming
 * the members first makes the second slice wait for the first instead. Correctness does
 * not depend on this (other replicas and merges are still caught by the compare-and-set);
 * it only saves the wasted work.
 */
export class MemberLocks {
  readonly #held = new Set<string>();
  readonly #waiting: { readonly memberIds: readonly string[]; readonly grant: () => void }[] = [];

  /** Waits until none of the members is claimed, claims them all at once and returns the release. */
  async claim(memberIds: Iterable<string>): Promise<() => void> {
    const ids = [...new Set(memberIds)];
    // Waiters are granted in order, so a later claim does not jump an earlier one on the same member.
    if (this.#waiting.length === 0 && this.#free(ids)) for (const id of ids) this.#held.add(id);
    else await new Promise<void>((grant) => this.#waiting.push({ memberIds: ids, grant }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const id of ids) this.#held.delete(id);
      this.#grantWaiting();
    };
  }

  /** Members claimed now (for tests and diagnostics). */
  get size(): number {
    return this.#held.size;
  }

  #free(ids: readonly string[]): boolean {
    return ids.every((id) => !this.#held.has(id));
  }

  #grantWaiting(): void {
    // From the front while the first waiter can go; its members are marked claimed here,
    // before anyone else runs, so no one slips in between the grant and its resumption.
    while (this.#waiting.length > 0 && this.#free((this.#waiting[0] as { memberIds: readonly string[] }).memberIds)) {
      const next = this.#waiting.shift() as { memberIds: readonly string[]; grant: () => void };
      for (const id of next.memberIds) this.#held.add(id);
      next.grant();
    }
  }
}
