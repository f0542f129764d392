// The oversight endpoints (/api/v1/oversight/*). Most answers are typed by the OpenAPI; the
// JSON page of GET /oversight/filings is not (its schema there is `{}`: the node names it
// `AuditPage`, which the audit log's page already is), so its shape is written here after
// node/oversight/schemas.py (AuditRow, AuditPage). Its query parameters are still typed.
import { api, ok, type Schemas } from './client'
import type { AuditFilters } from '@/oversight'

export type Status = 'on_time' | 'late' | 'returned' | 'overdue' | 'pending'
export type Level = 'national' | 'province' | 'city' | 'county'
export type Bucket = 'already_met' | 'on_track' | 'at_risk' | 'off_target' | 'no_data'
export const STATUSES: Status[] = ['overdue', 'returned', 'late', 'pending', 'on_time']
export const BUCKETS: Bucket[] = ['already_met', 'on_track', 'at_risk', 'off_target', 'no_data']
export const LEVELS: Level[] = ['province', 'city', 'county']

export type Overview = Schemas['Overview']
export type TreeNode = Schemas['TreeNode']
export type IndicatorBuckets = Schemas['IndicatorBuckets']
export type IndicatorStatus = Schemas['IndicatorStatus']
export type IndicatorSeries = Schemas['IndicatorSeries']
export type SyncHealth = Schemas['SyncHealth']
export type Neighbour = Schemas['Neighbour']
export type FilingAnswer = Schemas['FilingAnswer']

export interface AuditRow {
  code: string
  name: string
  level: Level
  parent: string | null
  city: string | null
  filing: string
  /** plan 规划备案 | report 年度报告 | evaluation 评估报告 (year: the stage, 2025 / 2030) */
  what: 'plan' | 'report' | 'evaluation'
  kind: 'women' | 'children'
  year: number | null
  due_on: string | null
  received_at: string | null
  receiver: string | null
  status: Status
  late_days: number | null
  history: FilingAnswer[]
}

export interface AuditPage {
  total: number
  page: number
  size: number
  rows: AuditRow[]
  cities: { code: string; name: string }[]
  years: number[]
}

/** An early warning as node/reports/warnings.py EarlyWarning.as_dict() gives it. */
export interface EarlyWarning {
  code: string
  name: string
  kind: 'off_target' | 'projected_miss' | 'volatile' | string
  detail: string
  latest_year: number
  latest_value: number
}

/** The last key-transparency check (node/protocol/keytrust.py): ok | alarm | not checked yet. */
export interface KeyTransparency {
  status: string
  checked_at?: string
  key_id?: string
  age_seconds?: number
  ancestors: Record<string, string>
}

export const warningsOf = (i: IndicatorStatus) => i.warnings as unknown as EarlyWarning[]
export const transparencyOf = (h: SyncHealth) => h.key_transparency as unknown as KeyTransparency

export async function auditPage(f: AuditFilters, page: number, size: number): Promise<AuditPage> {
  const data = await ok(api.GET('/api/v1/oversight/filings', {
    params: {
      query: {
        level: f.level || undefined,
        kind: f.kind || undefined,
        what: f.what || undefined,
        year: f.year ?? undefined,
        status: f.status || undefined,
        city: f.city || undefined,
        office: f.office || undefined,
        sort: f.sort,
        order: f.order,
        page,
        size,
        format: 'json',
      },
    },
  }))
  return data as unknown as AuditPage
}
