import { describe, expect, it } from 'vitest'
import { childrenOption, describeSeries, trendOption } from './charts'

describe('trend chart (an indicator over the years against its target)', () => {
  const o = trendOption({
    name: '孕产妇死亡率', unit: '1/10万', target: 12, targetLabel: '目标',
    points: [{ year: 2021, value: 16.1 }, { year: 2022, value: 15.2 }, { year: 2024, value: 13.456 }],
    years: [2021, 2022, 2023, 2024],
  })
  it('one line named after the indicator, a gap for the year without a value', () => {
    expect(describeSeries(o)).toEqual([{ name: '孕产妇死亡率', points: 3, gaps: 1 }])
    expect(o.series[0].type).toBe('line')
    expect(o.series[0].data).toEqual([16.1, 15.2, null, 13.46])
    expect(o.xAxis.data).toEqual(['2021', '2022', '2023', '2024'])
  })
  it('the target as a markLine', () => {
    const ml = o.series[0].markLine as { data: { yAxis: number }[] }
    expect(ml.data).toEqual([{ yAxis: 12, name: '目标' }])
    // the value axis reaches the target, whatever the data
    const y = o.yAxis as { min: (e: { min: number }) => number; max: (e: { max: number }) => number }
    expect(y.min({ min: 13.46 })).toBe(12)
    expect(y.max({ max: 16.1 })).toBe(16.1)
  })
  it('the years of the points when none are given; no markLine without a target', () => {
    const p = trendOption({ name: 'x', targetLabel: 'T', points: [{ year: 2023, value: 1 }, { year: 2021, value: null }] })
    expect(p.xAxis.data).toEqual(['2021', '2023'])
    expect(describeSeries(p)).toEqual([{ name: 'x', points: 1, gaps: 1 }])
    expect(p.series[0].markLine).toBeUndefined()
  })
})

describe('children side by side', () => {
  it('one bar per child; a missing child is a gap, never zero', () => {
    const o = childrenOption({
      name: '住院分娩率', unit: '%', target: 99, targetLabel: '目标',
      bars: [{ name: '玄武区', value: 99.5 }, { name: '秦淮区', value: null }, { name: '建邺区', value: 0 }],
    })
    expect(o.series[0].type).toBe('bar')
    expect(o.series[0].data).toEqual([99.5, null, 0])
    expect(describeSeries(o)).toEqual([{ name: '住院分娩率', points: 2, gaps: 1 }])
    expect(o.xAxis.data).toEqual(['玄武区', '秦淮区', '建邺区'])
  })
  it('is JSON for data-series', () => {
    const o = childrenOption({ name: 'n', targetLabel: 'T', bars: [] })
    expect(JSON.parse(JSON.stringify(describeSeries(o)))).toEqual([{ name: 'n', points: 0, gaps: 0 }])
  })
})
