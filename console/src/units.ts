// The unit table is the server's (GET /api/v1/units, node/plans/units.py, the one place):
// loaded once per page load; a ratio is scaled into its unit with it. Until it has loaded,
// every scale is 1 (the pages that show rates await loadUnits() first).
import { shallowRef } from 'vue'
import { api, ok, type Schemas } from '@/api/client'

const table = shallowRef<{ scales: Map<string, number>; aliases: Record<string, string> }>({
  scales: new Map(), aliases: {},
})
let loading: Promise<void> | null = null

/** Use this unit table (what GET /api/v1/units answers). */
export function setUnitTable(t: Schemas['UnitTable']): void {
  table.value = { scales: new Map(t.units.map((u) => [u.name, u.scale])), aliases: t.aliases }
}

/** Load the server's unit table (once). */
export function loadUnits(): Promise<void> {
  loading ??= ok(api.GET('/api/v1/units')).then(setUnitTable).catch(() => {
    loading = null // try again next time
  })
  return loading
}

/** The canonical spelling: full-width → half-width, spaces removed, the server's aliases. */
export function normaliseUnit(unit: string | null | undefined): string {
  const u = (unit ?? '').normalize('NFKC').replace(/ /g, '').trim()
  return table.value.aliases[u] ?? u
}

/** numerator / denominator × scale = the value in this unit (reactive: charts and tables
 *  recompute once the table has loaded). */
export function scaleOf(unit: string | null | undefined): number {
  return table.value.scales.get(normaliseUnit(unit)) ?? 1
}
