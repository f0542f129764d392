import { describe, expect, it } from 'vitest'
import { makeI18n } from './i18n'
import { setUnitTable } from './units'
import {
  ageText, beijingDate, beijingTime, beijingToday, codeText, daysLeftText, filingText, formatNumber,
  formatPercent, formatValue, lateText, prettyTarget, ratePercent, ratio, statusTag, targetText,
  timelinessText, valueOrMissing, type Translate,
} from './format'

const zh = makeI18n('zh-CN').global.t as unknown as Translate
const en = makeI18n('en').global.t as unknown as Translate

describe('Beijing time', () => {
  it('converts UTC to Asia/Shanghai whatever the zone', () => {
    expect(beijingTime('2022-06-10T07:59:00.000Z')).toBe('2022-06-10 15:59')
    expect(beijingTime('2024-12-31T16:30:00.000Z')).toBe('2025-01-01 00:30')
    expect(beijingTime('2024-03-01T00:00:00+08:00')).toBe('2024-03-01 00:00')
  })
  it('shows a dash for nothing or garbage', () => {
    expect(beijingTime(null)).toBe('—')
    expect(beijingTime('not a time')).toBe('—')
  })
  it('dates', () => {
    expect(beijingDate('2025-12-31')).toBe('2025-12-31')
    expect(beijingDate('2025-12-31T17:00:00Z')).toBe('2026-01-01')
    expect(beijingToday(new Date('2025-06-30T20:00:00Z'))).toBe('2025-07-01')
  })
})

describe('days late and left', () => {
  it('in Chinese', () => {
    expect(lateText(zh, 0)).toBe('按时')
    expect(lateText(zh, 14)).toBe('逾期 14 天')
    expect(lateText(zh, null)).toBe('—')
    expect(daysLeftText(zh, 5)).toBe('剩 5 天')
    expect(daysLeftText(zh, 0)).toBe('今天到期')
    expect(daysLeftText(zh, -3)).toBe('逾期 3 天')
  })
  it('in English', () => {
    expect(lateText(en, 14)).toBe('14 days late')
    expect(lateText(en, 0)).toBe('On time')
    expect(daysLeftText(en, -3)).toBe('3 days overdue')
  })
  it('timeliness statuses', () => {
    expect(timelinessText(zh, 'overdue')).toBe('超期未报')
    expect(timelinessText(zh, 'late', 45)).toBe('逾期 45 天')
    expect(timelinessText(zh, 'on_time')).toBe('按时')
    expect(timelinessText(en, 'returned')).toBe('Returned')
    expect(timelinessText(zh, 'not_enrolled')).toBe('未接入')
    expect(timelinessText(en, 'not_enrolled')).toBe('Not enrolled')
  })
})

describe('coded values', () => {
  it('as words', () => {
    expect(codeText(zh, 'kind', 'women')).toBe('妇女')
    expect(codeText(zh, 'kind', 'children')).toBe('儿童')
    expect(codeText(zh, 'outcome', 'accepted')).toBe('已接收')
    expect(codeText(zh, 'outcome', 'returned')).toBe('已退回')
    expect(codeText(zh, 'level', 'city')).toBe('市级')
    expect(codeText(zh, 'role', 'member_unit')).toBe('成员单位')
    expect(codeText(zh, 'steps', 'expert_review')).toBe('专家论证')
    expect(codeText(en, 'level', 'county')).toBe('County')
    expect(codeText(zh, 'level', 'national')).toBe('国家级')
    expect(codeText(en, 'level', 'national')).toBe('National')
  })
  it('unknown codes as they are', () => {
    expect(codeText(zh, 'kind', 'elders')).toBe('elders')
    expect(codeText(zh, 'kind', null)).toBe('—')
  })
})

describe('numbers', () => {
  it('rounds for reading', () => {
    expect(formatNumber(85.2999999)).toBe('85.3')
    expect(formatNumber(1234567.891)).toBe('1,234,567.89')
    expect(formatNumber(-0.5)).toBe('-0.5')
    expect(formatNumber(12)).toBe('12')
    expect(formatNumber(null)).toBe('—')
  })
  it('units and percentages', () => {
    expect(formatValue(95, '%')).toBe('95%')
    expect(formatValue(7.456, '‰')).toBe('7.46 ‰')
    expect(formatPercent(0.8534)).toBe('85.3%')
    expect(formatPercent(1)).toBe('100%')
    expect(targetText({ comparator: '>=', target: 95, unit: '%' })).toBe('≥ 95%')
    expect(prettyTarget('<= 12 ‰')).toBe('≤ 12 ‰')
    expect(prettyTarget('>= 95 %')).toBe('≥ 95%')
  })
  it('ratio of numerator and denominator (with the server\'s unit table)', () => {
    setUnitTable({ units: [{ name: '%', scale: 100, low: 0, high: 100 }, { name: '‰', scale: 1000, low: 0, high: null }, { name: '1/10万', scale: 100000, low: 0, high: null }], aliases: { '/10万': '1/10万' } })
    expect(ratio(45, 50, '%')).toBe(90)
    expect(ratio(3, 1000, '‰')).toBeCloseTo(3)
    expect(ratio(1, 0, '%')).toBeNull()
    expect(ratio(3, 40000, '/10万')).toBeCloseTo(7.5)
  })
})

describe('oversight words', () => {
  it('filings as words', () => {
    expect(filingText(zh, 'report.women.2024')).toBe('2024年度妇女规划实施情况报告')
    expect(filingText(zh, 'report.children.2021')).toBe('2021年度儿童规划实施情况报告')
    expect(filingText(zh, 'plan.women')).toBe('妇女规划备案')
    expect(filingText(en, 'plan.children')).toBe('Children plan filing')
    expect(filingText(en, 'report.women.2024')).toBe('2024 annual report, Women plan')
    expect(filingText(zh, 'something.else')).toBe('something.else')
    expect(filingText(zh, null)).toBe('—')
  })
  it('status tags, the most urgent the darkest', () => {
    expect(statusTag('overdue')).toEqual({ type: 'danger', effect: 'dark' })
    expect(statusTag('returned').type).toBe('danger')
    expect(statusTag('late').type).toBe('warning')
    expect(statusTag('on_time').type).toBe('success')
    expect(statusTag('pending').type).toBe('info')
    expect(statusTag('not_enrolled').type).toBe('danger')
  })
  it('rates never above 100%', () => {
    expect(ratePercent(0.8534)).toBe('85.3%')
    expect(ratePercent(1.2)).toBe('100%')
    expect(ratePercent(null)).toBe('—')
  })
  it('ages', () => {
    expect(ageText(zh, 30)).toBe('30 秒')
    expect(ageText(zh, 600)).toBe('10 分钟')
    expect(ageText(zh, 7200)).toBe('2 小时')
    expect(ageText(zh, 86400 * 2 + 3600 * 5)).toBe('2 天 5 小时')
    expect(ageText(zh, 86400 * 3)).toBe('3 天')
    expect(ageText(en, 86400 + 3600)).toBe('1 d 1 h')
    expect(ageText(zh, null)).toBe('—')
  })
  it('missing is 未报, never zero', () => {
    expect(valueOrMissing(zh, null, '%')).toBe('未报')
    expect(valueOrMissing(zh, 0, '%')).toBe('0%')
    expect(valueOrMissing(en, undefined)).toBe('Not reported')
  })
})
