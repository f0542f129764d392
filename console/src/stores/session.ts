import { defineStore } from 'pinia'
import { api, ApiError, ok } from '@/api/client'
import { contract, type Me, type NodeInfo } from '@/api/contract'
import { permissionsOf } from '@/permissions'

export const useSession = defineStore('session', {
  state: () => ({
    me: null as Me | null,
    node: null as NodeInfo | null,
    permissions: [] as string[],
    loaded: false,
  }),
  getters: {
    signedIn: (s) => s.me !== null,
    isCounty: (s) => s.node?.level === 'county',
  },
  actions: {
    can(perm: string): boolean {
      return this.permissions.includes(perm)
    },
    /** Who is signed in (false when nobody: 401). */
    async load(): Promise<boolean> {
      try {
        const me = await contract.me()
        this.me = me
        this.permissions = permissionsOf(me.role, me.permissions)
        this.node = me.node ?? this.node ?? (await this.identity())
        this.loaded = true
        return true
      } catch (e) {
        this.loaded = true
        if (e instanceof ApiError && e.status === 401) {
          this.clear()
          return false
        }
        throw e
      }
    },
    async identity(): Promise<NodeInfo | null> {
      try {
        const id = await ok(api.GET('/sync/v1/identity'))
        return { code: id.code, name: id.name, level: id.level, parent: null }
      } catch {
        return null
      }
    },
    async login(name: string, password: string): Promise<void> {
      const ans = await contract.login(name, password)
      this.node = ans.node
      await this.load()
    },
    async logout(): Promise<void> {
      try {
        await contract.logout()
      } finally {
        this.clear()
      }
    },
    clear() {
      this.me = null
      this.permissions = []
    },
  },
})
