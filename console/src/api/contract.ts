// The auth/console endpoints, through the typed client. `filingDetail` is the one call the
// node's OpenAPI does not describe yet (GET /api/v1/filings/{id}); it goes through `raw`.
import { api, ok, raw, type Schemas } from './client'

export type Level = 'national' | 'province' | 'city' | 'county'
export type NodeInfo = Schemas['NodeInfo']
export type Me = Schemas['Me']
export type LoginAnswer = Schemas['SessionRead']
export type TodoItem = Schemas['TodoRead']
export type UserRow = Schemas['UserRead']
export type TokenRow = Schemas['ApiTokenRead']
export type AuditRow = Schemas['AuditEntryRead']
export type UserUpdate = Schemas['UserUpdate']

export const contract = {
  login: (name: string, password: string) =>
    ok(api.POST('/api/v1/auth/login', { body: { name, password } })),
  logout: () => ok(api.POST('/api/v1/auth/logout')),
  me: () => ok(api.GET('/api/v1/me')),
  todo: () => ok(api.GET('/api/v1/todo')),
  users: () => ok(api.GET('/api/v1/users')),
  patchUser: (name: string, body: UserUpdate) =>
    ok(api.PATCH('/api/v1/users/{name}', { params: { path: { name } }, body })),
  tokens: () => ok(api.GET('/api/v1/tokens')),
  createToken: (label: string) => ok(api.POST('/api/v1/tokens', { body: { label } })),
  deleteToken: (id: number) =>
    ok(api.DELETE('/api/v1/tokens/{token_id}', { params: { path: { token_id: id } } })),
  auditLog: (q: string, page: number, size: number) =>
    ok(api.GET('/api/v1/audit/log', { params: { query: { q: q || undefined, page, size } } })),
}

/** A plan filed here, with the document as filed (GET /api/v1/filings/{id}: not in the API yet). */
export interface FilingDetail {
  id: string
  filer: string
  plan_id: string
  version: number
  title?: string
  document?: Schemas['PlanDocument']
}
export const filingDetail = (id: string) =>
  raw<FilingDetail>('GET', `/api/v1/filings/${encodeURIComponent(id)}`)
