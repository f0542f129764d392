// The "no lowered standard" check (不可随意删减和降低标准) and indicator diffs, as the server
// computes them (node/plans/compliance.py), so the plan editor can check unsaved edits live.
// The server's GET /plans/{id}/check on the saved document stays the authority.

import { normaliseUnit } from './units'

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

export interface Ancestor {
  code: string
  name: string
  version: number
  indicators: Ind[]
}

export interface LiveFinding {
  indicator: string
  name: string
  ancestor: string
  ancestor_name: string
  ancestor_target: string
  local_target: string | null
  reason: 'missing' | 'weaker' | 'unit_mismatch' | 'comparator_direction'
}

/** `>= 95 %`: the server's text of a target. */
export function fmt(i: Ind): string {
  return `${i.comparator} ${i.target}${i.unit ? ' ' + i.unit : ''}`
}

const UPPER: Record<string, boolean> = { '<': true, '<=': false }
const LOWER: Record<string, boolean> = { '>': true, '>=': false }

function bound(i: Ind, direction: string): [number, boolean] | null {
  const table = direction === 'lower_is_better' ? UPPER : LOWER
  if (i.comparator === '=') return [Number(i.target), false]
  if (i.comparator in table) return [Number(i.target), table[i.comparator]]
  return null
}

export function atLeastAsStrict(local: Ind, ancestor: Ind): boolean | null {
  const dir = ancestor.direction
  const lb = bound(local, dir)
  const ab = bound(ancestor, dir)
  if (!lb || !ab) return null
  const [lt, ls] = lb
  const [at, as] = ab
  if (lt === at) return ls || !as
  return dir === 'lower_is_better' ? lt < at : lt > at
}

export function check(indicators: Ind[], ancestors: Ancestor[]): LiveFinding[] {
  const local = new Map(indicators.map((i) => [i.code, i]))
  const out: LiveFinding[] = []
  for (const fw of ancestors) {
    for (const anc of fw.indicators) {
      if (anc.mandatory === false) continue
      const base = {
        indicator: anc.code, name: anc.name, ancestor: fw.code, ancestor_name: fw.name,
        ancestor_target: fmt(anc),
      }
      const mine = local.get(anc.code)
      if (!mine) {
        out.push({ ...base, local_target: null, reason: 'missing' })
        continue
      }
      if (normaliseUnit(mine.unit) !== normaliseUnit(anc.unit)) {
        out.push({ ...base, local_target: fmt(mine), reason: 'unit_mismatch' })
        continue
      }
      const ok = atLeastAsStrict(mine, anc)
      if (ok === null) out.push({ ...base, local_target: fmt(mine), reason: 'comparator_direction' })
      else if (!ok) out.push({ ...base, local_target: fmt(mine), reason: 'weaker' })
    }
  }
  return out
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
