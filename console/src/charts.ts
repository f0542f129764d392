// The ECharts options of the oversight pages, as pure functions (no ECharts import here, so
// the specs and the first page never load it). `describeSeries` is what a chart shows, set as
// `data-series` on its container for the Playwright suite: names and point counts, not pixels.

/** A missing value is a gap (null), never zero. */
export type Maybe = number | null | undefined

export interface ChartSeries {
  name: string
  type: 'line' | 'bar'
  data: (number | null)[]
  [k: string]: unknown
}

export interface ChartOption {
  series: ChartSeries[]
  xAxis: { type: 'category'; data: string[]; [k: string]: unknown }
  [k: string]: unknown
}

const round = (v: Maybe): number | null =>
  v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 100) / 100

/** The value axis reaches the target too (ECharts scales it to the data only). */
function valueAxis(unit: string | null | undefined, target: Maybe, scale: boolean) {
  const t = target === null || target === undefined || !Number.isFinite(target) ? null : target
  return {
    type: 'value',
    name: unit ?? '',
    scale,
    ...(t === null ? {} : {
      min: (e: { min: number }) => (scale ? Math.min(e.min, t) : Math.min(0, e.min, t)),
      max: (e: { max: number }) => Math.max(e.max, t),
    }),
  }
}

function targetLine(target: Maybe, label: string) {
  if (target === null || target === undefined || !Number.isFinite(target)) return undefined
  return {
    symbol: 'none',
    silent: true,
    lineStyle: { color: '#2b6cb0', type: 'dashed' },
    label: { formatter: `${label} ${round(target)}`, position: 'insideEndTop' },
    data: [{ yAxis: target, name: label }],
  }
}

export interface TrendInput {
  /** the series' name (the indicator) */
  name: string
  unit?: string | null
  /** (year, value) — a year without a value is a gap */
  points: { year: number; value: Maybe }[]
  target?: Maybe
  /** the label of the target line (目标) */
  targetLabel: string
  /** every year of the axis (default: the years of the points); a year with no point is a gap */
  years?: number[]
}

/** An indicator over the years against its target: one line, a dashed markLine at the target. */
export function trendOption(i: TrendInput): ChartOption {
  const years = i.years ?? [...new Set(i.points.map((p) => p.year))].sort((a, b) => a - b)
  const byYear = new Map(i.points.map((p) => [p.year, round(p.value)]))
  return {
    tooltip: { trigger: 'axis' },
    legend: { show: false },
    grid: { left: 56, right: 32, top: 28, bottom: 32 },
    xAxis: { type: 'category', data: years.map(String) },
    yAxis: valueAxis(i.unit, i.target, true),
    series: [{
      name: i.name,
      type: 'line',
      connectNulls: false,
      symbolSize: 7,
      data: years.map((y) => byYear.get(y) ?? null),
      itemStyle: { color: '#c2416d' },
      markLine: targetLine(i.target, i.targetLabel),
    }],
  }
}

export interface BarsInput {
  name: string
  unit?: string | null
  /** one bar per office; a missing value is a gap, not a zero bar */
  bars: { name: string; value: Maybe }[]
  target?: Maybe
  targetLabel: string
}

/** The children side by side in one year: one bar each, missing children as gaps. */
export function childrenOption(i: BarsInput): ChartOption {
  return {
    tooltip: { trigger: 'axis' },
    legend: { show: false },
    grid: { left: 56, right: 32, top: 28, bottom: i.bars.length > 6 ? 72 : 40 },
    xAxis: {
      type: 'category',
      data: i.bars.map((b) => b.name),
      axisLabel: { interval: 0, rotate: i.bars.length > 6 ? 35 : 0 },
    },
    yAxis: valueAxis(i.unit, i.target, false),
    series: [{
      name: i.name,
      type: 'bar',
      data: i.bars.map((b) => round(b.value)),
      itemStyle: { color: '#c2416d' },
      markLine: targetLine(i.target, i.targetLabel),
    }],
  }
}

/** What a chart shows: each series' name, its drawn points (non-null) and its gaps. */
export function describeSeries(o: { series: { name: string; data: (number | null | undefined)[] }[] }): { name: string; points: number; gaps: number }[] {
  return o.series.map((s) => {
    const points = s.data.filter((v) => v !== null && v !== undefined).length
    return { name: s.name, points, gaps: s.data.length - points }
  })
}
