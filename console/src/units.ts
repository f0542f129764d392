// node/plans/units.py: units are compared after normalisation (full-width → half-width,
// spaces removed, aliases), and a ratio is scaled into its unit.
const SCALE: Record<string, number> = {
  '%': 100, '‰': 1000, '1/10万': 100000, '1/万': 10000, '名/千名儿童': 1000, '张/千名儿童': 1000,
  '名/万人': 10000, '张/万人': 10000,
}
const ALIASES: Record<string, string> = {
  '/10万': '1/10万', '/十万': '1/10万', '1/十万': '1/10万', '1/100000': '1/10万', '/100000': '1/10万',
  '/万': '1/万', '1/10000': '1/万', '/千': '‰', '1/千': '‰', '1/1000': '‰', '/1000': '‰',
  百分比: '%', 百分点: '%', 'm²': '平方米', '㎡': '平方米', 周岁: '岁',
}

export function normaliseUnit(unit: string | null | undefined): string {
  const u = (unit ?? '').normalize('NFKC').replace(/ /g, '').trim()
  return ALIASES[u] ?? u
}

export function scaleOf(unit: string | null | undefined): number {
  return SCALE[normaliseUnit(unit)] ?? 1
}
