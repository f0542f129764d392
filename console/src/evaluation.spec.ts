import { describe, expect, it } from 'vitest'
import { makeI18n } from './i18n'
import { codeText, filingText, type Translate } from './format'

const zh = makeI18n('zh-CN').global.t as unknown as Translate
const en = makeI18n('en').global.t as unknown as Translate

describe('evaluations as words', () => {
  it('names an evaluation filing of the audit by kind and stage', () => {
    expect(filingText(zh, 'evaluation.women.2025')).toBe('妇女规划中期评估报告')
    expect(filingText(zh, 'evaluation.children.2030')).toBe('儿童规划终期评估报告')
    expect(filingText(en, 'evaluation.women.2025')).toBe('Women plan mid-term evaluation')
    expect(filingText(zh, 'evaluation.women.2027')).toBe('evaluation.women.2027')
  })
  it('renders every category in Chinese', () => {
    const cats = ['ahead', 'on_track', 'at_risk', 'met', 'missed', 'no_data']
    expect(cats.map((c) => codeText(zh, 'evaluationCategory', c))).toEqual(
      ['提前达标', '预计可达标', '达标困难', '已达标', '未达标', '无数据'])
  })
})
