import { describe, expect, it } from 'vitest'
import { consoleHeaders, errorOf } from './client'
import { permissionsOf } from '../permissions'
import zhCN from '../locales/zh-CN'
import en from '../locales/en'

async function through(method: string): Promise<Request> {
  const request = new Request('http://node.example/api/v1/plans', { method })
  const out = await consoleHeaders.onRequest!({ request } as never)
  return (out as Request) ?? request
}

describe('console requests', () => {
  it('send the CSRF header on every non-GET request', async () => {
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect((await through(m)).headers.get('X-Plansync-Console')).toBe('1')
    }
    expect((await through('GET')).headers.get('X-Plansync-Console')).toBeNull()
  })
  it("show the server's error message as-is", () => {
    const e = errorOf(409, { error: { code: 'conflict', message: '送审人不能审定 the submitter may not approve' } })
    expect(e.message).toBe('送审人不能审定 the submitter may not approve')
    expect(e.code).toBe('conflict')
    expect(errorOf(502, null).message).toBe('HTTP 502')
  })
})

describe('permissions', () => {
  it('listed by the server, else by role', () => {
    expect(permissionsOf('viewer', ['read'])).toEqual(['read'])
    expect(permissionsOf('reviewer')).toContain('filings.review')
    expect(permissionsOf('member_unit')).not.toContain('plans.edit')
  })
})

function keys(o: object, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]))
}

describe('translations', () => {
  it('English has every Chinese string, none empty', () => {
    expect(keys(en).sort()).toEqual(keys(zhCN).sort())
    const values = (o: object): string[] => Object.values(o).flatMap((v) => (typeof v === 'object' ? values(v) : [v]))
    expect(values(en).every((s) => s.length > 0)).toBe(true)
  })
})
