import { describe, expect, it } from 'vitest'
import {
  auditLinkFor, buildTree, cityOf, exportHref, filingParts, filtersFromQuery, NO_FILTERS, pathTo, queryOfFilters,
  rowKey, sortRows, type Office,
} from './oversight'

const offices: Office[] = [
  { code: '320000', name: '江苏省', level: 'province', parent: null },
  { code: '320100', name: '南京市', level: 'city', parent: '320000' },
  { code: '320102', name: '玄武区', level: 'county', parent: '320100' },
  { code: '320104', name: '秦淮区', level: 'county', parent: '320100' },
  { code: '320200', name: '无锡市', level: 'city', parent: '320000' },
]
const map = new Map(offices.map((o) => [o.code, o]))

describe('audit filters', () => {
  it('round-trip through the route query', () => {
    const f = filtersFromQuery({ status: 'overdue', level: 'county', year: '0', city: '320100', sort: 'late_days', order: 'desc' })
    expect(f).toEqual({ ...NO_FILTERS, status: 'overdue', level: 'county', year: 0, city: '320100', sort: 'late_days', order: 'desc' })
    expect(queryOfFilters(f, 2)).toEqual({ status: 'overdue', level: 'county', year: '0', city: '320100', sort: 'late_days', order: 'desc', page: '2' })
    expect(queryOfFilters(NO_FILTERS)).toEqual({})
  })
  it('ignore what is not a filter', () => {
    expect(filtersFromQuery({ status: 'bogus', level: 'town', city: '32', sort: 'x; drop', year: 'abc' })).toEqual(NO_FILTERS)
  })
  it('filter by what a filing is (plan / report / evaluation)', () => {
    const f = filtersFromQuery({ what: 'evaluation', year: '2025' })
    expect(f).toEqual({ ...NO_FILTERS, what: 'evaluation', year: 2025 })
    expect(queryOfFilters(f)).toEqual({ what: 'evaluation', year: '2025' })
    expect(filtersFromQuery({ what: 'annual' }).what).toBe('')
    const u = new URL(exportHref(f), 'http://node')
    expect(u.searchParams.get('what')).toBe('evaluation')
  })
  it('a row is office + filing: a 2025 report and the 2025 mid-term evaluation are two', () => {
    const rep = { code: '320102', filing: 'report.women.2025' }
    const ev = { code: '320102', filing: 'evaluation.women.2025' }
    expect(rowKey(rep)).not.toBe(rowKey(ev))
    expect(filingParts(ev.filing)).toEqual({ what: 'evaluation', kind: 'women', year: 2025 })
    expect(filingParts(rep.filing)).toEqual({ what: 'report', kind: 'women', year: 2025 })
    expect(filingParts('plan.children')).toEqual({ what: 'plan', kind: 'children', year: null })
  })
  it('export the same filter as XLSX', () => {
    const href = exportHref({ ...NO_FILTERS, status: 'overdue', year: 2024, city: '320100', office: '320102' })
    const u = new URL(href, 'http://node')
    expect(u.pathname).toBe('/api/v1/oversight/filings')
    expect(Object.fromEntries(u.searchParams)).toEqual({ status: 'overdue', year: '2024', city: '320100', office: '320102', sort: 'status', order: 'asc', format: 'xlsx' })
  })
})

describe('the subtree', () => {
  it('as a tree under the root, sorted by code', () => {
    const tree = buildTree(offices[0], offices.slice(1))
    expect(tree.children.map((c) => c.code)).toEqual(['320100', '320200'])
    expect(tree.children[0].children.map((c) => c.name)).toEqual(['玄武区', '秦淮区'])
  })
  it('an office of unknown parent hangs under the root', () => {
    const tree = buildTree(offices[0], [{ code: '329999', name: '?', level: 'county', parent: '328888' }])
    expect(tree.children.map((c) => c.code)).toEqual(['329999'])
  })
  it('the city of an office, the path to it, the audit link', () => {
    expect(cityOf('320104', map)).toBe('320100')
    expect(cityOf('320100', map)).toBe('320100')
    expect(cityOf('320000', map)).toBeNull()
    expect(pathTo('320104', '320000', map).map((o) => o.code)).toEqual(['320000', '320100', '320104'])
    expect(pathTo('320104', '999999', map)).toEqual([])
    expect(auditLinkFor(map.get('320104')!, map)).toEqual({ office: '320104', level: 'county', city: '320100' })
  })
})

describe('audit rows in the server order', () => {
  const rows = [
    { code: '320104', filing: 'report.women.2024', status: 'on_time', due_on: '2025-03-31', late_days: 0 },
    { code: '320102', filing: 'plan.women', status: 'overdue', due_on: '2022-06-30', late_days: 900 },
    { code: '320102', filing: 'report.women.2024', status: 'pending', due_on: null, late_days: null },
    { code: '320100', filing: 'report.women.2024', status: 'late', due_on: '2025-03-31', late_days: 12 },
  ]
  it('overdue first by default', () => {
    expect(sortRows(rows, 'status', 'asc').map((r) => r.status)).toEqual(['overdue', 'late', 'pending', 'on_time'])
  })
  it('rows without a value last either way', () => {
    expect(sortRows(rows, 'late_days', 'desc').map((r) => r.late_days)).toEqual([900, 12, 0, null])
    expect(sortRows(rows, 'late_days', 'asc').map((r) => r.late_days)).toEqual([0, 12, 900, null])
  })
})
