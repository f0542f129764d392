import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'
import { setUnauthorizedHandler } from './api/client'
import { useSession } from './stores/session'
import './style.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia).use(i18n).use(router)

setUnauthorizedHandler(() => {
  useSession(pinia).clear()
  const here = router.currentRoute.value
  if (here.name !== 'login') {
    void router.replace({ name: 'login', query: { next: here.fullPath } })
  }
})

document.documentElement.lang = i18n.global.locale.value
app.mount('#app')
