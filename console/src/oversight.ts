// The oversight pages' logic that needs no page: the audit filters as a route query and as
// the export link, the subtree as a tree, an office's city, and the order of audit rows (as
// the server sorts them).

export type SortKey = 'status' | 'due_on' | 'received_at' | 'late_days' | 'code' | 'name' | 'level' | 'filing'
export const SORT_KEYS: SortKey[] = ['status', 'due_on', 'received_at', 'late_days', 'code', 'name', 'level', 'filing']

/** What a filing is: a plan filing, an annual report, a mid-term / final evaluation report. */
export type What = 'plan' | 'report' | 'evaluation'
export const WHATS: What[] = ['plan', 'report', 'evaluation']

export interface AuditFilters {
  level: '' | 'province' | 'city' | 'county'
  kind: '' | 'women' | 'children'
  /** plan filings, annual reports or evaluation reports only (the server's `what`) */
  what: '' | What
  /** a report year; 0 = plan filings; null = all */
  year: number | null
  status: '' | 'on_time' | 'late' | 'returned' | 'overdue' | 'pending'
  city: string
  /** one office's filings only (the server's `office` filter) */
  office: string
  sort: SortKey
  order: 'asc' | 'desc'
}

export const NO_FILTERS: AuditFilters = {
  level: '', kind: '', what: '', year: null, status: '', city: '', office: '', sort: 'status', order: 'asc',
}

type Query = Record<string, string | null | (string | null)[] | undefined>

function one(q: Query, k: string): string {
  const v = q[k]
  return (Array.isArray(v) ? v[0] : v) ?? ''
}

function pick<T extends string>(v: string, allowed: readonly T[]): T | '' {
  return (allowed as readonly string[]).includes(v) ? (v as T) : ''
}

/** The filters of a route query (`?status=overdue&level=county&year=0&city=320100`). */
export function filtersFromQuery(q: Query): AuditFilters {
  const y = one(q, 'year')
  const sort = pick(one(q, 'sort'), SORT_KEYS)
  return {
    level: pick(one(q, 'level'), ['province', 'city', 'county'] as const),
    kind: pick(one(q, 'kind'), ['women', 'children'] as const),
    what: pick(one(q, 'what'), WHATS),
    year: /^\d{1,4}$/.test(y) ? Number(y) : null,
    status: pick(one(q, 'status'), ['on_time', 'late', 'returned', 'overdue', 'pending'] as const),
    city: /^\d{6}$/.test(one(q, 'city')) ? one(q, 'city') : '',
    office: /^\d{6}$/.test(one(q, 'office')) ? one(q, 'office') : '',
    sort: sort || 'status',
    order: one(q, 'order') === 'desc' ? 'desc' : 'asc',
  }
}

/** The route query of the filters (only what differs from no filter). */
export function queryOfFilters(f: AuditFilters, page = 1): Record<string, string> {
  const q: Record<string, string> = {}
  if (f.level) q.level = f.level
  if (f.kind) q.kind = f.kind
  if (f.what) q.what = f.what
  if (f.year !== null) q.year = String(f.year)
  if (f.status) q.status = f.status
  if (f.city) q.city = f.city
  if (f.office) q.office = f.office
  if (f.sort !== 'status') q.sort = f.sort
  if (f.order !== 'asc') q.order = f.order
  if (page > 1) q.page = String(page)
  return q
}

/** The XLSX of the same filters: every matching row (the cookie authenticates the GET). */
export function exportHref(f: AuditFilters): string {
  const p = new URLSearchParams()
  if (f.level) p.set('level', f.level)
  if (f.kind) p.set('kind', f.kind)
  if (f.what) p.set('what', f.what)
  if (f.year !== null) p.set('year', String(f.year))
  if (f.status) p.set('status', f.status)
  if (f.city) p.set('city', f.city)
  if (f.office) p.set('office', f.office)
  p.set('sort', f.sort)
  p.set('order', f.order)
  p.set('format', 'xlsx')
  return `/api/v1/oversight/filings?${p.toString()}`
}

// ---- the subtree ----

export interface Office {
  code: string
  name: string
  level: string
  parent: string | null
  status?: string
  counts?: Record<string, number>
}

