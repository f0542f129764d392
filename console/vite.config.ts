import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { fileURLToPath, URL } from 'node:url'

export default defineConfig({
  base: '/',
  plugins: [
    vue(),
    // Element Plus on demand: only the components (and their CSS) a page uses are bundled.
    // Functions (ElMessage, ElMessageBox) are imported by hand, with their CSS.
    Components({ resolvers: [ElementPlusResolver({ importStyle: 'css' })], dts: false }),
  ],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8000',
      '/sync': 'http://127.0.0.1:8000',
      '/docs': 'http://127.0.0.1:8000',
      '/openapi.json': 'http://127.0.0.1:8000',
    },
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2020',
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      output: {
        // ECharts (+ zrender) in one chunk named for what it is, loaded only by
        // the lazily loaded chart components
        manualChunks(id) {
          return /node_modules\/(echarts|zrender)\//.test(id) ? 'echarts' : undefined
        },
      },
    },
  },
})
