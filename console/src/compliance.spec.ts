import { describe, expect, it } from 'vitest'
import { diff, newestByOrigin, type Ind } from './compliance'

const anc: Ind = { code: 'W1', name: '孕产妇死亡率', unit: '1/10万', comparator: '<=', target: 12, direction: 'lower_is_better', mandatory: true }
const cov: Ind = { code: 'W2', name: '宫颈癌筛查率', unit: '%', comparator: '>=', target: 70, direction: 'higher_is_better', mandatory: true }

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