export interface OfficeTree extends Office {
  children: OfficeTree[]
}

/** The offices as a tree under `root` (offices whose parent is unknown hang under the root). */
export function buildTree(root: Office, offices: Office[]): OfficeTree {
  const nodes = new Map<string, OfficeTree>()
  const top: OfficeTree = { ...root, children: [] }
  nodes.set(root.code, top)
  for (const o of offices) if (o.code !== root.code) nodes.set(o.code, { ...o, children: [] })
  for (const o of offices) {
    if (o.code === root.code) continue
    const n = nodes.get(o.code)!
    const p = (o.parent && nodes.get(o.parent)) || top
    p.children.push(n)
  }
  const sort = (n: OfficeTree) => {
    n.children.sort((a, b) => a.code.localeCompare(b.code))
    n.children.forEach(sort)
  }
  sort(top)
  return top
}

/** The city an office belongs to (itself for a city), as the server's `city` column. */
export function cityOf(code: string, offices: Map<string, Office>): string | null {
  let n = offices.get(code)
  const seen = new Set<string>()
  while (n && !seen.has(n.code)) {
    if (n.level === 'city') return n.code
    seen.add(n.code)
    n = n.parent ? offices.get(n.parent) : undefined
  }
  return null
}

/** The offices from `root` down to `code` (for a breadcrumb); [] when `code` is not below. */
export function pathTo(code: string, root: string, offices: Map<string, Office>): Office[] {
  const out: Office[] = []
  let n = offices.get(code)
  const seen = new Set<string>()
  while (n && !seen.has(n.code)) {
    out.unshift(n)
    if (n.code === root) return out
    seen.add(n.code)
    n = n.parent ? offices.get(n.parent) : undefined
  }
  return []
}

/** Where clicking an office of the tree goes: the audit filtered to it. */
export function auditLinkFor(o: Office, offices: Map<string, Office>): Record<string, string> {
  const q: Record<string, string> = { office: o.code }
  if (o.level === 'province' || o.level === 'city' || o.level === 'county') q.level = o.level
  const city = cityOf(o.code, offices)
  if (city) q.city = city
  return q
}

/** The parts of an audit row's `filing` (plan.<kind>, report.<kind>.<year>,
 *  evaluation.<kind>.<stage>): what it is, its kind, its year or stage. A row is identified
 *  by office and `filing`, never by office and year (a 2025 report and the 2025 mid-term
 *  evaluation are two rows). */
export function filingParts(filing: string): { what: What | ''; kind: string; year: number | null } {
  const [w, kind = '', y] = filing.split('.')
  return { what: pick(w ?? '', WHATS), kind, year: y && /^\d{4}$/.test(y) ? Number(y) : null }
}

/** The identity of an audit row. */
export const rowKey = (r: { code: string; filing: string }) => `${r.code}:${r.filing}`

// ---- the order of audit rows (node/oversight/service.py select_rows) ----

const STATUS_ORDER: Record<string, number> = { overdue: 0, returned: 1, late: 2, pending: 3, on_time: 4 }

export interface SortableRow {
  code: string
  filing: string
  status: string
  due_on: string | null
}

function cmp(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return String(a).localeCompare(String(b))
}

/** Sort as the server does: by the key, rows without a value last either way; ties by due
 *  date, office, filing. */
export function sortRows<T extends SortableRow>(rows: T[], sort: SortKey, order: 'asc' | 'desc'): T[] {
  const value = (r: T) => (sort === 'status' ? STATUS_ORDER[r.status] ?? 9 : (r as unknown as Record<string, unknown>)[sort])
  const dir = order === 'desc' ? -1 : 1
  return rows.slice().sort((a, b) => {
    const va = value(a)
    const vb = value(b)
    const na = va === null || va === undefined
    const nb = vb === null || vb === undefined
    if (na !== nb) return na ? 1 : -1
    const c = na ? 0 : cmp(va, vb)
    if (c) return c * dir
    return (cmp(a.due_on ?? '', b.due_on ?? '') || cmp(a.code, b.code) || cmp(a.filing, b.filing)) * dir
  })
}
