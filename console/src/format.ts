// How the console shows values: Beijing time whatever the browser's zone, coded values as
// words, numbers rounded for reading. `t` is vue-i18n's translate function.

import { scaleOf } from './units'

export type Translate = (key: string, named?: Record<string, unknown>) => string

const BEIJING_OFFSET_MS = 8 * 3600 * 1000 // Asia/Shanghai: UTC+8, no daylight saving since 1991
const DASH = '—'

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

function beijingParts(iso: string | null | undefined): Date | null {
  if (!iso) return null
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return null
  return new Date(ms + BEIJING_OFFSET_MS) // read with getUTC*: Beijing's wall clock
}

/** A UTC timestamp (RFC 3339) as Beijing time, `YYYY-MM-DD HH:mm`. */
export function beijingTime(iso: string | null | undefined): string {
  const d = beijingParts(iso)
  if (!d) return DASH
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`
  )
}

/** The Beijing calendar date of a timestamp, or an ISO date as it is. */
export function beijingDate(iso: string | null | undefined): string {
  if (!iso) return DASH
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return iso
  return beijingTime(iso).slice(0, 10)
}

/** Today in Beijing (YYYY-MM-DD). */
export function beijingToday(now: Date = new Date()): string {
  return beijingTime(now.toISOString()).slice(0, 10)
}

/** A coded value as a word (`kind.women` → 妇女); an unknown code is shown as it is. */
export function codeText(t: Translate, group: string, value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return DASH
  const key = `${group}.${value}`
  const s = t(key)
  return s !== key ? s : value
}

/** 按时 / 逾期 N 天 from a receipt's days late. */
export function lateText(t: Translate, lateDays: number | null | undefined): string {
  if (lateDays === null || lateDays === undefined) return DASH
  return lateDays > 0 ? t('timeliness.late', { n: lateDays }) : t('timeliness.on_time')
}

/** A timeliness status (on_time, late, overdue, not_enrolled, returned, pending) as words. */
export function timelinessText(
  t: Translate,
  status: string | null | undefined,
  lateDays?: number | null,
): string {
  if (!status) return DASH
  if (status === 'late') {
    return lateDays ? t('timeliness.late', { n: lateDays }) : t('timeliness.lateNoDays')
  }
  return codeText(t, 'timeliness', status)
}

/** 剩 N 天 / 今天到期 / 逾期 N 天 for a to-do item. */
export function daysLeftText(t: Translate, daysLeft: number | null | undefined): string {
  if (daysLeft === null || daysLeft === undefined) return ''
  if (daysLeft > 0) return t('todo.daysLeft', { n: daysLeft })
  if (daysLeft === 0) return t('todo.dueToday')
  return t('todo.overdueDays', { n: -daysLeft })
}

/** A number rounded for reading: at most `digits` decimals, no trailing zeros, grouped. */
export function formatNumber(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH
  const f = 10 ** digits
  const r = Math.round(v * f) / f
  const [int, frac] = Math.abs(r).toFixed(digits).split('.')
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  const tail = frac ? frac.replace(/0+$/, '') : ''
  return (r < 0 ? '-' : '') + grouped + (tail ? '.' + tail : '')
}

/** A value in its unit: `85.3%`, `12 ‰`, `3,200 人`. */
export function formatValue(v: number | null | undefined, unit?: string | null): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH
  const n = formatNumber(v, 2)
  if (!unit) return n
  return unit === '%' ? `${n}%` : `${n} ${unit}`
}

/** A rate between 0 and 1 as a percentage, `0.853` → `85.3%`. */
export function formatPercent(rate: number | null | undefined, digits = 1): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return DASH
  return `${formatNumber(rate * 100, digits)}%`
}

const COMPARATORS: Record<string, string> = { '<': '<', '<=': '≤', '>': '>', '>=': '≥', '=': '=' }

/** An indicator's target, `≥ 95%`, like the server's `>= 95 %`. */
export function targetText(ind: { comparator: string; target: number; unit?: string | null }): string {
  const c = COMPARATORS[ind.comparator] ?? ind.comparator
  return `${c} ${formatValue(ind.target, ind.unit)}`
}

/** The server's target text (`>= 95 %`) with the reading symbols (`≥ 95%`). */
export function prettyTarget(s: string | null | undefined): string {
  if (!s) return DASH
  return s
    .replace(/^<=/, '≤')
    .replace(/^>=/, '≥')
    .replace(/ %$/, '%')
}

/** The numerator/denominator rate of a ratio indicator, in its unit (as the server computes it). */
export function ratio(
  numerator: number | null | undefined,
  denominator: number | null | undefined,
  unit?: string | null,
): number | null {
  if (numerator === null || numerator === undefined || !denominator) return null
  return (numerator / denominator) * scaleOf(unit)
}

/** An audit filing code as words: `report.women.2024` → 2024年度妇女规划实施情况报告,
 *  `plan.children` → 儿童规划备案; anything else as it is. */
export function filingText(t: Translate, filing: string | null | undefined): string {
  if (!filing) return DASH
  const [what, kind, year] = filing.split('.')
  if (what === 'plan' && kind && !year) return t('oversight.filingPlan', { kind: codeText(t, 'kind', kind) })
  if (what === 'report' && kind && /^\d{4}$/.test(year ?? '')) {
    return t('oversight.filingReport', { kind: codeText(t, 'kind', kind), year })
  }
  if (what === 'evaluation' && kind && (year === '2025' || year === '2030')) {
    return t('evaluation.filing', { kind: codeText(t, 'kind', kind), stage: codeText(t, 'evaluationStage', year) })
  }
  return filing
}

export type TagType = 'success' | 'warning' | 'info' | 'danger' | 'primary'

/** How an audit status is tagged: the most urgent the darkest. */
export function statusTag(status: string | null | undefined): { type: TagType; effect: 'dark' | 'light' | 'plain' } {
  switch (status) {
    case 'overdue': return { type: 'danger', effect: 'dark' }
    case 'not_enrolled': return { type: 'danger', effect: 'plain' }
    case 'returned': return { type: 'danger', effect: 'light' }
    case 'late': return { type: 'warning', effect: 'light' }
    case 'on_time': return { type: 'success', effect: 'light' }
    default: return { type: 'info', effect: 'plain' }
  }
}

/** The colour an office of the tree is drawn in, by its most urgent status. */
export const STATUS_COLOURS: Record<string, string> = {
  overdue: '#d03050', not_enrolled: '#7a1f3d', returned: '#e07a2f', late: '#c9a100', pending: '#8a8f99', on_time: '#18a058',
}

/** A rate (0–1) as a percentage, never above 100% (the server promises it; the page holds it). */
export function ratePercent(rate: number | null | undefined, digits = 1): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return DASH
  return formatPercent(Math.min(1, Math.max(0, rate)), digits)
}

/** An age in seconds as words: 45 秒 / 12 分钟 / 3 小时 / 2 天 5 小时. */
export function ageText(t: Translate, seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return t('oversight.ageSeconds', { n: s })
  if (s < 3600) return t('oversight.ageMinutes', { n: Math.floor(s / 60) })
  if (s < 86400) return t('oversight.ageHours', { n: Math.floor(s / 3600) })
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  return h ? t('oversight.ageDaysHours', { d, h }) : t('oversight.ageDays', { n: d })
}

/** A value that may be missing: missing is 未报, never zero. */
export function valueOrMissing(t: Translate, v: number | null | undefined, unit?: string | null): string {
  return v === null || v === undefined || !Number.isFinite(v) ? t('oversight.missing') : formatValue(v, unit)
}
