// Who may do what (node/auth/service.py ROLE_PERMS): used only when the server's /me does not
// list the permissions itself. The server enforces; the console hides what would be refused.
export const PERMS = [
  'read', 'users.manage', 'children.manage', 'keys.manage', 'plans.edit', 'plans.approve',
  'plans.comment', 'filings.review', 'reports.enter', 'audit.read',
] as const
export type Perm = (typeof PERMS)[number]

export const ROLE_PERMS: Record<string, readonly string[]> = {
  admin: PERMS,
  editor: ['read', 'plans.edit', 'plans.comment', 'reports.enter'],
  reviewer: ['read', 'plans.approve', 'plans.comment', 'filings.review'],
  member_unit: ['read', 'plans.comment', 'reports.enter'],
  auditor: ['read', 'audit.read'],
  viewer: ['read'],
}

export function permissionsOf(role: string, listed?: string[] | null): string[] {
  return listed ? [...listed] : [...(ROLE_PERMS[role] ?? [])]
}
