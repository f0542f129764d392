import { defineStore } from 'pinia'
import { api, ok } from '@/api/client'
import type { Overview } from '@/api/oversight'
import type { Office } from '@/oversight'
import { useSession } from './session'

// The offices of the subtree (names, levels, parents) for the oversight pages, from the
// overview's tree (the node has no lighter directory of its subtree); loaded once.
export const useOffices = defineStore('offices', {
  state: () => ({
    list: [] as Office[],
    loaded: false,
    loading: null as Promise<void> | null,
  }),
  getters: {
    byCode(s): Map<string, Office> {
      return new Map(s.list.map((o) => [o.code, o]))
    },
  },
  actions: {
    /** Take the tree of an overview already fetched (with this node as its root). */
    take(o: Overview) {
      const session = useSession()
      const self = session.node
      const root: Office[] = self ? [{ code: self.code, name: self.name, level: self.level ?? '', parent: null }] : []
      this.list = [...root, ...o.tree.map((t) => ({ code: t.code, name: t.name, level: t.level, parent: t.parent, status: t.status, counts: { ...t.counts } }))]
      this.loaded = true
    },
    async load(): Promise<void> {
      if (this.loaded) return
      if (!this.loading) {
        this.loading = ok(api.GET('/api/v1/oversight/overview'))
          .then((o) => this.take(o))
          .finally(() => { this.loading = null })
      }
      return this.loading
    },
    name(code: string): string {
      return this.byCode.get(code)?.name ?? code
    },
  },
})
