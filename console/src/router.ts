import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useSession } from './stores/session'

// Every page is its own chunk: the first page loads only what it shows.
const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true } },
  {
    path: '/',
    component: () => import('./components/AppShell.vue'),
    children: [
      { path: '', name: 'todo', component: () => import('./pages/TodoPage.vue') },
      { path: 'plans', name: 'plans', component: () => import('./pages/PlansPage.vue') },
      { path: 'plans/:id', name: 'plan', component: () => import('./pages/PlanPage.vue'), props: true },
      { path: 'frameworks', name: 'frameworks', component: () => import('./pages/FrameworksPage.vue') },
      { path: 'filings/sent', name: 'filings-sent', component: () => import('./pages/FilingsSentPage.vue') },
      { path: 'filings/children', name: 'filings-children', component: () => import('./pages/FilingsChildrenPage.vue') },
      { path: 'reports', name: 'reports-home', redirect: () => `/reports/women/${defaultReportYear()}` },
      { path: 'reports/:kind/:year', name: 'report', component: () => import('./pages/ReportPage.vue'), props: true },
      { path: 'children', name: 'children', component: () => import('./pages/ChildrenPage.vue') },
      // 成员单位报告 (per plan kind and year) and a plan's 任务分解表
      { path: 'unit-reports', name: 'unit-reports-home', redirect: () => `/unit-reports/women/${defaultReportYear()}` },
      { path: 'unit-reports/:kind/:year', name: 'unit-reports', component: () => import('./pages/UnitReportsPage.vue'), props: true },
      { path: 'tasks', name: 'tasks-home', redirect: '/tasks/women' },
      { path: 'tasks/:kind', name: 'tasks', component: () => import('./pages/TasksPage.vue'), props: true },
      // 中期/终期评估 (per plan kind and stage: 2025, 2030)
      { path: 'evaluation', name: 'evaluation-home', redirect: '/evaluation/women/2025' },
      { path: 'evaluation/:kind/:stage', name: 'evaluation', component: () => import('./pages/EvaluationPage.vue'), props: true },
      { path: 'admin', name: 'admin', component: () => import('./pages/AdminPage.vue') },
      // 督查评估 (a city or province): the subtree at a glance, audit, figures, warnings, sync
      { path: 'overview', name: 'overview', component: () => import('./pages/OverviewPage.vue') },
      { path: 'audit', name: 'audit', component: () => import('./pages/AuditPage.vue') },
      { path: 'aggregates', name: 'aggregates', component: () => import('./pages/AggregatesPage.vue') },
      { path: 'warnings', name: 'warnings', component: () => import('./pages/WarningsPage.vue') },
      { path: 'sync', name: 'sync', component: () => import('./pages/SyncPage.vue') },
    ],
  },
  { path: '/:rest(.*)*', redirect: '/' },
]

/** The year being reported: last year (reports fall due in the year after), within 2021–2030. */
export function defaultReportYear(now: Date = new Date()): number {
  const y = new Date(now.getTime() + 8 * 3600 * 1000).getUTCFullYear() - 1
  return Math.min(2030, Math.max(2021, y))
}

export const router = createRouter({ history: createWebHistory('/'), routes })

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const session = useSession()
  if (!session.signedIn) {
    let signedIn = false
    try {
      signedIn = await session.load()
    } catch {
      signedIn = false
    }
    if (!signedIn) return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
  }
  return true
})
