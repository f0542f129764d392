import { ElMessage } from 'element-plus'
import 'element-plus/es/components/message/style/css'
import { ApiError } from './client'

/** Show an error in an ElMessage: the server's message as-is. */
export function showError(e: unknown): void {
  const message = e instanceof ApiError || e instanceof Error ? e.message : String(e)
  ElMessage({ type: 'error', message, showClose: true, duration: 6000 })
}

export function showOk(message: string): void {
  ElMessage({ type: 'success', message })
}

/** Run an action; show its error (and return undefined) if it fails. */
export async function attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn()
  } catch (e) {
    showError(e)
    return undefined
  }
}
