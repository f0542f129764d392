// Indicator diffs between plan versions and the frameworks in force, for display. The "no
// lowered standard" rule itself (不可随意删减和降低标准) lives only on the server
// (node/plans/compliance.py): the plan editor asks POST /plans/{id}/check for unsaved edits.

export interface Ind {
  code: string
  name: string
  unit?: string
  comparator: string
  target: number
  direction: string
  mandatory?: boolean
  aggregation?: string
}

/** `>= 95 %`: the server's text of a target. */
export function fmt(i: Ind): string {
  return `${i.comparator} ${i.target}${i.unit ? ' ' + i.unit : ''}`
}

export interface Diff {
  added: { code: string; name: string; target: string }[]
  removed: { code: string; name: string }[]
  changed: { code: string; name: string; fields: string[]; from: string; to: string }[]
}

const FIELDS = ['name', 'unit', 'comparator', 'target', 'direction', 'mandatory', 'aggregation'] as const

/** Indicators added, removed and changed from `old` to `now`. */
export function diff(old: Ind[], now: Ind[]): Diff {
  const o = new Map(old.map((i) => [i.code, i]))
  const n = new Map(now.map((i) => [i.code, i]))
  const codes = (m: Map<string, Ind>) => [...m.keys()].sort()
  const changed: Diff['changed'] = []
  for (const code of codes(o)) {
    const a = o.get(code)!
    const b = n.get(code)
    if (!b) continue
    const fields = FIELDS.filter((f) => (a[f] ?? null) !== (b[f] ?? null))
    if (fields.length) changed.push({ code, name: b.name, fields: [...fields], from: fmt(a), to: fmt(b) })
  }
  return {
    added: codes(n).filter((c) => !o.has(c)).map((c) => ({ code: c, name: n.get(c)!.name, target: fmt(n.get(c)!) })),
    removed: codes(o).filter((c) => !n.has(c)).map((c) => ({ code: c, name: o.get(c)!.name })),
    changed,
  }
}

/** The newest version of each origin's framework of a kind (what is in force). */
export function newestByOrigin<T extends { origin: string; kind: string; version: number }>(
  frameworks: T[],
  kind: string,
): T[] {
  const best = new Map<string, T>()
  for (const f of frameworks) {
    if (f.kind !== kind) continue
    const cur = best.get(f.origin)
    if (!cur || f.version > cur.version) best.set(f.origin, f)
  }
  return [...best.values()].sort((a, b) => a.origin.localeCompare(b.origin))
}
