import { describe, expect, it } from 'vitest'
import { check, diff, newestByOrigin, type Ind } from './compliance'

const anc: Ind = { code: 'W1', name: '孕产妇死亡率', unit: '1/10万', comparator: '<=', target: 12, direction: 'lower_is_better', mandatory: true }
const cov: Ind = { code: 'W2', name: '宫颈癌筛查率', unit: '%', comparator: '>=', target: 70, direction: 'higher_is_better', mandatory: true }
const fw = [{ code: '150000', name: '内蒙古自治区', version: 1, indicators: [anc, cov] }]

describe('no lowered standard', () => {
  it('accepts equal or stricter targets', () => {
    expect(check([{ ...anc, target: 10 }, { ...cov, target: 80 }], fw)).toEqual([])
    expect(check([anc, cov], fw)).toEqual([])
    expect(check([{ ...anc, comparator: '<' }, cov], fw)).toEqual([])
  })
  it('names the ancestor, its target and ours', () => {
    const f = check([{ ...anc, target: 15 }], fw)
    expect(f).toHaveLength(2)
    expect(f[0]).toMatchObject({ indicator: 'W1', reason: 'weaker', ancestor: '150000', ancestor_name: '内蒙古自治区', ancestor_target: '<= 12 1/10万', local_target: '<= 15 1/10万' })
    expect(f[1]).toMatchObject({ indicator: 'W2', reason: 'missing', local_target: null })
  })
  it('unit and comparator direction', () => {
    expect(check([{ ...anc, unit: '%' }, cov], fw)[0].reason).toBe('unit_mismatch')
    expect(check([{ ...anc, comparator: '>=' }, cov], fw)[0].reason).toBe('comparator_direction')
    expect(check([anc, { ...cov, comparator: '>' }], fw)).toEqual([])
    expect(check([{ ...anc, comparator: '<=' }, cov], [{ ...fw[0], indicators: [{ ...anc, comparator: '<' }] }])[0].reason).toBe('weaker')
  })
  it('compares units after normalisation', () => {
    expect(check([{ ...anc, unit: '/10万' }, { ...cov, unit: '％' }], fw)).toEqual([])
  })
  it('skips indicators that are not mandatory', () => {
    expect(check([], [{ ...fw[0], indicators: [{ ...anc, mandatory: false }] }])).toEqual([])
  })
})

describe('diff', () => {
  it('added, removed, changed', () => {
    const d = diff([anc, cov], [{ ...anc, target: 10 }, { ...cov, code: 'W3' }])
    expect(d.added.map((a) => a.code)).toEqual(['W3'])
    expect(d.removed.map((a) => a.code)).toEqual(['W2'])
    expect(d.changed).toEqual([{ code: 'W1', name: anc.name, fields: ['target'], from: '<= 12 1/10万', to: '<= 10 1/10万' }])
  })
  it('newest framework per origin', () => {
    const got = newestByOrigin([
      { origin: '150000', kind: 'women', version: 1 }, { origin: '150000', kind: 'women', version: 2 },
      { origin: '150600', kind: 'women', version: 1 }, { origin: '150000', kind: 'children', version: 5 },
    ], 'women')
    expect(got.map((f) => `${f.origin}@${f.version}`)).toEqual(['150000@2', '150600@1'])
  })
})
